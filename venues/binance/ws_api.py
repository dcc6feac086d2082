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
from venues.binance.schemas.frames import ws_answer, ws_response_id
from venues.binance.signing import ws_signing_payload
from venues.common import ParseError
from venues.websocket import OrderSocket, WsRpc

__all__ = ["BinanceWsApi"]


class BinanceWsApi(OrderSocket):
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
        self.rpc = WsRpc(url, name=f"{name}:ws-api", response_id=ws_response_id, on_down=on_down)
        self._api_key = api_key
        self._sign = sign
        self._recv_window = recv_window_ms
        self._rate = rate
        self._clock = clock
        self._ids = itertools.count(1)

    async def call(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one signed request; the ``result`` object, or raise a write-outcome error."""
        params["apiKey"] = self._api_key
        params["recvWindow"] = self._recv_window
        params["timestamp"] = self._clock()
        params["signature"] = self._sign(ws_signing_payload(params))
        rid = str(next(self._ids))
        frame = orjson.dumps({"id": rid, "method": method, "params": params}).decode()
        try:
            answer = ws_answer(await self.rpc.call(rid, frame, timeout))
        except ParseError as exc:
            raise OutcomeUnknown(f"{method}: unparsable answer") from exc
        if answer.weight_used is not None:
            self._rate.used = answer.weight_used
        if answer.ok:
            if not isinstance(answer.result, dict):  # its fields are the adapter's write-answer schema to judge
                raise OutcomeUnknown(f"{method}: status 200 without an order object")
            return answer.result
        if answer.status == 0:
            raise OutcomeUnknown(f"{method}: answer without a status")
        raise write_error(answer.status, answer.code, answer.msg, what=method, retry_after_ms=answer.retry_after_ms)
