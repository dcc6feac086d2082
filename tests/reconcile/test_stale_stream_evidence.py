"""A stream view older than a cancel proves nothing about what happened after it.

Regression for the 10,000-command campaign (issue 13): a cancel whose answer was lost was
resolved ABSENT ("target order still open after the grace window") from the target's NEW stream
update, seen *before* the cancel was sent, once the grace window had passed; the CANCELED update
had been lost in a stream gap and the venue showed the order CANCELED. The grace rule needs a
view taken after the grace window: only a read gives one.
"""

from __future__ import annotations

import time

from gateway.model import OrderReport, OrderState, ReconcileTrigger
from reconcile import Reconciler
from tests.reconcile.conftest import VENUES, NullStream, RecordingSink, wait_until
from tests.reconcile.test_cancel_evidence import cancel_of, name, place, policy  # noqa: F401 (fixture)
from venues.sim import SimExchange


async def test_an_old_stream_view_of_an_open_target_does_not_prove_a_cancel_absent(
    sim: SimExchange,
    name: str,  # noqa: F811 (the fixture)
) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    grace = 0.2
    rec = Reconciler({name: venue}, policy(grace_seconds=grace), sink)
    order_id = place(sim, "cx-open", name)
    rec.observe(  # the stream's last word on the target, before the cancel is sent
        OrderReport(
            venue=name, instrument="BTC/USDT:USDT", order_id=order_id, client_order_id="cx-open",
            state=OrderState.NEW, updated_at_ms=int(time.time() * 1000),
        )
    )  # fmt: skip
    command = cancel_of("cx-open", "cancel-lost", name)
    rec.track(command, ReconcileTrigger.UNKNOWN_EXECUTION)
    sim.venues[name].engine.cancel(sim.api_key, "BTCUSDT", order_id=order_id)  # its CANCELED update is lost
    sent = time.time()
    await wait_until(lambda: time.time() > sent + grace * 1.5)
    await rec.reconcile()
    assert sink.outcomes("cancel-lost") == ["SYNCHRONIZED"], [r.reason for r in sink.completed]
    await venue.close()


async def test_a_read_after_the_grace_window_still_proves_an_open_target_absent(
    sim: SimExchange,
    name: str,  # noqa: F811 (the fixture)
) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    grace = 0.2
    rec = Reconciler({name: venue}, policy(grace_seconds=grace), sink)
    order_id = place(sim, "cx-rest", name)
    rec.observe(
        OrderReport(
            venue=name, instrument="BTC/USDT:USDT", order_id=order_id, client_order_id="cx-rest",
            state=OrderState.NEW, updated_at_ms=int(time.time() * 1000),
        )
    )  # fmt: skip
    rec.track(cancel_of("cx-rest", "cancel-void", name), ReconcileTrigger.UNKNOWN_EXECUTION)
    sent = time.time()
    await wait_until(lambda: time.time() > sent + grace * 1.5)
    await rec.reconcile()
    assert sink.outcomes("cancel-void") == ["ABSENT"]
    assert "still open after the grace window" in next(r.reason for r in sink.completed)
    await venue.close()
