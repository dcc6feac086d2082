"""A cancel is judged by its own evidence: a target's CANCELED state proves *this* cancel only if
nothing else accounts for it (an earlier cancellation, a sibling cancel already credited, a sibling
the evidence cannot tell apart).

Regression for an outside campaign: a second cancel of an already-canceled order, whose -2011
answer was lost, resolved ACCEPTED "target order is CANCELED"; cancels the venue never processed
were credited with a sibling's cancel the same way.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from gateway import CancelRequest, CommandStatus, Gateway, OrderRequest, OrderType, Side, Transport
from gateway.model import CommandOperation, OrderReport, OrderState, ReconcileTrigger
from gateway.ports import PendingCommand
from reconcile import ReconcilePolicy, Reconciler
from tests.reconcile.conftest import VENUES, NullStream, RecordingSink, pending, wait_until
from venues.sim import Fault, FaultKind, SimExchange

TOLERANCE = 0.002  # the simulator shares our clock: only its millisecond resolution separates them


@pytest.fixture(params=["binance", "bybit"])
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def place(sim: SimExchange, cid: str, venue: str) -> str:
    order = sim.venues[venue].engine.place(
        sim.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", qty=Decimal("0.001"), price=Decimal("40000"),
        client_order_id=cid,
    )  # fmt: skip
    return order.order_id


def cancel_of(target_cid: str, command_id: str, venue: str) -> PendingCommand:
    command = pending(target_cid, recv_window_ms=200, venue=venue)
    command.command_id = command_id
    command.operation = CommandOperation.CANCEL_ORDER
    command.request = CancelRequest(venue=venue, instrument="BTC/USDT:USDT", client_order_id=target_cid)
    return command


def policy(**kw: float) -> ReconcilePolicy:
    params: dict[str, float] = dict(grace_seconds=0.2, deadline_seconds=30, clock_tolerance_seconds=TOLERANCE)
    params.update(kw)
    return ReconcilePolicy(**params)


def reason(sink: RecordingSink, command_id: str) -> str:
    return next(r.reason for r in reversed(sink.completed) if r.command_id == command_id)


async def test_target_canceled_before_the_cancel_was_sent_is_not_this_cancel(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, policy(), sink)
    engine = sim.venues[name].engine
    before, after = place(sim, "cx-before", name), place(sim, "cx-after", name)
    engine.cancel(sim.api_key, "BTCUSDT", order_id=before)
    canceled_at = time.time()
    await wait_until(lambda: time.time() > canceled_at + 5 * TOLERANCE)
    late = cancel_of("cx-before", "cancel-late", name)  # sent after the target was already canceled
    rec.track(late, ReconcileTrigger.UNKNOWN_EXECUTION)
    timely = cancel_of("cx-after", "cancel-timely", name)
    rec.track(timely, ReconcileTrigger.UNKNOWN_EXECUTION)
    engine.cancel(sim.api_key, "BTCUSDT", order_id=after)  # canceled after that cancel was sent
    await rec.reconcile()
    assert sink.outcomes("cancel-late") == ["ABSENT"]
    assert "before this cancel was sent" in reason(sink, "cancel-late")
    assert sink.outcomes("cancel-timely") == ["SYNCHRONIZED"]
    await venue.close()


async def test_a_sibling_already_credited_accounts_for_the_cancel(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, policy(), sink)
    oid = place(sim, "cx-t", name)
    first, second = cancel_of("cx-t", "cancel-1", name), cancel_of("cx-t", "cancel-2", name)
    rec.cancel_sent(first)
    rec.cancel_sent(second)
    sim.venues[name].engine.cancel(sim.api_key, "BTCUSDT", order_id=oid)
    rec.cancel_answered(first, CommandStatus.ACCEPTED)  # the venue said so: the first cancel did it
    rec.cancel_answered(second, CommandStatus.UNKNOWN_EXECUTION)
    rec.track(second, ReconcileTrigger.UNKNOWN_EXECUTION)
    await rec.reconcile()
    assert sink.outcomes("cancel-2") == ["ABSENT"]
    assert "another cancel (cancel-1)" in reason(sink, "cancel-2")
    await venue.close()


async def test_cancels_the_evidence_cannot_tell_apart_are_never_both_credited(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, policy(grace_seconds=0.05, deadline_seconds=0.05), sink)
    oid = place(sim, "cx-t", name)
    first, second = cancel_of("cx-t", "cancel-1", name), cancel_of("cx-t", "cancel-2", name)
    for command in (first, second):
        rec.cancel_sent(command)
    sim.venues[name].engine.cancel(sim.api_key, "BTCUSDT", order_id=oid)
    for command in (first, second):
        rec.cancel_answered(command, CommandStatus.UNKNOWN_EXECUTION)
        rec.track(command, ReconcileTrigger.UNKNOWN_EXECUTION)
    await rec.reconcile()
    assert sink.outcomes("cancel-1") == sink.outcomes("cancel-2") == []  # nothing credited
    await wait_until(lambda: time.time() > second.sent_at.timestamp() + 0.25)  # recvWindow 200 ms
    await rec.reconcile()  # past the deadline: honest uncertainty, with the reason
    assert sink.outcomes("cancel-1") == sink.outcomes("cancel-2") == ["STILL_UNCERTAIN"]
    assert "cancel-2" in reason(sink, "cancel-1") and "cannot tell them apart" in reason(sink, "cancel-1")
    assert rec.is_tracking("cancel-1") and rec.is_tracking("cancel-2")
    await venue.close()


async def test_a_sibling_in_flight_holds_the_verdict_until_its_answer(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim, history_lag_seconds=0.0, recv_window_ms=200)
    await venue.start(NullStream())
    sink = RecordingSink()
    rec = Reconciler({name: venue}, policy(), sink)
    oid = place(sim, "cx-t", name)
    unknown, in_flight = cancel_of("cx-t", "cancel-u", name), cancel_of("cx-t", "cancel-f", name)
    rec.cancel_sent(unknown)
    rec.cancel_sent(in_flight)
    sim.venues[name].engine.cancel(sim.api_key, "BTCUSDT", order_id=oid)
    rec.cancel_answered(unknown, CommandStatus.UNKNOWN_EXECUTION)
    rec.track(unknown, ReconcileTrigger.UNKNOWN_EXECUTION)
    await rec.reconcile()
    assert sink.outcomes("cancel-u") == []  # the other cancel may be the one that did it
    rec.cancel_answered(in_flight, CommandStatus.REJECTED)  # it was not
    await rec.reconcile()
    assert sink.outcomes("cancel-u") == ["SYNCHRONIZED"]
    await venue.close()


async def test_target_seen_closed_on_the_stream_before_the_send_is_not_this_cancel() -> None:
    # No venue read is needed: the stream showed the order CANCELED before the cancel left, which
    # no clock can contradict (the venue's timestamp here is within the clock tolerance).
    sink = RecordingSink()
    rec = Reconciler({}, ReconcilePolicy(grace_seconds=1, deadline_seconds=30), sink)
    rec.observe(
        OrderReport(
            venue="binance", instrument="BTC/USDT:USDT", order_id="7", client_order_id="cx-t",
            state=OrderState.CANCELED, updated_at_ms=int(time.time() * 1000),
        )
    )  # fmt: skip
    seen_at = time.time()
    await wait_until(lambda: time.time() > seen_at + 0.001)
    late = cancel_of("cx-t", "cancel-late", "binance")
    rec.track(late, ReconcileTrigger.UNKNOWN_EXECUTION)
    assert sink.outcomes("cancel-late") == ["ABSENT"]
    assert "already seen CANCELED" in reason(sink, "cancel-late")


def _order(cid: str, venue: str, transport: Transport) -> OrderRequest:
    return OrderRequest(
        venue=venue, instrument="BTC/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.001"),
        price=Decimal("40000"), client_order_id=cid, transport=transport,
    )  # fmt: skip


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
async def test_a_lost_second_cancel_of_a_canceled_order_is_rejected(
    sim: SimExchange, name: str, transport: Transport
) -> None:
    venue = VENUES[name](sim)
    grace = ReconcilePolicy(grace_seconds=0.3, deadline_seconds=20, interval_seconds=0.1)
    async with Gateway(venues=[venue], reconcile=grace) as gw:
        if transport is Transport.WEBSOCKET:
            await wait_until(lambda: venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET)
        cid = gw.new_client_order_id()
        created = await gw.submit(_order(cid, name, transport))
        assert created.ack.receipt.status is CommandStatus.ACCEPTED
        request = CancelRequest(venue=name, instrument="BTC/USDT:USDT", client_order_id=cid, transport=transport)
        first = await gw.cancel(request)
        assert (await first.resolved(timeout=10)).status is CommandStatus.ACCEPTED
        # The venue rejects the second cancel (the order is no longer open), but the answer is lost.
        sim.faults.add(Fault(FaultKind.ACCEPT_THEN_RESET, venue=name, operation="cancel", client_order_id=cid))
        second = await gw.cancel(request)
        assert second.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
        receipt = await second.resolved(timeout=15)
        assert receipt.status is CommandStatus.REJECTED, receipt
        cancels = [a for a in sim.truth.attempts(cid, name) if a.operation == "cancel"]
        assert [a.outcome.startswith("rejected") for a in cancels] == [False, True]


async def test_an_unprocessed_cancel_is_not_credited_with_a_siblings_cancel(sim: SimExchange, name: str) -> None:
    venue = VENUES[name](sim)
    grace = ReconcilePolicy(grace_seconds=0.3, deadline_seconds=20, interval_seconds=0.1)
    async with Gateway(venues=[venue], reconcile=grace) as gw:
        cid = gw.new_client_order_id()
        await gw.submit(_order(cid, name, Transport.REST))
        request = CancelRequest(venue=name, instrument="BTC/USDT:USDT", client_order_id=cid, transport=Transport.REST)
        # The venue fails before acting on the first cancel; the second one cancels the order.
        sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, venue=name, operation="cancel", client_order_id=cid))
        never = await gw.cancel(request)
        assert never.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
        done = await gw.cancel(request)
        assert done.ack.receipt.status is CommandStatus.ACCEPTED
        receipt = await never.resolved(timeout=15)
        assert receipt.status is CommandStatus.REJECTED, receipt
        assert receipt.safe_to_resubmit  # proved not to have taken effect (ABSENT)
        assert (await done.resolved(timeout=1)).status is CommandStatus.ACCEPTED
    cancels = [a for a in sim.truth.attempts(cid, name) if a.operation == "cancel"]
    assert [a.processed for a in cancels] == [False, True]
