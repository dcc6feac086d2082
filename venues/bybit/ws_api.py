"""The Bybit v5 trade WebSocket (docs/venues/bybit-v5.md §5) over ``WsRpc``: auth once per socket, then ``order.*`` ops.

Each (re)connect authenticates before the socket counts as up (``op: auth`` with the
``GET/realtime<expires>`` signature). Requests carry ``X-BAPI-TIMESTAMP``/``X-BAPI-RECV-WINDOW``
headers and a unique ``reqId`` that the answer echoes. A frame written and then lost (timeout,
drop) is ``OutcomeUnknown`` (``WsRpc``); a non-zero ``retCode`` is classified by ``codes``.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection

from venues.base import OutcomeUnknown
from venues.bybit.codes import write_error
from venues.bybit.schemas.frames import answer_headers, op_answer, refusal, trade_authenticated, trade_response_id
from venues.bybit.schemas.parse import ParseError, envelope
from venues.bybit.signing import ws_auth_payload
from venues.websocket import OrderSocket, WsRpc

__all__ = ["AuthFailed", "BybitTradeWs", "authenticate", "expect_answer"]

AUTH_TTL_MS = 10_000


class AuthFailed(ConnectionError):
    """The venue refused the socket's auth frame (the supervisor retries with backoff)."""


async def authenticate(
    ws: ClientConnection,
    *,
    api_key: str,
    sign: Callable[[str], str],
    clock: Callable[[], int],
    ok: Callable[[Mapping[str, Any]], bool],
    frame_id: dict[str, str],
) -> None:
    """Send ``op: auth`` and read frames until its answer; raise ``AuthFailed`` unless ``ok(answer)``."""
    expires = clock() + AUTH_TTL_MS
    auth = {**frame_id, "op": "auth", "args": [api_key, expires, sign(ws_auth_payload(expires))]}
    await ws.send(orjson.dumps(auth).decode())  # a text frame: the venue ignores binary ones
    await expect_answer(ws, "auth", ok)


async def expect_answer(ws: ClientConnection, op: str, ok: Callable[[Mapping[str, Any]], bool]) -> None:
    """Read frames until the answer to ``op``; raise ``AuthFailed`` unless ``ok(answer)``."""
    while True:
        answer = op_answer(await ws.recv(), op)
        if answer is not None:
            if not ok(answer):
                raise AuthFailed(f"{op} refused: {refusal(answer)}")
            return


class BybitTradeWs(OrderSocket):
    def __init__(
        self,
        url: str,
        *,
        name: str,
        api_key: str,
        sign: Callable[[str], str],
        recv_window_ms: int,
        clock: Callable[[], int],
        on_down: Callable[[str], None] | None = None,
    ):
        self._api_key = api_key
        self._sign = sign
        self._recv = str(recv_window_ms)
        self._clock = clock
        self._prefix = secrets.token_hex(4) + "-"
        self._ids = itertools.count(1)
        self.rpc = WsRpc(
            url,
            name=f"{name}:trade-ws",
            response_id=trade_response_id,
            on_open=self._auth,
            on_down=on_down,
            heartbeat=lambda: '{"op":"ping"}',
        )

    async def _auth(self, ws: ClientConnection) -> None:
        await authenticate(
            ws,
            api_key=self._api_key,
            sign=self._sign,
            clock=self._clock,
            ok=trade_authenticated,
            frame_id={"reqId": f"{self._prefix}auth"},
        )

    async def call(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        data, _ = await self._call(method, params, timeout)
        if not isinstance(data, dict):  # its fields are the adapter's write-answer schema to judge
            raise OutcomeUnknown(f"{method}: retCode 0 without an ack object")
        return data

    async def call_batch(self, method: str, params: dict[str, Any], timeout: float) -> tuple[Any, Any]:
        """Send one batch op (``order.create-batch``...); ``(data, retExtInfo)`` of its ``retCode 0`` answer."""
        return await self._call(method, params, timeout)

    async def _call(self, method: str, params: dict[str, Any], timeout: float) -> tuple[Any, Any]:
        """Send one ``method`` request; ``(data, retExtInfo)`` of a ``retCode 0`` answer, or raise."""
        rid = f"{self._prefix}{next(self._ids)}"
        frame = orjson.dumps(
            {
                "reqId": rid,
                "header": {"X-BAPI-TIMESTAMP": str(self._clock()), "X-BAPI-RECV-WINDOW": self._recv},
                "op": method,
                "args": [params],
            }
        ).decode()
        answer = await self.rpc.call(rid, frame, timeout)
        try:
            code, msg, data = envelope(answer)
        except ParseError as exc:
            raise OutcomeUnknown(f"{method}: answer without a retCode ({exc})") from exc
        if code == 0:
            return data, answer.get("retExtInfo") if isinstance(answer, dict) else None
        raise write_error(200, code, msg, what=method, headers=answer_headers(answer))
