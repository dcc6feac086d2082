"""Binance rate limits (§3, §4): request weight per IP per calendar minute and order counts per account.

Weight is reported in ``X-MBX-USED-WEIGHT-1M`` on every response (``weight_header``); past
``state.weight_limit`` a request answers ``429 -1003``, and an IP that keeps going past
``state.ban_after_429`` refusals is banned (``418``) for ``state.ban_seconds``. Order counts go
out in ``X-MBX-ORDER-COUNT-10S``/``-1M`` and in WS API ``rateLimits``; ``-1015`` is enforced only
when ``state.enforce_order_limits`` is true.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from venues.sim.binance.errors import ApiError
from venues.sim.binance.state import BinanceState
from venues.sim.engine import now_ms

__all__ = ["Limits"]


@dataclass
class _IpWindow:
    minute: int = 0
    used: int = 0
    refused: int = 0  # 429s answered this minute
    banned_until_ms: int = 0


def _banned(ip: str, until_ms: int, retry_after: float) -> ApiError:
    return ApiError(
        -1003,
        f"Way too many requests; IP({ip}) banned until {until_ms}. "
        "Please use the websocket for live updates to avoid bans.",
        status=418,
        retry_after=retry_after,
    )


class Limits:
    """The weight and order counters of one venue."""

    def __init__(self, state: BinanceState):
        self.state = state
        self._ips: dict[str, _IpWindow] = {}
        self._order_times: dict[str, deque[int]] = {}
        self._order_times_10s: dict[str, deque[int]] = {}

    def _ip(self, request: web.Request) -> _IpWindow:
        ip = request.remote or "?"
        window = self._ips.setdefault(ip, _IpWindow())
        minute = int(time.time() // 60)
        if window.minute != minute:
            window.minute, window.used, window.refused = minute, 0, 0
        return window

    def used_weight(self, request: web.Request) -> int:
        return self._ip(request).used

    def charge(self, request: web.Request, weight: int) -> None:
        """Count ``weight`` against the caller's IP; raise 429/418 when over the limit (§3, §4)."""
        window = self._ip(request)
        now = now_ms()
        ip = request.remote or "?"
        if window.banned_until_ms > now:
            raise _banned(ip, window.banned_until_ms, (window.banned_until_ms - now) / 1000)
        window.used += weight
        limit = self.state.weight_limit
        if window.used > limit:
            window.refused += 1
            if window.refused > self.state.ban_after_429:
                window.banned_until_ms = now + int(self.state.ban_seconds * 1000)
                raise _banned(ip, window.banned_until_ms, float(self.state.ban_seconds))
            raise ApiError(
                -1003,
                f"Too many requests; current limit of IP({ip}) request weight per minute is {limit}. "
                "Please use WebSocket Streams for live updates to avoid polling the API.",
                status=429,
                retry_after=60 - time.time() % 60,
            )

    def _order_counts(self, account: str) -> tuple[int, int]:
        """(orders in the last 10 s, in the last minute): two trimmed deques, O(1) amortised."""
        minute = self._order_times.setdefault(account, deque())
        ten = self._order_times_10s.setdefault(account, deque())
        now = now_ms()
        while minute and minute[0] <= now - 60_000:
            minute.popleft()
        while ten and ten[0] <= now - 10_000:
            ten.popleft()
        return len(ten), len(minute)

    def count_order(self, account: str) -> None:
        ten, minute = self._order_counts(account)
        state = self.state
        if state.enforce_order_limits and (ten >= state.orders_10s_limit or minute >= state.orders_1m_limit):
            raise ApiError(
                -1015,
                f"Too many new orders; current limit is {state.orders_10s_limit} orders per TEN_SECONDS.",
                status=429,
                retry_after=10.0,
            )
        stamp = now_ms()
        self._order_times[account].append(stamp)
        self._order_times_10s[account].append(stamp)

    def order_headers(self, account: str) -> dict[str, str]:
        ten, minute = self._order_counts(account)
        return {"X-MBX-ORDER-COUNT-10S": str(ten), "X-MBX-ORDER-COUNT-1M": str(minute)}

    def rate_limits(self, request: web.Request, account: str | None) -> list[dict[str, Any]]:
        ten, minute = self._order_counts(account) if account else (0, 0)
        state = self.state
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": state.weight_limit, "count": self.used_weight(request)},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": state.orders_10s_limit, "count": ten},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
             "limit": state.orders_1m_limit, "count": minute},
        ]  # fmt: skip

    def weight_header(self) -> Callable[[web.Request, web.StreamResponse], Coroutine[Any, Any, None]]:
        """An ``on_response_prepare`` hook: every Binance answer reports the caller's used weight."""

        async def add(request: web.Request, response: web.StreamResponse) -> None:
            if request.path.startswith(("/fapi", "/ws-fapi")):
                response.headers["X-MBX-USED-WEIGHT-1M"] = str(self.used_weight(request))

        return add
