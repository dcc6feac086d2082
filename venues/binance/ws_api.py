"""The Binance USD-M WebSocket API (docs/venues/binance-usdm.md §6) over ``WsRpc``: HMAC-signed request frames.

Each request carries ``apiKey``, ``timestamp`` and ``signature`` (sorted-params payload).
A frame written and then lost (timeout, drop) is ``OutcomeUnknown`` (``WsRpc``); an answer
with ``status`` != 200 is classified by ``codes.write_error`` like a REST answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import orjson

from venues.base import OutcomeUnknown, RateLimitState
from venues.binance.codes import write_error
from venues.binance.signing import ws_signing_payload
from venues.websocket import WsRpc

__all__ = ["BinanceWsApi"]


def _response_id(message: Any) -> str | None:
    if isinstance(message, dict):
        rid = message.get("id")
        return None if rid is None else str(rid)
    return None


class BinanceWsApi:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        api_key: str,
        sign: Callable[[str], str],
        recv_window_ms: int,
        rate: RateLimitState,
        clock: Callable[[], int],
        on_down: Callable[[str], None] | None = None,
    ):
        self.rpc = WsRpc(url, name=f"{name}:ws-api", response_id=_response_id, on_down=on_down)
        self._api_key = api_key
        self._sign = sign
        self._recv_window = recv_window_ms
        self._rate = rate
        self._clock = clock
        self._ids = itertools.count(1)

    @property
    def is_up(self) -> bool:
        return self.rpc.is_up

    async def call(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one signed request; the ``result`` object, or raise a write-outcome error."""
        params["apiKey"] = self._api_key
        params["recvWindow"] = self._recv_window
        params["timestamp"] = self._clock()
        params["signature"] = self._sign(ws_signing_payload(params))
        rid = str(next(self._ids))
        frame = orjson.dumps({"id": rid, "method": method, "params": params}).decode()
        answer = await self.rpc.call(rid, frame, timeout)
        if not isinstance(answer, dict):
            raise OutcomeUnknown(f"{method}: unparsable answer")
        for limit in answer.get("rateLimits") or ():
            if isinstance(limit, dict) and limit.get("rateLimitType") == "REQUEST_WEIGHT":
                self._rate.used = int(limit.get("count", self._rate.used))
        status = answer.get("status")
        if status == 200:
            result = answer.get("result")
            if not isinstance(result, dict):  # its fields are the adapter's write-answer schema to judge
                raise OutcomeUnknown(f"{method}: status 200 without an order object")
            return result
        raw_error = answer.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        raw_data = error.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        retry_ms = data.get("retryAfter") if isinstance(data.get("retryAfter"), int) else None
        return_status = status if isinstance(status, int) else 0
        if return_status == 0:
            raise OutcomeUnknown(f"{method}: answer without a status")
        raise write_error(return_status, code, str(error.get("msg", "")), what=method, retry_after_ms=retry_ms)

    async def start(self, wait_seconds: float) -> None:
        await self.rpc.start(wait=False)
        try:
            import asyncio

            await asyncio.wait_for(self.rpc.conn.up.wait(), wait_seconds)
        except TimeoutError:
            pass

    async def close(self) -> None:
        await self.rpc.close()
