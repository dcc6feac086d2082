"""What the judge knows of positions: a venue's positions from its fills, and whether a gate's can be one.

A gate's signed position quantity per instrument must equal the venue's exactly. Its cost basis
depends on the order the gate applied fills in (reducing scales it proportionally), so it is only
bounded: a position's basis is its quantity at prices within the range of the fills that built it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from venues.sim.server import SimExchange

__all__ = ["GateSnapshot", "Position", "venue_positions"]

# Gate positions are valued from reported average prices: a rounded average may move the
# notional by a few units of its last place, never by a whole fill.
_ABS_TOLERANCE = Decimal("0.01")
_REL_TOLERANCE = Decimal("0.000001")


class GateSnapshot(Protocol):
    """What the judge reads of a portfolio gate (``risk.LedgerSnapshot`` has these)."""

    @property
    def positions(self) -> Mapping[tuple[str, str], Decimal]: ...

    @property
    def reservations(self) -> Mapping[str, Decimal]: ...

    @property
    def quantities(self) -> Mapping[tuple[str, str], Decimal]: ...


@dataclass
class Position:
    """A venue position from its fills: net quantity, and the range of fill prices that built it."""

    qty: Decimal = Decimal(0)
    low: Decimal | None = None
    high: Decimal | None = None

    def add(self, signed_qty: Decimal, price: Decimal) -> None:
        self.qty += signed_qty
        self.low = price if self.low is None else min(self.low, price)
        self.high = price if self.high is None else max(self.high, price)

    def disagrees(self, qty: Decimal, basis: Decimal) -> str:
        """Why a gate's (quantity, cost basis) cannot be this position, or "" when it can be.

        The quantity must match exactly. The cost basis depends on the order the gate applied the
        fills in (reducing scales it proportionally), so it is only bounded: a position's basis is
        its quantity at prices within the range of the fills that built it, with its sign.
        """
        if qty != self.qty:
            return f"venue fills make qty {self.qty:f}"
        if qty == 0:
            return "" if abs(basis) <= _ABS_TOLERANCE else "venue fills make a flat position (basis 0)"
        assert self.low is not None and self.high is not None
        low, high = sorted((qty * self.low, qty * self.high))
        slack = _ABS_TOLERANCE + _REL_TOLERANCE * max(abs(low), abs(high))
        if low - slack <= basis <= high + slack:
            return ""
        return f"venue fills make qty {self.qty:f} at {self.low:f}..{self.high:f}: basis {low:f}..{high:f}"


def venue_positions(sim: SimExchange) -> dict[tuple[str, str], Position]:
    """Each (venue, unified instrument)'s position from every fill the venue made."""
    out: dict[tuple[str, str], Position] = {}
    for name, venue in sim.venues.items():
        engine = venue.engine
        for order in engine.orders.values():
            sign = Decimal(1) if order.side == "BUY" else Decimal(-1)
            for fill in order.fills:
                key = (name, engine.instruments[order.symbol].unified)
                out.setdefault(key, Position()).add(sign * fill.qty, fill.price)
    return {k: p for k, p in out.items() if p.qty or p.low is not None}
