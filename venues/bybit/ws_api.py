"""The Bybit v5 trade WebSocket (docs/venues/bybit-v5.md §5) over ``WsRpc``: auth once per socket, then ``order.*`` ops.

Each (re)connect authenticates before the socket counts as up (``op: auth`` with the
``GET/realtime<expires>`` signature). Requests carry ``X-BAPI-TIMESTAMP``/``X-BAPI-RECV-WINDOW``
headers and a unique ``reqId`` that the answer echoes. A frame written and then lost (timeout,
drop) is ``OutcomeUnknown`` (``WsRpc``); a non-zero ``retCode`` is classified by ``codes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection

from venues.base import OutcomeUnknown
from venues.bybit.codes import write_error
from venues.bybit.schemas.parse import ParseError, envelope
from venues.bybit.signing import ws_auth_payload
from venues.websocket import WsRpc

__all__ = ["AuthFailed", "BybitTradeWs", "authenticate"]

AUTH_TTL_MS = 10_000


class AuthFailed(ConnectionError):
    """The venue refused the socket's auth frame (the supervisor retries with backoff)."""


def _response_id(message: Any) -> str | None:
    if isinstance(message, dict):
        rid = message.get("reqId")
        return None if rid is None else str(rid)
    return None


async def authenticate(
    ws: ClientConnection,
    *,
    api_key: str,
    sign: Callable[[str], str],
    clock: Callable[[], int],
    ok: Callable[[dict[str, Any]], bool],
    frame_id: dict[str, str],
) -> None:
    """Send ``op: auth`` and read frames until its answer; raise ``AuthFailed`` unless ``ok(answer)``."""
    expires = clock() + AUTH_TTL_MS
    auth = {**frame_id, "op": "auth", "args": [api_key, expires, sign(ws_auth_payload(expires))]}
    await ws.send(orjson.dumps(auth).decode())  # a text frame: the venue ignores binary ones
    while True:
        raw = await ws.recv()
        with contextlib.suppress(orjson.JSONDecodeError):
            answer = orjson.loads(raw)
            if isinstance(answer, dict) and answer.get("op") == "auth":
                if not ok(answer):
                    raise AuthFailed(f"auth refused: {answer.get('retMsg') or answer.get('ret_msg') or answer}")
                return


class BybitTradeWs:
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
            response_id=_response_id,
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
            ok=lambda a: a.get("retCode") in (0, "0"),
            frame_id={"reqId": f"{self._prefix}auth"},
        )

    @property
    def is_up(self) -> bool:
        return self.rpc.is_up

    async def call(self, op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request; the ``data`` ack (with ``orderId``), or raise a write-outcome error."""
        rid = f"{self._prefix}{next(self._ids)}"
        frame = orjson.dumps(
            {
                "reqId": rid,
                "header": {"X-BAPI-TIMESTAMP": str(self._clock()), "X-BAPI-RECV-WINDOW": self._recv},
                "op": op,
                "args": [args],
            }
        ).decode()
        answer = await self.rpc.call(rid, frame, timeout)
        try:
            code, msg, data = envelope(answer)
        except ParseError as exc:
            raise OutcomeUnknown(f"{op}: answer without a retCode ({exc})") from exc
        if code == 0:
            if not isinstance(data, dict):  # its fields are the adapter's write-answer schema to judge
                raise OutcomeUnknown(f"{op}: retCode 0 without an ack object")
            return data
        header = answer.get("header") if isinstance(answer, dict) else None
        headers = {str(k).lower(): str(v) for k, v in header.items()} if isinstance(header, dict) else {}
        raise write_error(200, code, msg, what=op, headers=headers)

    async def start(self, wait_seconds: float) -> None:
        await self.rpc.start(wait=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.rpc.conn.up.wait(), wait_seconds)

    async def close(self) -> None:
        await self.rpc.close()
