"""The venue-neutral market view both dialects answer market data from: fills, book levels, candles.

The simulator's matching engine fills against standing liquidity at the mark (asks) and one tick
below it (bids), plus every resting order; each dialect only formats these in its own wire shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from venues.sim.engine import MatchingEngine, SimFill, SimInstrument

__all__ = ["BOOK_DEPTH_QTY", "Candle", "book_levels", "candles", "fills"]

# Standing liquidity the engine fills against at each side of the book (it fills any size).
BOOK_DEPTH_QTY = Decimal("1000")

Level = tuple[Decimal, Decimal]  # (price, quantity)


def fills(engine: MatchingEngine, symbol: str, start_ms: int = 0) -> list[SimFill]:
    """Every fill of ``symbol`` since ``start_ms``, in trade order."""
    out = [f for o in engine.orders.values() if o.symbol == symbol for f in o.fills if f.time_ms >= start_ms]
    return sorted(out, key=lambda f: f.trade_id)


def book_levels(engine: MatchingEngine, inst: SimInstrument, limit: int) -> tuple[list[Level], list[Level]]:
    """``(bids best first, asks best first)``, at most ``limit`` levels each."""
    bids: dict[Decimal, Decimal] = {inst.mark_price - inst.tick_size: BOOK_DEPTH_QTY}
    asks: dict[Decimal, Decimal] = {inst.mark_price: BOOK_DEPTH_QTY}
    for o in engine.orders.values():
        if o.symbol == inst.symbol and o.is_open and o.price is not None:
            side = bids if o.side == "BUY" else asks
            side[o.price] = side.get(o.price, Decimal(0)) + o.qty - o.filled_qty
    return sorted(bids.items(), reverse=True)[:limit], sorted(asks.items())[:limit]


@dataclass(frozen=True, slots=True)
class Candle:
    """One interval of trading; an interval without fills opens, closes and spans at the mark."""

    start_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


def candles(
    engine: MatchingEngine, inst: SimInstrument, step_ms: int, start_ms: int | None, end_ms: int, limit: int
) -> list[Candle]:
    """Up to ``limit`` consecutive intervals of ``step_ms``, oldest first, from ``start_ms`` (or ending at
    ``end_ms`` when no start is given), none starting after ``end_ms``."""
    first = (start_ms // step_ms) * step_ms if start_ms is not None else (end_ms // step_ms - limit + 1) * step_ms
    seen = fills(engine, inst.symbol, first)
    out = []
    for n in range(limit):
        t = first + n * step_ms
        if t > end_ms:
            break
        inside = [f for f in seen if t <= f.time_ms < t + step_ms]
        prices = [f.price for f in inside] or [inst.mark_price]
        out.append(
            Candle(
                t, prices[0], max(prices), min(prices), prices[-1],
                sum((f.qty for f in inside), Decimal(0)), sum((f.qty * f.price for f in inside), Decimal(0)),
                len(inside),
            )
        )  # fmt: skip
    return out
