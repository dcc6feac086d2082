"""The strict judge knows cancel-alls: each one, sent directly or by halt, against the venue's own record of it."""

from __future__ import annotations

from decimal import Decimal

from gateway import CommandStatus, Gateway, OrderRequest, OrderType, Side, Transport
from risk import PortfolioGate, RiskLimits
from tests.safety.conftest import BTC, ETH, VENUES, make_adapter
from tests.safety.test_cancel_all import POLICY
from venues.sim import Fault, SimExchange
from venues.sim.cancel_all_judge import CancelAllTruth
from venues.sim.faults import FaultKind
from venues.sim.judge import CampaignRecord
from venues.sim.switches import SwitchEvent


def request(venue: str, cid: str, instrument: str = BTC, *, market: bool = False) -> OrderRequest:
    return OrderRequest(
        venue=venue, instrument=instrument, side=Side.BUY, type=OrderType.MARKET if market else OrderType.LIMIT,
        quantity=Decimal("0.01"), price=None if market else Decimal("49000" if instrument == BTC else "2900"),
        client_order_id=cid, transport=Transport.REST,
    )  # fmt: skip


async def test_cancel_alls_and_a_flatten_through_faults_are_judged_correct(sim: SimExchange) -> None:
    adapters = [
        make_adapter(sim, name, request_timeout=1.0, recv_window_ms=500, history_lag_seconds=0.2) for name in VENUES
    ]
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("1000000")))
    record = CampaignRecord(sim)
    async with Gateway(venues=adapters, gate=gate, reconcile=POLICY) as gw:
        for venue in VENUES:
            await record.submit(gw.submit, request(venue, f"{venue}-m", market=True))
            await record.submit(gw.submit, request(venue, f"{venue}-1"))
            await record.submit(gw.submit, request(venue, f"{venue}-2", ETH))
        sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, venue="bybit", operation="cancel_all"))
        lost = await record.cancel_all(gw.cancel_all, "bybit", BTC)
        assert (await lost.resolved(timeout=15)).status is CommandStatus.REJECTED  # did nothing: may be resent
        sim.faults.add(Fault(FaultKind.ACCEPT_THEN_TIMEOUT, venue="binance", operation="cancel_all", delay_seconds=1.5))
        handles = await record.halt(gw.halt, "drill", cancel_open_orders=True, close_positions=True)
        for handle in handles:
            await handle.resolved(timeout=15)
        await record.settle(15)
        result = record.judge(await gate.snapshot())
    await record.close()
    assert result.ok, [f.line() for f in result.findings]
    assert result.counts["cancel_alls"] == 5 and result.counts["cancel_alls_correct"] == 5
    assert result.counts["creates"] == 8  # six placed, two flattening orders


def event(processed: bool, canceled: tuple[str, ...] = ()) -> SwitchEvent:
    return SwitchEvent("cancel_all", "acct", "BTCUSDT", processed, canceled)


def test_what_each_answer_must_match() -> None:
    did = CancelAllTruth({"BTCUSDT": [event(True, ("1", "2"))]})
    assert did.agrees(CommandStatus.ACCEPTED) and not did.agrees(CommandStatus.REJECTED)
    nothing_there = CancelAllTruth({"BTCUSDT": [event(True)]})
    assert nothing_there.agrees(CommandStatus.ACCEPTED) and nothing_there.agrees(CommandStatus.REJECTED)
    never = CancelAllTruth({"BTCUSDT": []})
    assert not never.agrees(CommandStatus.ACCEPTED) and never.agrees(CommandStatus.REJECTED)
    refused = CancelAllTruth({"BTCUSDT": [event(False)]})
    assert not refused.agrees(CommandStatus.ACCEPTED) and refused.agrees(CommandStatus.REJECTED)
    partial = CancelAllTruth({"BTCUSDT": [event(True, ("1",))], "ETHUSDT": [event(False)]})
    assert not partial.agrees(CommandStatus.ACCEPTED) and not partial.agrees(CommandStatus.REJECTED)
    assert CancelAllTruth({"BTCUSDT": [event(True), event(True)]}).sent_twice
