"""The gate wired into Gateway.submit: refusals are REJECTED receipts (or RiskRejected on request)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import CommandStatus, Gateway, OrderRequest, OrderType, Side
from risk import PortfolioGate, RiskLimits, RiskRejected
from tests.unit.fakes import BTC, ScriptedVenue


def order() -> OrderRequest:
    return OrderRequest(
        venue="fake",
        instrument=BTC,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        price=Decimal("50000"),
    )


async def test_refusal_is_a_rejected_receipt_naming_the_limit_and_nothing_is_sent() -> None:
    venue = ScriptedVenue()
    gate = PortfolioGate(RiskLimits(max_notional_per_order=Decimal("100")))
    async with Gateway(venues=[venue], gate=gate, reconcile=None) as gw:
        handle = await gw.submit(order())
    receipt = handle.ack.receipt
    assert receipt.status is CommandStatus.REJECTED and receipt.safe_to_resubmit
    assert "max_notional_per_order" in receipt.message and receipt.native_code == "RISK"
    assert venue.sent == []


async def test_raise_on_risk_raises() -> None:
    venue = ScriptedVenue()
    gate = PortfolioGate(RiskLimits(max_notional_per_order=Decimal("100")))
    async with Gateway(venues=[venue], gate=gate, reconcile=None, raise_on_risk=True) as gw:
        with pytest.raises(RiskRejected, match="max_notional_per_order"):
            await gw.submit(order())
    assert venue.sent == []


async def test_venue_rejection_releases_and_unknown_keeps() -> None:
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.REJECTED, CommandStatus.UNKNOWN_EXECUTION])
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("100000")))
    async with Gateway(venues=[venue], gate=gate, reconcile=None) as gw:
        rejected = await gw.submit(order())
        unknown = await gw.submit(order())
    # Closing the gateway waited for the gate's bookkeeping of both answers.
    snapshot = await gate.snapshot()
    assert rejected.command_id not in snapshot.reservations
    assert set(snapshot.reservations) == {unknown.command_id}
