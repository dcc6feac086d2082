"""Proof rules against the real simulator's reads, with the user stream switched off.

The reconciler is driven directly (no background loop) so each pass is explicit and the
venue reads it costs can be counted on the simulator's request log.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from gateway.model import (
    CancelRequest,
    CommandOperation,
    EvidenceSource,
    OrderState,
    ReconcileOutcome,
    ReconcileTrigger,
)
from reconcile import ReconcilePolicy, Reconciler
from tests.reconcile.conftest import VENUES, NullStream, RecordingSink, pending, wait_until
from venues.sim import Fault, FaultKind, SimExchange

INSTRUMENTS = {
    "BTC/USDT:USDT": ("BTCUSDT", Decimal("0.001"), Decimal("40000")),
    "ETH/USDT:USDT": ("ETHUSDT", Decimal("0.01"), Decimal("2500")),
    "SOL/USDT:USDT": ("SOLUSDT", Decimal("1"), Decimal("120")),
    "XRP/USDT:USDT": ("XRPUSDT", Decimal("10"), Decimal("0.5")),
}


# The venues' batch reads (open orders, history), as the simulator logs them.
BATCH_PATHS = {
    "binance": {"/fapi/v1/openOrders", "/fapi/v1/allOrders", "/fapi/v1/userTrades"},
    "bybit": {"/v5/order/realtime", "/v5/order/history", "/v5/execution/list"},
}


@pytest.fixture(params=["binance", "bybit"])
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def past_grace(*commands: object, grace: float = 0.001) -> None:
    """Wait (by polling the clock, not sleeping blindly) until every command's grace window is over."""
    latest = max(c.sent_at.timestamp() for c in commands)  # type: ignore[attr-defined]
    await wait_until(lambda: time.time() > latest + grace)


def place(sim: SimExchange, cid: str, instrument: str = "BTC/USDT:USDT", venue: str = "binance") -> str:
    native, qty, price = INSTRUMENTS[instrument]
    order = sim.venues[venue].engine.place(
        sim.api_key, symbol=native, side="BUY", type="LIMIT", qty=qty, price=price, client_order_id=cid
    )
    return order.order_id


async def test_found_on_the_first_read_is_synchronized(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, ReconcilePolicy(grace_seconds=30, deadline_seconds=60), sink)
    order_id = place(sim, "found-1", venue=name)
    rec.track(pending("found-1", venue=name), trigger=ReconcileTrigger.UNKNOWN_EXECUTION)
    await rec.reconcile()
    assert sink.outcomes("found-1") == ["SYNCHRONIZED"]
    report = sink.completed[0]
    assert report.order is not None and report.order.order_id == order_id
    assert report.order.state is OrderState.NEW
    assert not rec.is_tracking("found-1")
    await venue.close()


async def test_absence_needs_two_reads_and_the_grace_window(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, ReconcilePolicy(grace_seconds=0.3, deadline_seconds=30), sink)
    command = pending("never-1", recv_window_ms=200, venue=name)
    rec.track(command, ReconcileTrigger.UNKNOWN_EXECUTION)
    interim = await rec.reconcile()
    assert [r.outcome for r in interim] == [ReconcileOutcome.STILL_UNCERTAIN]
    assert sink.completed == []  # an interim verdict is never emitted
    await wait_until(lambda: (command.sent_at.timestamp() + 0.3) < time.time())
    await rec.reconcile()
    assert sink.outcomes("never-1") == ["ABSENT"]
    assert "not found in" in sink.completed[-1].reason
    await venue.close()


