"""Bybit's limit-price band for linear futures (wave-2 sheet §7): an out-of-band price is moved to the band's
edge and accepted by default; refused with ``110003`` only where the account switched that off.

The band (SP), with the index at the mark and no premium (the simulator has neither): the highest
buy is ``mark × (1 + X)`` and the lowest sell ``mark × (1 − X)`` (the ``min``/``max`` against
``mark × (1 ± Y)`` never binds then), each rounded inwards to the tick; ``X``/``Y`` are the
``riskParameters`` instruments-info publishes (``state.price_limit_ratio_x`` / ``_y``). An account's
``POST /v5/account/set-limit-px-action`` ``modifyEnable=false`` turns the move into a refusal
(``state.price_limit_reject``). Live band: ``GET /v5/market/price-limit``. An amend is held to the same band.
A Market order is shown with the slippage-protection price Bybit reports for it (``protection_price``).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from venues.sim.bybit.errors import ApiError
from venues.sim.bybit.state import BybitState
from venues.sim.engine import SimInstrument

__all__ = ["band", "protection_price", "within_band"]


def band(state: BybitState, inst: SimInstrument) -> tuple[Decimal, Decimal]:
    """``(buyLmt, sellLmt)`` around the instrument's mark now."""
    mark, tick, x = inst.mark_price, inst.tick_size, state.price_limit_ratio_x
    buy = (mark * (1 + x) / tick).to_integral_value(ROUND_FLOOR) * tick
    sell = (mark * (1 - x) / tick).to_integral_value(ROUND_CEILING) * tick
    return buy, sell


def within_band(
    state: BybitState, account: str, inst: SimInstrument, side: str, price: Decimal | None
) -> Decimal | None:
    """The price the order rests at: moved to the band's edge, or refused where the account asked for that."""
    if price is None:
        return None
    buy_limit, sell_limit = band(state, inst)
    if side == "BUY" and price > buy_limit:
        edge = buy_limit
    elif side == "SELL" and price < sell_limit:
        edge = sell_limit
    else:
        return price
    if account in state.price_limit_reject:
        raise ApiError(110003, "Order price exceeds the allowable range.")
    return edge


def protection_price(state: BybitState, inst: SimInstrument, side: str, reference: Decimal) -> Decimal:
    """The price Bybit shows on a Market order: its slippage-protection bound, ``X`` beyond the price it
    traded at (a recorded filled Buy shows 73.64 against an average of 70.17: fixture ``bybit-ccxt-Y3``)."""
    x, tick = state.price_limit_ratio_x, inst.tick_size
    if side == "BUY":
        return (reference * (1 + x) / tick).to_integral_value(ROUND_CEILING) * tick
    return (reference * (1 - x) / tick).to_integral_value(ROUND_FLOOR) * tick
