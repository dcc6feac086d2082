"""Submit→ack latency, side by side in one run, against the simulator in a separate process.

For each venue, interleaved round-robin so drift hits every path alike:
- raw REST: a hand-signed aiohttp POST on one keep-alive session (the floor for REST);
- ours REST: `Gateway.submit(..., transport=REST)` until the handle holds its ack;
- raw WS: a hand-signed request/response on one `websockets` connection (the floor for WS);
- ours WS: `Gateway.submit(..., transport=WEBSOCKET)`;
- ccxt (Binance only, when installed): `binanceusdm.create_order` against the same simulator.
Every order is a LIMIT IOC far from the mark, so it expires at once and nothing accumulates.
Then 50-in-flight throughput of our REST and WS paths.

A regression here means the gateway adds overhead on the hot path relative to the wire
itself: the targets are ours/raw ≤ 1.25 (REST) and ≤ 1.3 (WS) at the median.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import websockets

from benchmarks.simproc import simulator_process
from benchmarks.stats import summary_us
from gateway.core import Gateway
from gateway.model import OrderRequest, OrderType, Side, TimeInForce, Transport
from venues.base import Venue
from venues.binance import BinanceUsdm

Call = Callable[[], Awaitable[Any]]
_ids = itertools.count(1)


def _cid(prefix: str) -> str:
    return f"{prefix}{next(_ids)}-{uuid.uuid4().hex[:8]}"


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- raw clients


class RawBinance:
    def __init__(self, info: dict[str, Any]):
        self.key, self.secret = info["api_key"], info["api_secret"]
        self.rest = info["binance"]["rest_url"]
        self.ws_url = info["binance"]["ws_api_url"]
        self.session: aiohttp.ClientSession | None = None
        self.ws: Any = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await websockets.connect(self.ws_url, compression=None)

    async def close(self) -> None:
        if self.session:
            await self.session.close()
        if self.ws:
            await self.ws.close()

    async def rest_order(self) -> Any:
        assert self.session is not None
        query = (
            f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.001&price=40000"
            f"&newClientOrderId={_cid('rr')}&newOrderRespType=RESULT&recvWindow=5000"
            f"&timestamp={int(time.time() * 1000)}"
        )
        url = f"{self.rest}/fapi/v1/order?{query}&signature={_sign(self.secret, query)}"
        async with self.session.post(url, headers={"X-MBX-APIKEY": self.key}) as resp:
            body = orjson.loads(await resp.read())
        assert resp.status == 200, body
        return body

    async def ws_order(self) -> Any:
        params: dict[str, Any] = {
            "apiKey": self.key,
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "IOC",
            "quantity": "0.001",
            "price": "40000",
            "newClientOrderId": _cid("rw"),
            "newOrderRespType": "RESULT",
            "recvWindow": 5000,
            "timestamp": int(time.time() * 1000),
        }
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        params["signature"] = _sign(self.secret, payload)
        rid = _cid("id")
        await self.ws.send(orjson.dumps({"id": rid, "method": "order.place", "params": params}).decode())
        while True:
            msg = orjson.loads(await self.ws.recv())
            if msg.get("id") == rid:
                assert msg.get("status") == 200, msg
                return msg


class RawBybit:
    def __init__(self, info: dict[str, Any]):
        self.key, self.secret = info["api_key"], info["api_secret"]
        self.rest = info["bybit"]["rest_url"]
        self.ws_url = info["bybit"]["ws_api_url"]
        self.session: aiohttp.ClientSession | None = None
        self.ws: Any = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await websockets.connect(self.ws_url, compression=None)
        expires = int(time.time() * 1000) + 10_000
        await self.ws.send(
            orjson.dumps(
                {
                    "reqId": "auth",
                    "op": "auth",
                    "args": [self.key, expires, _sign(self.secret, f"GET/realtime{expires}")],
                }
            ).decode()
        )
        reply = orjson.loads(await self.ws.recv())
        assert reply.get("retCode") == 0, reply

    async def close(self) -> None:
        if self.session:
            await self.session.close()
        if self.ws:
            await self.ws.close()

    def _body(self) -> dict[str, Any]:
        return {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.001",
            "price": "40000",
            "timeInForce": "IOC",
            "orderLinkId": _cid("br"),
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

    async def ws_order(self) -> Any:
        rid = _cid("bw")
        frame = {
            "reqId": rid,
            "header": {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000)), "X-BAPI-RECV-WINDOW": "5000"},
            "op": "order.create",
            "args": [self._body()],
        }
        await self.ws.send(orjson.dumps(frame).decode())
        while True:
            msg = orjson.loads(await self.ws.recv())
            if msg.get("reqId") == rid:
                assert msg.get("retCode") == 0, msg
                return msg


# --------------------------------------------------------------------------- ours


def _request(venue: str, transport: Transport) -> OrderRequest:
    return OrderRequest(
        venue=venue,
        instrument="BTC/USDT:USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        price=Decimal("40000"),
        time_in_force=TimeInForce.IOC,
        transport=transport,
    )


def _ours(gw: Gateway, venue: str, transport: Transport) -> Call:
    request = _request(venue, transport)

    async def call() -> Any:
        handle = await gw.submit(request)
        receipt = handle.ack.receipt
        assert receipt.status.value == "ACCEPTED", receipt.message
        return receipt

    return call


async def _ccxt_call(info: dict[str, Any]) -> tuple[Call | None, Callable[[], Awaitable[None]] | None, str]:
    try:
        import ccxt.async_support as ccxt  # type: ignore[import-not-found]
    except ImportError:
        return None, None, "ccxt not installed (make bench installs it)"
    rest = info["binance"]["rest_url"]
    ex = ccxt.binanceusdm(
        {
            "apiKey": info["api_key"],
            "secret": info["api_secret"],
            "enableRateLimit": False,
            "options": {"fetchCurrencies": False, "adjustForTimeDifference": False, "fetchMarkets": ["linear"]},
        }
    )
    for key in list(ex.urls["api"]):
        if key.startswith("fapi"):
            version = "v1"
            for v in ("V2", "V3"):
                if key.endswith(v):
                    version = v.lower()
            ex.urls["api"][key] = f"{rest}/fapi/{version}"
    try:
        await ex.load_markets()

        async def call() -> Any:
            return await ex.create_order(
                "BTC/USDT:USDT", "limit", "buy", 0.001, 40000, {"timeInForce": "IOC", "newClientOrderId": _cid("cx")}
            )

        await call()
        return call, ex.close, ""
    except Exception as exc:  # ccxt is a comparison, never a blocker
        await ex.close()
        return None, None, f"ccxt failed against the simulator: {exc.__class__.__name__}: {str(exc)[:160]}"


# --------------------------------------------------------------------------- measurement


async def _interleaved(calls: dict[str, Call], n: int, warmup: int) -> dict[str, list[float]]:
    for _ in range(warmup):
        for call in calls.values():
            await call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    perf = time.perf_counter
    for _ in range(n):
        for name, call in calls.items():
            t0 = perf()
            await call()
            samples[name].append(perf() - t0)
    return samples


async def _throughput(call: Call, total: int, in_flight: int) -> float:
    counter = itertools.count()

    async def worker() -> None:
        while next(counter) < total:
            await call()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return total / (time.perf_counter() - t0)


def _venue(kind: str, info: dict[str, Any]) -> Venue:
    urls = info[kind]
    if kind == "binance":
        cls: Any = BinanceUsdm
    else:
        from venues.bybit import BybitLinear

        cls = BybitLinear
    return cls(  # type: ignore[no-any-return]
        info["api_key"],
        info["api_secret"],
        rest_url=urls["rest_url"],
        ws_api_url=urls["ws_api_url"],
        stream_url=urls["stream_url"],
    )


async def main(quick: bool = False) -> dict[str, Any]:
    n, warmup, total = (150, 20, 500) if quick else (500, 50, 2000)
    results: dict[str, Any] = {"iterations": n}
    async with simulator_process(seed=1) as info:
        for kind, raw_cls in (("binance", RawBinance), ("bybit", RawBybit)):
            try:
                venue = _venue(kind, info)
            except ImportError as exc:
                results[kind] = {"skipped": f"adapter not built: {exc}"}
                continue
            raw = raw_cls(info)
            await raw.open()
            async with Gateway(venues=[venue], reconcile=None) as gw:
                calls: dict[str, Call] = {
                    "raw_rest": raw.rest_order,
                    "ours_rest": _ours(gw, kind, Transport.REST),
                    "raw_ws": raw.ws_order,
                    "ours_ws": _ours(gw, kind, Transport.WEBSOCKET),
                }
                ccxt_close = None
                if kind == "binance":
                    ccxt_call, ccxt_close, note = await _ccxt_call(info)
                    if ccxt_call is not None:
                        calls["ccxt_rest"] = ccxt_call
                    else:
                        results["ccxt_note"] = note
                samples = await _interleaved(calls, n, warmup)
                venue_result: dict[str, Any] = {name: summary_us(s) for name, s in samples.items()}
                venue_result["ratio_rest"] = round(
                    venue_result["ours_rest"]["median_us"] / venue_result["raw_rest"]["median_us"], 3
                )
                venue_result["ratio_ws"] = round(
                    venue_result["ours_ws"]["median_us"] / venue_result["raw_ws"]["median_us"], 3
                )
                if "ccxt_rest" in venue_result:
                    venue_result["ratio_ccxt_rest"] = round(
                        venue_result["ccxt_rest"]["median_us"] / venue_result["raw_rest"]["median_us"], 3
                    )
                venue_result["throughput_50_in_flight"] = {
                    "ours_rest_per_s": round(await _throughput(calls["ours_rest"], total, 50)),
                    "ours_ws_per_s": round(await _throughput(calls["ours_ws"], total, 50)),
                }
                if ccxt_close is not None:
                    await ccxt_close()
            await raw.close()
            results[kind] = venue_result
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(main(quick=True)), indent=2))
