"""instruments-info -> ``InstrumentFilters``, and unified ids <-> native symbols (docs/venues/bybit-v5.md §4 IN).

Only ``LinearPerpetual`` contracts in ``Trading`` status get unified ids (``BTCUSDT`` ->
``BTC/USDT:USDT``: base / quote : settle coin); dated futures are skipped. ``maxOrderQty``
bounds Limit orders and ``maxMktOrderQty`` Market orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venues.base import InstrumentFilters
from venues.common import filter_value

__all__ = ["parse_instruments", "unified_id"]


def unified_id(item: Mapping[str, Any]) -> str | None:
    if item.get("contractType", "LinearPerpetual") != "LinearPerpetual":
        return None
    base, quote = item.get("baseCoin"), item.get("quoteCoin")
    settle = item.get("settleCoin") or quote
    if not base or not quote:
        return None
    return f"{base}/{quote}:{settle}"


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
            market_max = filter_value(lot, "maxMktOrderQty")
            out.append(
                InstrumentFilters(
                    venue=venue,
                    instrument=unified,
                    native_symbol=str(item["symbol"]),
                    tick_size=filter_value(price, "tickSize"),
                    step_size=filter_value(lot, "qtyStep"),
                    min_qty=filter_value(lot, "minOrderQty"),
                    max_qty=filter_value(lot, "maxOrderQty"),
                    min_notional=filter_value(lot, "minNotionalValue"),
                    min_price=filter_value(price, "minPrice"),
                    max_price=filter_value(price, "maxPrice"),
                    market_max_qty=market_max or None,
                )
            )
        except (KeyError, ValueError):
            continue
    return out
