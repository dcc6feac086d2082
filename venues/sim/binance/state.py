"""The Binance dialect's settings: limits, windows and retention a test may tune (``sim.binance.state``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from venues.sim.venue import VenueState

if TYPE_CHECKING:
    from venues.sim.binance.dialect import BinanceDialect

__all__ = ["DAY_MS", "BinanceState"]

DAY_MS = 86_400_000


@dataclass
class BinanceState(VenueState):
    weight_limit: int = 2400  # request weight per IP per calendar minute
    orders_10s_limit: int = 300
    orders_1m_limit: int = 1200
    # Order-count limits are reported always but enforced only on request: benchmarks place
    # thousands of orders on loopback.
    enforce_order_limits: bool = False
    ban_after_429: int = 5  # 429 refusals in a minute before the IP is banned (418)
    ban_seconds: float = 120.0
    listen_key_ttl_seconds: float = 3600.0
    max_recv_window: int = 60_000
    retention_ms: int = 3 * DAY_MS  # cancelled/expired orders without fills vanish from reads after this
    # PERCENT_PRICE, published in exchangeInfo and enforced against the mark (bands.py)
    percent_price_up: Decimal = Decimal("1.0500")
    percent_price_down: Decimal = Decimal("0.9500")
    enforce_percent_price: bool = True
    dialect: BinanceDialect | None = field(default=None, repr=False, compare=False)
