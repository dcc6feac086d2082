"""The simulator's Binance dialect driven by raw aiohttp and raw ``websockets`` (never our adapter)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
import websockets

from tests.fixtures import fixture_entries
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind

ENTRIES = fixture_entries("binance_usdm")


class Raw:
    """A hand-written Binance client: signed query strings, X-MBX-APIKEY."""

    def __init__(self, sim: SimExchange, session: aiohttp.ClientSession):
        self.sim, self.s, self.url = sim, session, sim.binance.rest_url
        self.key, self.secret = sim.api_key, sim.api_secret

    def signed(self, query: str, *, ts: int | None = None, secret: str | None = None) -> str:
        q = f"{query}&timestamp={ts if ts is not None else int(time.time() * 1000)}".lstrip("&")
        sig = hmac.new((secret or self.secret).encode(), q.encode(), hashlib.sha256).hexdigest()
        return f"{q}&signature={sig}"

    async def call(self, method: str, path: str, query: str = "", **kw: Any) -> tuple[int, Any, dict[str, str]]:
        headers = {"X-MBX-APIKEY": kw.pop("key", self.key)}
        url = f"{self.url}{path}?{self.signed(query, **kw)}"
        async with self.s.request(method, url, headers=headers) as r:
            raw = await r.read()
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = raw
            return r.status, body, dict(r.headers)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=3) as s:
        yield s


@pytest_asyncio.fixture
async def raw(sim: SimExchange) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as s:
        yield Raw(sim, s)


def order_q(cid: str, price: str = "49000", resp: str = "RESULT") -> str:
    return (
        f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.010&price={price}"
        f"&newClientOrderId={cid}&newOrderRespType={resp}"
    )


def same_keys(ours: dict[str, Any], entry_id: str) -> None:
    recorded = ENTRIES[entry_id]["response"]
    recorded = recorded[0] if isinstance(recorded, list) else recorded
    assert set(ours) == set(recorded), set(ours) ^ set(recorded)


async def test_public_endpoints(raw: Raw) -> None:
    async with raw.s.get(f"{raw.url}/fapi/v1/time") as r:
        assert r.status == 200 and isinstance((await r.json())["serverTime"], int)
        assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    async with raw.s.get(f"{raw.url}/fapi/v1/exchangeInfo") as r:
        info = await r.json()
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    kinds = {f["filterType"] for f in btc["filters"]}
    assert {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "MIN_NOTIONAL", "PERCENT_PRICE", "MAX_NUM_ORDERS"} <= kinds
    assert info["rateLimits"][0]["limit"] == 2400
    assert set(info) == set(ENTRIES["binance-naut-N2"]["response"])
    async with raw.s.get(f"{raw.url}/fapi/v1/premiumIndex?symbol=BTCUSDT") as r:
        assert (await r.json())["markPrice"].startswith("50000")
    async with raw.s.get(f"{raw.url}/fapi/v1/premiumIndex") as r:
        assert len(await r.json()) == len(info["symbols"])


async def test_rest_place_query_cancel_with_fixture_shapes(raw: Raw, sim: SimExchange) -> None:
    status, body, headers = await raw.call("POST", "/fapi/v1/order", order_q("raw-1"))
    assert status == 200, body
    same_keys(body, "binance-b404-X1")
    assert isinstance(body["orderId"], int) and isinstance(body["updateTime"], int) and isinstance(body["price"], str)
    assert headers["X-MBX-ORDER-COUNT-10S"] == "1" and "X-MBX-ORDER-COUNT-1M" in headers
    status, got, _ = await raw.call("GET", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=raw-1")
    same_keys(got, "binance-naut-N11")
    assert isinstance(got["time"], int)
    status, got, _ = await raw.call("GET", "/fapi/v1/openOrder", f"symbol=BTCUSDT&orderId={body['orderId']}")
    same_keys(got, "binance-ccxt-C2")
    status, lst, _ = await raw.call("GET", "/fapi/v1/openOrders", "symbol=BTCUSDT")
    same_keys(lst[0], "binance-b404-X3")
    sim.binance.engine.fill(str(body["orderId"]), Decimal("0.004"))
    status, trades, _ = await raw.call("GET", "/fapi/v1/userTrades", "symbol=BTCUSDT")
    same_keys(trades[0], "binance-ccxt-C3")
    assert isinstance(trades[0]["id"], int)
    status, got, _ = await raw.call("DELETE", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=raw-1")
    assert status == 200 and got["status"] == "CANCELED"
    status, got, _ = await raw.call("DELETE", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=raw-1")
    assert (status, got["code"]) == (400, -2011)
    status, got, _ = await raw.call("GET", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=nope")
    assert (status, got["code"]) == (400, -2013)
    status, hist, _ = await raw.call("GET", "/fapi/v1/allOrders", "symbol=BTCUSDT&limit=1000")
    assert [o["clientOrderId"] for o in hist] == ["raw-1"]
    status, got, _ = await raw.call("GET", "/fapi/v1/allOrders", "symbol=BTCUSDT&startTime=0&endTime=900000000")
    assert status == 400 and got["code"] == -1127
    status, pos, _ = await raw.call("GET", "/fapi/v3/positionRisk", "")
    same_keys(pos[0], "binance-ccxt-C5")
    attempts = sim.truth.attempts("raw-1")
    assert [a.outcome for a in attempts] == ["created", "canceled", "rejected:-2011"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (order_q("x1", price="49000.05"), -4014),
        (order_q("x2").replace("quantity=0.010", "quantity=0.0105"), -4023),
        (order_q("x3", price="400").replace("quantity=0.010", "quantity=0.001"), -4164),
        (order_q("x4") + "&reduceOnly=true", -2022),
        (order_q("x5").replace("timeInForce=GTC", "timeInForce=GTX").replace("price=49000", "price=51000"), -5022),
        (order_q("x6").replace("BTCUSDT", "NOPEUSDT"), -1121),
        (order_q("x7").replace("&quantity=0.010", ""), -1102),
        (order_q("a" * 37), -4015),
        (order_q("x8").replace("type=LIMIT", "type=STOP_MARKET"), -4120),
    ],
)
async def test_business_errors(raw: Raw, query: str, code: int) -> None:
    status, body, _ = await raw.call("POST", "/fapi/v1/order", query)
    assert (status, body["code"]) == (400, code), body
    assert set(body) == {"code", "msg"}


async def test_duplicate_client_id(raw: Raw) -> None:
    await raw.call("POST", "/fapi/v1/order", order_q("dup"))
    status, body, _ = await raw.call("POST", "/fapi/v1/order", order_q("dup"))
    assert (status, body["code"]) == (400, -4116)


async def test_auth_signature_and_clock(raw: Raw) -> None:
    async with raw.s.post(f"{raw.url}/fapi/v1/order?{raw.signed(order_q('a1'))}") as r:
        assert (r.status, (await r.json())["code"]) == (401, -2014)
    status, body, _ = await raw.call("POST", "/fapi/v1/order", order_q("a2"), key="unknown")
    assert (status, body["code"]) == (401, -2015)
    status, body, _ = await raw.call("POST", "/fapi/v1/order", order_q("a3"), secret="wrong")
    assert (status, body["code"]) == (400, -1022)
    status, body, _ = await raw.call("POST", "/fapi/v1/order", order_q("a4"), ts=int(time.time() * 1000) - 10_000)
    assert (status, body["code"]) == (400, -1021)
    status, body, _ = await raw.call("POST", "/fapi/v1/order", order_q("a5"), ts=int(time.time() * 1000) + 2000)
    assert (status, body["code"]) == (400, -1021)
    status, body, _ = await raw.call("POST", "/fapi/v1/order", order_q("a6") + "&recvWindow=70000")
    assert (status, body["code"]) == (400, -1102)


async def test_query_plus_body_signature(raw: Raw) -> None:
    ts = int(time.time() * 1000)
    query, body = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC", f"quantity=0.010&price=49000&timestamp={ts}"
    sig = hmac.new(raw.secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
    async with raw.s.post(
        f"{raw.url}/fapi/v1/order?{query}",
        data=f"{body}&signature={sig}",
        headers={"X-MBX-APIKEY": raw.key, "Content-Type": "application/x-www-form-urlencoded"},
    ) as r:
        assert r.status == 200, await r.text()


async def test_weight_limit_then_ban(raw: Raw, sim: SimExchange) -> None:
    sim.binance.state["weight_limit"] = 3
    sim.binance.state["ban_after_429"] = 1
    statuses = []
    for _ in range(6):
        async with raw.s.get(f"{raw.url}/fapi/v1/time") as r:
            statuses.append(r.status)
            if r.status in (429, 418):
                assert (await r.json())["code"] == -1003 and "Retry-After" in r.headers
    assert statuses[:3] == [200, 200, 200] and 429 in statuses and statuses[-1] == 418


@pytest.mark.parametrize(
    ("fault", "executed", "status"),
    [
        (Fault(FaultKind.ACCEPT_THEN_5XX), True, 503),
        (Fault(FaultKind.ACCEPT_THEN_5XX, status=502), True, 502),
        (Fault(FaultKind.REJECT_THEN_5XX), False, 503),
        (Fault(FaultKind.UNKNOWN_CODE, code=-1007, executed=True), True, 408),
        (Fault(FaultKind.UNKNOWN_CODE, code=-1006, executed=False), False, 503),
        (Fault(FaultKind.REJECT_CODE, code=-2019), False, 400),
        (Fault(FaultKind.RATE_LIMIT), False, 429),
        (Fault(FaultKind.RATE_LIMIT, status=418), False, 418),
        (Fault(FaultKind.MALFORMED_2XX), True, 200),
        (Fault(FaultKind.DELAYED_VISIBILITY, delay_seconds=30), True, 200),
    ],
    ids=lambda v: getattr(v, "kind", v) if isinstance(v, Fault) else str(v),
)
async def test_rest_write_faults(raw: Raw, sim: SimExchange, fault: Fault, executed: bool, status: int) -> None:
    sim.faults.add(Fault(**{**fault.__dict__, "venue": "binance", "client_order_id": "f1"}))
    got, body, headers = await raw.call("POST", "/fapi/v1/order", order_q("f1"))
    assert got == status
    assert bool(sim.truth.orders_for("f1")) is executed
    (attempt,) = sim.truth.attempts("f1")
    assert attempt.fault == fault.kind.value
    if fault.kind is FaultKind.MALFORMED_2XX:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(body)
    if fault.kind is FaultKind.RATE_LIMIT:
        assert "Retry-After" in headers
    if fault.kind is FaultKind.DELAYED_VISIBILITY:
        _, q, _ = await raw.call("GET", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=f1")
        assert q["code"] == -2013  # hidden from reads, though it exists


@pytest.mark.parametrize("kind", [FaultKind.ACCEPT_THEN_TIMEOUT, FaultKind.ACCEPT_THEN_RESET])
async def test_rest_connection_faults(raw: Raw, sim: SimExchange, kind: FaultKind) -> None:
    sim.faults.add(Fault(kind, venue="binance", client_order_id="t1", delay_seconds=0.2))
    with pytest.raises((aiohttp.ClientError, asyncio.TimeoutError)):
        async with asyncio.timeout(2):
            await raw.call("POST", "/fapi/v1/order", order_q("t1"))
    assert sim.truth.order("t1") is not None


async def test_read_faults(raw: Raw, sim: SimExchange) -> None:
    sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, venue="binance", operation="query"))
    sim.faults.add(Fault(FaultKind.RATE_LIMIT, venue="binance", operation="query"))
    assert (await raw.call("GET", "/fapi/v1/openOrders", "symbol=BTCUSDT"))[0] == 503
    assert (await raw.call("GET", "/fapi/v1/allOrders", "symbol=BTCUSDT"))[0] == 429
    assert (await raw.call("GET", "/fapi/v1/userTrades", "symbol=BTCUSDT"))[0] == 200


def ws_request(raw: Raw, rid: str, method: str, params: dict[str, Any], secret: str | None = None) -> str:
    params = {**params, "apiKey": raw.key, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = hmac.new((secret or raw.secret).encode(), payload.encode(), hashlib.sha256).hexdigest()
    return orjson.dumps({"id": rid, "method": method, "params": params}).decode()


PLACE = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010",
         "price": "49000", "newOrderRespType": "RESULT"}  # fmt: skip


async def test_ws_api_and_user_stream(raw: Raw, sim: SimExchange) -> None:
    async with raw.s.post(f"{raw.url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": raw.key}) as r:
        key = (await r.json())["listenKey"]
    base = sim.binance.stream_url
    async with (
        websockets.connect(sim.binance.ws_api_url) as api,
        websockets.connect(f"{base}/ws/{key}") as legacy,
        websockets.connect(f"{base}/private/ws?listenKey={key}") as routed,
        websockets.connect(f"{base}/private/ws/{key}") as routed_path,
        websockets.connect(f"{base}/private/stream") as sub,
    ):
        await sub.send(orjson.dumps({"method": "SUBSCRIBE", "params": [key], "id": 1}).decode())
        assert orjson.loads(await sub.recv()) == {"result": None, "id": 1}
        await api.send(ws_request(raw, "1", "order.place", {**PLACE, "newClientOrderId": "ws-1"}))
        answer = orjson.loads(await api.recv())
        assert answer["status"] == 200 and answer["id"] == "1"
        same_keys(answer["result"], "binance-b404-X1")
        assert {r["rateLimitType"] for r in answer["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
        for conn in (legacy, routed, routed_path):
            event = orjson.loads(await asyncio.wait_for(conn.recv(), 2))
            assert event["e"] == "ORDER_TRADE_UPDATE" and event["o"]["c"] == "ws-1" and event["o"]["x"] == "NEW"
            assert set(event["o"]) >= set(ENTRIES["binance-naut-N3"]["response"]["o"]) - {"N", "n", "AP", "cr"}
            assert isinstance(event["o"]["i"], int)
        wrapped = orjson.loads(await asyncio.wait_for(sub.recv(), 2))
        assert wrapped["stream"] == key and wrapped["data"]["e"] == "ORDER_TRADE_UPDATE"
        await api.send(ws_request(raw, "2", "order.status", {"symbol": "BTCUSDT", "origClientOrderId": "ws-1"}))
        assert orjson.loads(await api.recv())["result"]["status"] == "NEW"
        sim.binance.engine.fill(answer["result"]["orderId"].__str__(), Decimal("0.010"))
        trade = orjson.loads(await asyncio.wait_for(legacy.recv(), 2))
        assert (trade["o"]["x"], trade["o"]["X"]) == ("TRADE", "FILLED")
        account = orjson.loads(await asyncio.wait_for(legacy.recv(), 2))
        assert account["e"] == "ACCOUNT_UPDATE" and set(account["a"]) == {"m", "B", "P"}
        await api.send(ws_request(raw, "3", "order.cancel", {"symbol": "BTCUSDT", "origClientOrderId": "ws-1"}))
        err = orjson.loads(await api.recv())
        assert (err["status"], err["error"]["code"]) == (400, -2011)
        await api.send(ws_request(raw, "4", "order.place", {**PLACE, "newClientOrderId": "ws-2"}, secret="bad"))
        assert orjson.loads(await api.recv())["error"]["code"] == -1022
        sim.binance.state["dialect"].expire_listen_key(key)
        expired = orjson.loads(await asyncio.wait_for(legacy.recv(), 2))
        assert expired["e"] == "listenKeyExpired" and isinstance(expired["E"], str)


async def test_ws_drop_fault(raw: Raw, sim: SimExchange) -> None:
    sim.faults.add(Fault(FaultKind.WS_DROP, venue="binance", client_order_id="wd", executed=True))
    async with websockets.connect(sim.binance.ws_api_url) as api:
        await api.send(ws_request(raw, "1", "order.place", {**PLACE, "newClientOrderId": "wd"}))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(api.recv(), 2)
    assert sim.truth.order("wd") is not None
    assert [a.transport for a in sim.truth.attempts("wd")] == ["ws"]


async def test_stream_duplicate_fault(raw: Raw, sim: SimExchange) -> None:
    async with raw.s.post(f"{raw.url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": raw.key}) as r:
        key = (await r.json())["listenKey"]
    sim.faults.add(Fault(FaultKind.STREAM_DUPLICATE, venue="binance"))
    async with websockets.connect(f"{sim.binance.stream_url}/ws/{key}") as stream:
        await raw.call("POST", "/fapi/v1/order", order_q("sd"))
        first = await asyncio.wait_for(stream.recv(), 2)
        second = await asyncio.wait_for(stream.recv(), 2)
        assert first == second


async def test_gateway_sim_fixture_serves_binance(gateway_sim: SimExchange) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{gateway_sim.binance.rest_url}/fapi/v1/time") as r:
        assert r.status == 200
