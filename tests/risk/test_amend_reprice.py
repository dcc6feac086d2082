"""Ledger.reprice (an amend's new terms), in-process and on a real redis-server: atomic, checked on a rise."""

from __future__ import annotations

from decimal import Decimal

import pytest

from risk import Ledger, RiskLimits, RiskRejected
from risk.ledger import ReservationRequest

LIMITS = RiskLimits(max_gross_exposure=Decimal("1000"), max_notional_per_order=Decimal("800"))


async def reserve(ledger: Ledger, cid: str, qty: str, price: str = "100") -> None:
    request = ReservationRequest(cid, "binance", "BTC/USDT:USDT", 1, Decimal(qty), Decimal(price))
    await ledger.check_and_reserve(request, LIMITS, now=0.0, halted=None)


async def held(ledger: Ledger, cid: str) -> Decimal:
    return (await ledger.snapshot()).reservations.get(cid, Decimal(-1))


async def test_a_rise_is_checked_and_a_refused_one_changes_nothing(ledger: Ledger) -> None:
    await reserve(ledger, "a", "3")  # 300
    await reserve(ledger, "b", "4")  # 400: 700 of 1000
    assert await ledger.reprice("a", Decimal("100"), Decimal("5"), LIMITS, check=True, halted=None)
    assert await held(ledger, "a") == Decimal("500")  # 900 of 1000
    with pytest.raises(RiskRejected, match="max_gross_exposure"):
        await ledger.reprice("a", Decimal("130"), Decimal("5"), LIMITS, check=True, halted=None)  # +150: 1050
    with pytest.raises(RiskRejected, match="max_notional_per_order"):
        await ledger.reprice("b", Decimal("100"), Decimal("9"), RiskLimits(max_notional_per_order=Decimal("800")),
                             check=True, halted=None)  # fmt: skip
    with pytest.raises(RiskRejected, match="kill_switch"):
        await ledger.reprice("b", Decimal("100"), Decimal("5"), LIMITS, check=True, halted="drill")
    assert (await held(ledger, "a"), await held(ledger, "b")) == (Decimal("500"), Decimal("400"))
    assert (await ledger.snapshot()).reserved == Decimal("900")


async def test_a_fall_and_the_filled_part(ledger: Ledger) -> None:
    await reserve(ledger, "a", "5")
    await ledger.apply_fill("a", Decimal("2"), Decimal("200"))  # 300 left reserved
    assert await ledger.reprice("a", Decimal("90"), Decimal("4"), LIMITS, check=False, halted=None)
    assert await held(ledger, "a") == Decimal("180")  # 90 x (4 - 2 filled)
    assert (await ledger.snapshot()).reserved == Decimal("180")
    assert not await ledger.reprice("nobody", Decimal("1"), Decimal("1"), LIMITS, check=True, halted=None)
