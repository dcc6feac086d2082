"""The Bybit dialect's settings: rate limits, retention and trade-socket rules a test may tune (``sim.bybit.state``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from venues.sim.venue import VenueState

if TYPE_CHECKING:
    from venues.sim.bybit.dialect import BybitDialect

__all__ = ["DAY_MS", "ENDPOINT_LIMITS", "BybitState"]

DAY_MS = 86_400_000

# Per-account per-endpoint limits per 1-second window (§3); anything else signed: 50.
ENDPOINT_LIMITS = {
    "/v5/order/create": 10,
    "/v5/order/cancel": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
}


@dataclass
class BybitState(VenueState):
    # Windows are counted always, enforced (10006) only on request: tests and benchmarks place
    # thousands of orders.
    enforce_rate_limits: bool = False
    endpoint_limits: dict[str, int] = field(default_factory=lambda: dict(ENDPOINT_LIMITS))
    history_cancel_retention_ms: int = DAY_MS  # history hides cancelled orders without fills after this
    realtime_closed_limit: int = 500  # realtime openOnly=1 shows this many recent closed orders
    ws_require_timestamp: bool = True  # trade-socket requests must carry X-BAPI-TIMESTAMP
    # A network's delay where a client depends on it: pybit records a private-stream subscription and a
    # trade-socket request only after sending it, so an answer that comes back on loopback before that
    # is dropped or fails its callback. The ack delay is on by default (once per subscribe); the trade
    # request delay is off (it would distort latency benchmarks): set it for pybit's WebSocketTrading.
    private_ack_delay_ms: int = 10
    # The limit-price band (bands.py): riskParameters, and the accounts that asked for a refusal instead
    price_limit_ratio_x: Decimal = Decimal("0.05")
    price_limit_ratio_y: Decimal = Decimal("0.10")
    price_limit_reject: set[str] = field(default_factory=set)
    trade_request_delay_ms: int = 0
    # Disconnect cancel-all is not self-service: the venue enables it per account (all accounts here).
    dcp_enabled: bool = False
    dialect: BybitDialect | None = field(default=None, repr=False, compare=False)