async def test_delayed_visibility_within_grace_ends_synchronized_never_absent(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler(
        {name: venue}, ReconcilePolicy(grace_seconds=1.5, deadline_seconds=10, interval_seconds=0.05), sink
    )
    place(sim, "late-1", venue=name)
    sim.venues[name].engine.hide_for(sim.truth.order("late-1"), 0.6)  # type: ignore[arg-type]
    rec.track(pending("late-1", recv_window_ms=200, venue=name), ReconcileTrigger.UNKNOWN_EXECUTION)
    await rec.start()
    await wait_until(lambda: sink.completed, timeout=10)
    await rec.close()
    assert sink.outcomes("late-1") == ["SYNCHRONIZED"]
    await venue.close()


async def test_unreachable_reads_give_still_uncertain_then_proof(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler(
        {name: venue},
        ReconcilePolicy(grace_seconds=0.2, deadline_seconds=0.5, interval_seconds=0.05, read_attempts=2),
        sink,
    )
    place(sim, "dark-1", venue=name)
    sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, venue=name, operation="query", times=100_000, status=503))
    rec.track(pending("dark-1", recv_window_ms=200, venue=name), ReconcileTrigger.UNKNOWN_EXECUTION)
    await rec.start()
    await wait_until(lambda: sink.completed, timeout=10)
    first = sink.completed[0]
    assert first.outcome is ReconcileOutcome.STILL_UNCERTAIN
    assert "unreachable" in first.reason or "read failed" in first.reason
    assert rec.is_tracking("dark-1")
    sim.faults.clear()  # the venue comes back
    await wait_until(lambda: len(sink.completed) >= 2, timeout=10)
    await rec.close()
    assert sink.outcomes("dark-1") == ["STILL_UNCERTAIN", "SYNCHRONIZED"]
    assert [t for c, t in sink.scheduled if c == "dark-1"] == [
        ReconcileTrigger.UNKNOWN_EXECUTION,
        ReconcileTrigger.PERIODIC,
    ]
    await venue.close()


async def test_cancel_rules(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, ReconcilePolicy(grace_seconds=0.2, deadline_seconds=30), sink)
    engine = sim.venues[name].engine
    cancelled, resting, filled = (place(sim, cid, venue=name) for cid in ("cx-a", "cx-b", "cx-c"))
    sent: dict[str, float] = {}
    for cid in ("cx-a", "cx-b", "cx-c"):
        command = pending(cid, recv_window_ms=200, venue=name)
        sent[cid] = command.sent_at.timestamp()  # where the reconciler's grace window starts
        command.command_id = f"cancel-{cid}"
        command.operation = CommandOperation.CANCEL_ORDER
        command.request = CancelRequest(venue=name, instrument="BTC/USDT:USDT", client_order_id=cid)
        rec.track(command, ReconcileTrigger.UNKNOWN_EXECUTION)
    # The venue acts after the cancels were sent (an order canceled *before* a cancel was sent
    # does not prove that cancel: tests/reconcile/test_cancel_evidence.py).
    engine.cancel(sim.api_key, "BTCUSDT", order_id=cancelled)
    engine.fill(filled, Decimal("0.001"))
    await rec.reconcile()
    assert sink.outcomes("cancel-cx-a") == ["SYNCHRONIZED"]  # target CANCELED: the cancel executed
    assert sink.outcomes("cancel-cx-c") == ["ABSENT"]  # target FILLED: the cancel cannot have executed
    assert sink.outcomes("cancel-cx-b") == []  # still open inside the grace window: nothing proven yet
    await wait_until(lambda: time.time() > sent["cx-b"] + 0.2)
    await rec.reconcile()
    assert sink.outcomes("cancel-cx-b") == ["ABSENT"]  # still open after grace: the cancel did not execute
    assert resting
    await venue.close()


async def test_batching_reads_grow_with_instruments_not_commands(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, request_timeout=5.0)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, ReconcilePolicy(grace_seconds=0.0, deadline_seconds=30), sink)
    commands = []
    for i in range(200):
        instrument = list(INSTRUMENTS)[i % 4]
        cid = f"batch-{i}"
        if i % 2 == 0:
            place(sim, cid, instrument, venue=name)  # half landed, half never did
        commands.append(pending(cid, instrument, recv_window_ms=1, venue=name))
    since = sim.venues[name].requests[-1].time_ms + 1 if sim.venues[name].requests else 0
    for command in commands:
        rec.track(command, ReconcileTrigger.UNKNOWN_EXECUTION)
    await past_grace(*commands)
    for _ in range(2):
        await rec.reconcile()
    reads = sim.venues[name].reads(since)
    print(f"200 unknowns over 4 instruments settled with {len(reads)} venue reads")
    assert sorted(set(sink.outcomes(c.command_id)[0] for c in commands)) == ["ABSENT", "SYNCHRONIZED"]
    landed = {c.command_id for c in commands if sim.truth.order(c.command_id, name) is not None}
    for report in sink.completed:
        assert (report.outcome is ReconcileOutcome.SYNCHRONIZED) == (report.command_id in landed)
    # two passes x four instruments x (open orders + history, + trades on the pass that proves
    # absence) = at most 24, nothing per command; a read retried under load adds one read.
    assert len(reads) <= 2 * 4 * 3 + 4
    assert {r.path for r in reads} <= BATCH_PATHS[name]
    await venue.close()


