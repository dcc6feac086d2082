"""Property: any interleaving of reserve / release / fill / expire keeps the totals consistent."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import InMemoryLedger, RiskLimits
from risk.ledger import ReservationRequest

LIMITS = RiskLimits(reservation_ttl_seconds=10)
ops = st.lists(
    st.tuples(st.sampled_from(["reserve", "release", "fill", "expire"]), st.integers(0, 7), st.integers(1, 10)),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_reserved_total_equals_sum_of_live_reservations(steps: list[tuple[str, int, int]]) -> None:
    async def run() -> None:
        ledger = InMemoryLedger()
        now = 0.0
        for op, n, k in steps:
            cid = f"c{n}"
            now += 1
            if op == "reserve":
                try:
                    await ledger.check_and_reserve(
                        ReservationRequest(cid, "v", f"I{n % 3}", 1, Decimal(10), Decimal(k), False),
                        LIMITS,
                        now=now,
                        halted=None,
                    )
                except Exception:
                    pass
            elif op == "release":
                await ledger.release(cid)
            elif op == "fill":
                await ledger.apply_fill(cid, Decimal(min(k, 10)), Decimal(min(k, 10)) * Decimal(k))
            else:
                await ledger.expire(now + k)
            snap = await ledger.snapshot()
            assert snap.reserved == sum(snap.reservations.values(), Decimal(0))
            assert all(v >= 0 for v in snap.reservations.values())
            assert snap.gross_exposure == sum((abs(p) for p in snap.positions.values()), Decimal(0)) + snap.reserved
            # the sums the ledger maintains for O(1) checks agree with a recount from scratch
            assert ledger._reserved_total == snap.reserved
            assert ledger._positions_abs == sum((abs(p) for p in snap.positions.values()), Decimal(0))
            for key, total in ledger._reserved_by_key.items():
                assert total == sum(
                    (
                        r.reserved
                        for r in ledger._reservations.values()
                        if (r.request.venue, r.request.instrument) == key
                    ),
                    Decimal(0),
                )

    asyncio.run(run())


@settings(max_examples=25, deadline=None)
@given(ops)
def test_redis_ledger_agrees_with_the_in_process_ledger(redis_url: str, steps: list[tuple[str, int, int]]) -> None:
    """Differential: the same interleaving on both ledgers admits, refuses and holds the same amounts."""
    import uuid

    from risk.redis_ledger import RedisLedger

    limits = RiskLimits(reservation_ttl_seconds=10, max_gross_exposure=Decimal(400), max_open_orders=5)

    async def run() -> None:
        memory, redis = InMemoryLedger(), RedisLedger(redis_url, namespace=f"prop:{uuid.uuid4().hex}")
        try:
            now = 0.0
            for op, n, k in steps:
                cid = f"c{n}"
                now += 1
                outcomes = []
                for ledger in (memory, redis):
                    if op == "reserve":
                        request = ReservationRequest(cid, "v", f"I{n % 3}", 1 if k % 2 else -1, Decimal(10), Decimal(k))
                        try:
                            await ledger.check_and_reserve(request, limits, now=now, halted=None)
                            outcomes.append("admitted")
                        except Exception as exc:
                            outcomes.append(getattr(exc, "limit", "error"))
                    elif op == "release":
                        await ledger.release(cid)
                    elif op == "fill":
                        await ledger.apply_fill(cid, Decimal(min(k, 10)), Decimal(min(k, 10)) * Decimal(k))
                    else:
                        outcomes.append(sorted(await ledger.expire(now + k)))
                assert len(set(map(str, outcomes))) <= 1, (op, cid, outcomes)
                mine, theirs = await memory.snapshot(), await redis.snapshot()
                assert mine.reservations == theirs.reservations, (op, cid)
                assert mine.reserved == theirs.reserved and mine.gross_exposure == theirs.gross_exposure
                held = {key: v for key, v in mine.positions.items() if v}
                assert held == {key: v for key, v in theirs.positions.items() if v}
        finally:
            await redis.clear()
            await redis.close()

    asyncio.run(run())
