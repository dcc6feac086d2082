"""The in-memory ledger under churn (issue 16): what it forgets to stay bounded never changes what it decides.

Each reservation queues an expiry entry that the ledger now drops once the reservation has ended,
and the fills-after-release record evicts its oldest entry first; neither may cost a live
reservation its expiry or a recent release its late fill.
"""

from __future__ import annotations

from decimal import Decimal

from risk import InMemoryLedger, ReservationRequest, RiskLimits

LIMITS = RiskLimits(max_gross_exposure=Decimal("1e12"), reservation_ttl_seconds=60)


def _request(cid: str) -> ReservationRequest:
    return ReservationRequest(cid, "v", "BTC/USDT:USDT", 1, Decimal("0.01"), Decimal("50000"))


async def test_a_live_reservation_still_expires_after_thousands_released_around_it() -> None:
    ledger = InMemoryLedger()
    await ledger.check_and_reserve(_request("resting"), LIMITS, now=0.0, halted=None)
    for i in range(5_000):  # enough released ones for the expiry queue to be rebuilt several times
        await ledger.check_and_reserve(_request(f"ioc-{i}"), LIMITS, now=1.0, halted=None)
        await ledger.release(f"ioc-{i}")
    # A released id reserved again: only its new reservation's expiry counts.
    await ledger.check_and_reserve(_request("ioc-7"), LIMITS, now=30.0, halted=None)
    assert await ledger.expire(59.0) == []
    assert await ledger.expire(60.0) == ["resting"]
    assert await ledger.expire(61.0) == []
    assert (await ledger.snapshot()).reservations == {"ioc-7": Decimal("500.00")}
    assert await ledger.expire(90.0) == ["ioc-7"]
    assert (await ledger.snapshot()).reserved == 0


async def test_a_late_fill_of_a_recent_release_still_becomes_position_after_evictions() -> None:
    ledger = InMemoryLedger()
    for i in range(100_010):  # past the 100,000 releases remembered: the oldest are evicted first
        await ledger.check_and_reserve(_request(f"c{i}"), LIMITS, now=1.0, halted=None)
        await ledger.release(f"c{i}")
    await ledger.apply_fill("c0", Decimal("0.01"), Decimal("500"))  # evicted: nothing to attribute it to
    await ledger.apply_fill("c100009", Decimal("0.01"), Decimal("500"))  # the latest release
    snapshot = await ledger.snapshot()
    assert snapshot.positions == {("v", "BTC/USDT:USDT"): Decimal("500")}
    assert snapshot.quantities == {("v", "BTC/USDT:USDT"): Decimal("0.01")}