async def test_an_order_seen_after_absent_raises_diverged(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, ReconcilePolicy(grace_seconds=0.0, deadline_seconds=30), sink)
    ghost = pending("ghost-1", recv_window_ms=1, venue=name)
    rec.track(ghost, ReconcileTrigger.UNKNOWN_EXECUTION)
    await past_grace(ghost)
    for _ in range(2):
        await rec.reconcile()
    assert sink.outcomes("ghost-1") == ["ABSENT"]
    assert rec.wants(name, "ghost-1") and not rec.wants(name, "other-1")  # streams keep reporting it
    # The venue later shows the order after all: the stream's sighting must raise the alarm.
    place(sim, "ghost-1", venue=name)
    seen = await venue.query_order("BTC/USDT:USDT", client_order_id="ghost-1")
    assert seen is not None
    rec.observe(seen)
    assert sink.outcomes("ghost-1") == ["ABSENT", "DIVERGED"]
    assert sink.completed[-1].order is not None and sink.completed[-1].order.order_id == seen.order_id
    await venue.close()


async def test_a_reused_client_id_from_before_the_send_is_not_evidence(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, ReconcilePolicy(grace_seconds=0.0, deadline_seconds=30, skew_seconds=5.0), sink)
    # Binance lets a client id be reused once its order is closed: an old, cancelled order holds it.
    old_id = place(sim, "reused-1", venue=name)
    sim.venues[name].engine.cancel(sim.api_key, "BTCUSDT", order_id=old_id)
    sim.venues[name].engine.orders[old_id].created_ms -= 60_000  # created a minute before our send
    reused = pending("reused-1", recv_window_ms=1, venue=name)
    rec.track(reused, ReconcileTrigger.UNKNOWN_EXECUTION)
    await past_grace(reused)
    for _ in range(2):
        await rec.reconcile()
    # The old order is not ours: the new send never landed.
    assert sink.outcomes("reused-1") == ["ABSENT"]
    await venue.close()


@pytest.mark.parametrize("by", ["client_order_id", "order_id"])
async def test_a_fill_in_the_trade_history_blocks_absent_while_history_lags(
    sim: SimExchange, name: str, by: str
) -> None:
    if name == "binance" and by == "client_order_id":
        pytest.skip("Binance trades carry no client order id: only a known order id can match them")
    venue = VENUES[name](sim, history_lag_seconds=0.0)
    await venue.start(NullStream())
    order_id = place(sim, "filled-1", venue=name)
    sim.venues[name].engine.fill(order_id, Decimal("0.001"))
    # History, open orders and queries lag behind the fill; once the fill has been read, the
    # venue answers a query by the order id it names.
    query, trades = venue.query_order, venue.trades
    fill_seen = False

    async def lagging_query(instrument: str, *, client_order_id: str | None = None, order_id: str | None = None):
        return await query(instrument, order_id=order_id) if fill_seen and order_id else None

    async def trades_read(*args: object) -> list[object]:
        nonlocal fill_seen
        fill_seen = True
        return await trades(*args)  # type: ignore[arg-type]

    async def nothing(*args: object) -> list[object]:
        return []

    venue.query_order = lagging_query  # type: ignore[method-assign]
    venue.trades = trades_read  # type: ignore[method-assign,assignment]
    venue.order_history = nothing  # type: ignore[method-assign,assignment]
    venue.open_orders = nothing  # type: ignore[method-assign,assignment]
    sink = RecordingSink()
    rec = Reconciler({name: venue}, ReconcilePolicy(grace_seconds=0.0, deadline_seconds=30), sink)
    command = pending("filled-1", recv_window_ms=1, venue=name)
    if by == "order_id":
        command.order_id = order_id
        command.client_order_id = None
    rec.track(command, ReconcileTrigger.UNKNOWN_EXECUTION)
    await past_grace(command)
    interim = [await rec.reconcile() for _ in range(3)]
    assert sink.outcomes("filled-1") == ["SYNCHRONIZED"], [r.reason for p in interim for r in p]
    report = sink.completed[-1]
    assert report.evidence is EvidenceSource.TRADES
    assert report.order is not None and report.order.state is OrderState.FILLED
    await venue.close()
