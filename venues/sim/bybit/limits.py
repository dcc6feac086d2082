"""Bybit rate limits (§3): per-account per-endpoint 1-second windows, reported in ``X-Bapi-Limit*`` headers.

Create/cancel 10/s, reads 50/s (``state.endpoint_limits``), public requests 120/s per IP
(reported only). Windows are counted always and enforced (``10006 Too many visits!``) only when
``state.enforce_rate_limits`` is true. A request's headers wait on the request (``HDR_KEY``)
until its answer goes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from venues.sim.bybit.errors import ApiError
from venues.sim.bybit.state import BybitState
from venues.sim.engine import now_ms

__all__ = ["HDR_KEY", "PUBLIC_LIMIT", "Limits", "limit_headers"]

PUBLIC_LIMIT = 120  # per IP per second (600 / 5 s), reported only
# Where a request's X-Bapi-Limit* headers wait for the answer (``web.RequestKey`` where aiohttp has it).
HDR_KEY: Any = web.RequestKey("bybit_limit_headers", dict) if hasattr(web, "RequestKey") else "bybit_limit_headers"


def limit_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-Bapi-Limit": str(limit),
        "X-Bapi-Limit-Status": str(max(0, remaining)),
        "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
    }


@dataclass
class _Window:
    start_ms: int = 0
    used: int = 0


class Limits:
    """The request windows of one venue."""

    def __init__(self, state: BybitState):
        self.state = state
        self._windows: dict[tuple[str, str], _Window] = {}

    def charge(self, who: str, endpoint: str, *, enforce: bool = True, limit: int | None = None) -> dict[str, str]:
        """Count one request in ``who``'s 1-second window for ``endpoint``; 10006 past the limit (if enforced)."""
        if limit is None:
            limit = self.state.endpoint_limits.get(endpoint, 50)
        now = now_ms()
        window = self._windows.setdefault((who, endpoint), _Window())
        if now - window.start_ms >= 1000:
            window.start_ms, window.used = now, 0
        reset = window.start_ms + 1000
        if enforce and self.state.enforce_rate_limits and window.used >= limit:
            raise ApiError(10006, headers=limit_headers(limit, 0, reset))
        window.used += 1
        return limit_headers(limit, limit - window.used, reset)
