"""instruments-info -> ``InstrumentFilters``, and unified ids <-> native symbols (bybit-v5.md §4 IN).

Only ``LinearPerpetual`` contracts in ``Trading`` status get unified ids (``BTCUSDT`` ->
``BTC/USDT:USDT``: base / quote : settle coin); dated futures are skipped. ``maxOrderQty``
bounds Limit orders and ``maxMktOrderQty`` Market orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from venues.base import InstrumentFilters
from venues.common import to_decimal

__all__ = ["parse_instruments", "unified_id"]


def unified_id(item: Mapping[str, Any]) -> str | None:
    if item.get("contractType", "LinearPerpetual") != "LinearPerpetual":
        return None
    base, quote = item.get("baseCoin"), item.get("quoteCoin")
    settle = item.get("settleCoin") or quote
    if not base or not quote:
        return None
    return f"{base}/{quote}:{settle}"


def _dec(d: Mapping[str, Any], key: str) -> Decimal:
    value = d.get(key)
    return Decimal(0) if value in (None, "") else to_decimal(value)


def parse_instruments(venue: str, items: list[Any]) -> list[InstrumentFilters]:
    """Every tradable perpetual's filters; an item whose filters cannot be read is skipped, never guessed."""
    out: list[InstrumentFilters] = []
    for item in items:
        if not isinstance(item, Mapping) or item.get("status", "Trading") != "Trading":
            continue
        unified = unified_id(item)
        price, lot = item.get("priceFilter"), item.get("lotSizeFilter")
        if unified is None or not isinstance(price, Mapping) or not isinstance(lot, Mapping):
            continue
        try:
            market_max = _dec(lot, "maxMktOrderQty")
            out.append(
                InstrumentFilters(
                    venue=venue,
                    instrument=unified,
                    native_symbol=str(item["symbol"]),
                    tick_size=_dec(price, "tickSize"),
                    step_size=_dec(lot, "qtyStep"),
                    min_qty=_dec(lot, "minOrderQty"),
                    max_qty=_dec(lot, "maxOrderQty"),
                    min_notional=_dec(lot, "minNotionalValue"),
                    min_price=_dec(price, "minPrice"),
                    max_price=_dec(price, "maxPrice"),
                    market_max_qty=market_max or None,
                )
            )
        except (KeyError, ValueError):
            continue
    return out
