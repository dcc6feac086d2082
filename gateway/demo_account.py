"""The demo's account events (issue 14): a position held before the gateway starts, and trades it did not send.

``gateway demo`` starts on an account that already holds a BTC position on each venue (bought by
"someone else" before the run, so the gate must be seeded from the venue), and during the run
another client buys on Binance and Bybit liquidates part of a position (its own order, shown as
the venue shows a liquidation). None of these is a command of the gateway's: the strict judge's
exposure check (the gate's positions against every fill the venues made) is what proves the gate
followed them, once each. They wait until the scripted stream faults are spent, so the run's one
stream gap cannot swallow them (the campaign's random faults hit writes only).
"""

from __future__ import annotations

from decimal import Decimal

from venues.sim import SimExchange

__all__ = ["HELD_AT_START", "AccountScript"]

HELD_AT_START = Decimal("0.01")  # BTC on each venue, bought by another client before the gateway starts
OUTSIDE_FILL = Decimal("0.004")  # another client's MARKET buy on Binance during the run
LIQUIDATED = Decimal("0.005")  # what Bybit's liquidation closes during the run (at most the position)


class AccountScript:
    """When each account event happens, and what it was (for the summary)."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.done: list[str] = []  # short labels, for the summary table
        self._outside = False
        self._liquidated = False

    def before_start(self) -> str:
        for venue in self.sim.venues:
            self.sim.external_trade(venue, "BTCUSDT", "BUY", HELD_AT_START, client_order_id=f"web-held-{venue}")
        self.done.append(f"held {HELD_AT_START} BTC at start on each venue")
        return f"held before start: {HELD_AT_START} BTC long on each venue (bought by another client)"

    def step(self, progress: float) -> str | None:
        """The event due at this point of the run (``progress`` 0..1), if any; one per call."""
        if any(f.kind.is_stream for f in self.sim.faults.pending):
            return None
        if not self._outside and progress >= 1 / 3:
            self._outside = True
            self.sim.external_trade("binance", "BTCUSDT", "BUY", OUTSIDE_FILL, client_order_id="web-manual-1")
            self.done.append(f"outside buy {OUTSIDE_FILL} (binance)")
            return f"outside fill: another client bought {OUTSIDE_FILL} BTC on binance (MARKET)"
        if not self._liquidated and progress >= 2 / 3:
            position = self.sim.bybit.engine.positions.get((self.sim.api_key, "BTCUSDT"), Decimal(0))
            if not position:
                return None
            self._liquidated = True
            order = self.sim.liquidate("bybit", "BTCUSDT", qty=min(LIQUIDATED, abs(position)))
            self.done.append(f"liquidation {order.qty} (bybit)")
            return f"liquidation: bybit closed {order.qty} BTC of the position with its own order"
        return None
