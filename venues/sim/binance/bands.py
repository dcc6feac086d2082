"""Binance's price band (``PERCENT_PRICE``, wave-2 sheet §7): a LIMIT price is checked against the mark at order time.

BUY needs ``price <= mark * multiplierUp`` (else ``-4016 Price is higher than mark price multiplier
cap.``), SELL ``price >= mark * multiplierDown`` (else ``-4024 Price is lower than mark price
multiplier floor.``), HTTP 400 like every business error; never clamped. A modify is held to the
same band and a refused one leaves the order as it was. The multipliers are the ones
``exchangeInfo`` publishes (``state.percent_price_up`` / ``_down``); ``state.enforce_percent_price``
switches the check off for a test that needs far-off prices.
"""

from __future__ import annotations

from decimal import Decimal

from venues.sim.binance.errors import ApiError
from venues.sim.binance.state import BinanceState
from venues.sim.engine import SimInstrument

__all__ = ["check_percent_price"]


def check_percent_price(state: BinanceState, inst: SimInstrument, side: str, price: Decimal | None) -> None:
    """Raise the venue's refusal when ``price`` lies outside the band around ``inst``'s mark."""
    if price is None or not state.enforce_percent_price:
        return
    if side == "BUY" and price > inst.mark_price * state.percent_price_up:
        raise ApiError(-4016, "Price is higher than mark price multiplier cap.")
    if side == "SELL" and price < inst.mark_price * state.percent_price_down:
        raise ApiError(-4024, "Price is lower than mark price multiplier floor.")
