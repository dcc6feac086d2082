"""exchangeInfo -> ``InstrumentFilters``, and the unified id <-> native symbol mapping.

Venue facts: docs/venues/binance-usdm.md §5 EI.

Only USDⓈ-M perpetuals get unified ids (``BTCUSDT`` -> ``BTC/USDT:USDT``: base / quote :
margin asset); delivery contracts are skipped. ``pricePrecision`` / ``quantityPrecision``
are *not* the tick and step: those come from ``PRICE_FILTER`` and ``LOT_SIZE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venues.base import InstrumentFilters
from venues.common import filter_value

__all__ = ["order_rate_limits", "parse_exchange_info", "rate_limit_weight", "unified_id"]


def unified_id(symbol: Mapping[str, Any]) -> str | None:
    """``BASE/QUOTE:MARGIN`` for a perpetual, None for anything else."""
    if symbol.get("contractType", "PERPETUAL") != "PERPETUAL":
        return None
    base, quote = symbol.get("baseAsset"), symbol.get("quoteAsset")
    margin = symbol.get("marginAsset") or quote
    if not base or not quote:
        return None
    return f"{base}/{quote}:{margin}"


def parse_exchange_info(venue: str, info: Mapping[str, Any]) -> list[InstrumentFilters]:
    """Every perpetual's filters; a symbol whose filters cannot be read is skipped, never guessed."""
    out: list[InstrumentFilters] = []
    for symbol in info.get("symbols", ()):
        unified = unified_id(symbol)
        if unified is None:
            continue
        by_type = {f.get("filterType"): f for f in symbol.get("filters", ()) if isinstance(f, Mapping)}
        price, lot = by_type.get("PRICE_FILTER"), by_type.get("LOT_SIZE")
        if price is None or lot is None:
            continue
        market = by_type.get("MARKET_LOT_SIZE")
        notional = by_type.get("MIN_NOTIONAL", {})
        try:
            out.append(
                InstrumentFilters(
                    venue=venue,
                    instrument=unified,
                    native_symbol=str(symbol["symbol"]),
                    tick_size=filter_value(price, "tickSize"),
                    step_size=filter_value(lot, "stepSize"),
                    min_qty=filter_value(lot, "minQty"),
                    max_qty=filter_value(lot, "maxQty"),
                    min_notional=filter_value(notional, "notional"),
                    min_price=filter_value(price, "minPrice"),
                    max_price=filter_value(price, "maxPrice"),
                    market_step_size=filter_value(market, "stepSize") if market else None,
                    market_min_qty=filter_value(market, "minQty") if market else None,
                    market_max_qty=filter_value(market, "maxQty") if market else None,
                )
            )
        except (KeyError, ValueError):
            continue
    return out


def rate_limit_weight(info: Mapping[str, Any]) -> int:
    """The REQUEST_WEIGHT per-minute limit exchangeInfo announces (0 when absent)."""
    for limit in info.get("rateLimits", ()):
        if limit.get("rateLimitType") == "REQUEST_WEIGHT" and limit.get("interval") == "MINUTE":
            return int(limit.get("limit", 0)) // max(1, int(limit.get("intervalNum", 1)))
    return 0


_WINDOW_UNIT = {"SECOND": "s", "MINUTE": "m", "HOUR": "h", "DAY": "d"}


def order_rate_limits(info: Mapping[str, Any]) -> dict[str, int]:
    """The ORDERS limits exchangeInfo announces, by the window its X-MBX-ORDER-COUNT-* headers name ("10s", "1m")."""
    out: dict[str, int] = {}
    for limit in info.get("rateLimits", ()):
        unit = _WINDOW_UNIT.get(str(limit.get("interval")))
        if limit.get("rateLimitType") == "ORDERS" and unit is not None:
            out[f"{int(limit.get('intervalNum', 1))}{unit}"] = int(limit.get("limit", 0))
    return out
