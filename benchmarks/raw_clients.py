"""The floors the gateway is measured against: hand-signed orders on the bare libraries, nothing else.

- ``rest_order``: one signed aiohttp POST on one keep-alive session (the REST floor);
- ``ws_order``: one signed request frame and a ``recv()`` loop on one ``websockets`` connection
  (the sequential WS floor: nothing else in flight, so the next frame is the answer);
- ``ws_mux_order``: the same frame on a second connection whose one reader task hands each
  answer to its request by id (the least a WS client needs with 50 requests in flight).

Every order is a LIMIT IOC far from the mark (it expires at once, nothing accumulates). The
answer is parsed and its status checked, as any client would, and nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import websockets

__all__ = ["RawBinance", "RawBybit", "RawClient", "cid"]

_ids = itertools.count(1)


def cid(prefix: str) -> str:
    return f"{prefix}{next(_ids)}-{uuid.uuid4().hex[:8]}"


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class _Mux:
    """Request/response by id over one socket: one reader task, one future per request."""

    def __init__(self, ws: Any, answer_id: Callable[[dict[str, Any]], Any]):
        self.ws = ws
        self._answer_id = answer_id
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            msg = orjson.loads(frame)
            fut = self._pending.pop(self._answer_id(msg), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def call(self, rid: str, frame: str) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self.ws.send(frame)
        return await fut

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.ws.close()


class RawClient:
    """What both raw clients share: a session, a sequential socket and a multiplexed one."""

    ws_url: str

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.ws: Any = None
        self.mux: _Mux | None = None

    async def _connect(self) -> Any:
        return await websockets.connect(self.ws_url, compression=None)

    async def open(self) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await self._connect()
        self.mux = _Mux(await self._connect(), self._answer_id)

    async def close(self) -> None:
        if self.session:
            await self.session.close()
        if self.ws:
            await self.ws.close()
        if self.mux:
            await self.mux.close()

    @staticmethod
    def _answer_id(msg: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _ws_frame(self) -> tuple[str, str]:
        """(request id, signed frame) for one order."""
        raise NotImplementedError

    @staticmethod
    def _ws_ok(msg: dict[str, Any]) -> bool:
        raise NotImplementedError

    async def rest_order(self) -> Any:
        raise NotImplementedError

    async def ws_order(self) -> Any:
        rid, frame = self._ws_frame()
        await self.ws.send(frame)
        while True:
            msg = orjson.loads(await self.ws.recv())
            if self._answer_id(msg) == rid:
                assert self._ws_ok(msg), msg
                return msg

    async def ws_mux_order(self) -> Any:
        assert self.mux is not None
        rid, frame = self._ws_frame()
        msg = await self.mux.call(rid, frame)
        assert self._ws_ok(msg), msg
        return msg


class RawBinance(RawClient):
    def __init__(self, info: dict[str, Any]):
        super().__init__()
        self.key, self.secret = info["api_key"], info["api_secret"]
        self.rest = info["binance"]["rest_url"]
        self.ws_url = info["binance"]["ws_api_url"]

    async def rest_order(self) -> Any:
        assert self.session is not None
        query = (
            f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.001&price=40000"
            f"&newClientOrderId={cid('rr')}&newOrderRespType=RESULT&recvWindow=5000"
            f"&timestamp={int(time.time() * 1000)}"
        )
        url = f"{self.rest}/fapi/v1/order?{query}&signature={_sign(self.secret, query)}"
        async with self.session.post(url, headers={"X-MBX-APIKEY": self.key}) as resp:
            body = orjson.loads(await resp.read())
        assert resp.status == 200, body
        return body

    @staticmethod
    def _answer_id(msg: dict[str, Any]) -> Any:
        return msg.get("id")

    @staticmethod
    def _ws_ok(msg: dict[str, Any]) -> bool:
        return msg.get("status") == 200

    def _ws_frame(self) -> tuple[str, str]:
        params: dict[str, Any] = {
            "apiKey": self.key,
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "IOC",
            "quantity": "0.001",
            "price": "40000",
            "newClientOrderId": cid("rw"),
            "newOrderRespType": "RESULT",
            "recvWindow": 5000,
            "timestamp": int(time.time() * 1000),
        }
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        params["signature"] = _sign(self.secret, payload)
        rid = cid("id")
        return rid, orjson.dumps({"id": rid, "method": "order.place", "params": params}).decode()


class RawBybit(RawClient):
    def __init__(self, info: dict[str, Any]):
        super().__init__()
        self.key, self.secret = info["api_key"], info["api_secret"]
        self.rest = info["bybit"]["rest_url"]
        self.ws_url = info["bybit"]["ws_api_url"]

    async def _connect(self) -> Any:
        ws = await websockets.connect(self.ws_url, compression=None)
        expires = int(time.time() * 1000) + 10_000
        signature = _sign(self.secret, f"GET/realtime{expires}")
        auth = {"reqId": "auth", "op": "auth", "args": [self.key, expires, signature]}
        await ws.send(orjson.dumps(auth).decode())
        reply = orjson.loads(await ws.recv())
        assert reply.get("retCode") == 0, reply
        return ws

    def _body(self) -> dict[str, Any]:
        return {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.001",
            "price": "40000",
            "timeInForce": "IOC",
            "orderLinkId": cid("br"),
        }

    async def rest_order(self) -> Any:
        assert self.session is not None
        body = orjson.dumps(self._body())
        ts = str(int(time.time() * 1000))
        headers = {
            "X-BAPI-API-KEY": self.key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": _sign(self.secret, ts + self.key + "5000" + body.decode()),
            "Content-Type": "application/json",
        }
        async with self.session.post(f"{self.rest}/v5/order/create", data=body, headers=headers) as resp:
            reply = orjson.loads(await resp.read())
        assert reply.get("retCode") == 0, reply
        return reply

    @staticmethod
    def _answer_id(msg: dict[str, Any]) -> Any:
        return msg.get("reqId")

    @staticmethod
    def _ws_ok(msg: dict[str, Any]) -> bool:
        return msg.get("retCode") == 0

    def _ws_frame(self) -> tuple[str, str]:
        rid = cid("bw")
        frame = {
            "reqId": rid,
            "header": {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000)), "X-BAPI-RECV-WINDOW": "5000"},
            "op": "order.create",
            "args": [self._body()],
        }
        return rid, orjson.dumps(frame).decode()
