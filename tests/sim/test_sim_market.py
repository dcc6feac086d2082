"""Market data and account settings in both dialects (issue 21): the shapes clients read, consistent with
the matching model (ask = mark, bid one tick below, resting orders deeper, candles and 24 h figures from
the engine's fills), and settings kept per account and symbol."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import orjson
import pytest_asyncio
import websockets

from tests.sim.test_sim_binance import Raw as BinanceRaw
from tests.sim.test_sim_binance import ws_request
from tests.sim.test_sim_bybit import Raw as BybitRaw
from venues.sim import SimExchange


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=5) as s:
        yield s


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _public(s: aiohttp.ClientSession, url: str) -> object:
    async with s.get(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_binance_book_ticker_and_candles_follow_the_engine(
    sim: SimExchange, session: aiohttp.ClientSession
) -> None:
    raw = BinanceRaw(sim, session)
    base = sim.binance.rest_url
    status, _, _ = await raw.call("POST", "/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
                                  "&quantity=0.010&price=49000.0&newClientOrderId=rest-1")  # fmt: skip
    assert status == 200
    status, filled, _ = await raw.call("POST", "/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.002"
                                       "&newClientOrderId=mkt-1&newOrderRespType=RESULT")  # fmt: skip
    assert status == 200 and filled["status"] == "FILLED"
    book = await _public(session, f"{base}/fapi/v1/depth?symbol=BTCUSDT&limit=5")
    assert isinstance(book, dict)
    assert book["asks"][0] == ["50000.00", "1000.000"] and book["bids"][0] == ["49999.90", "1000.000"]
    assert ["49000.00", "0.010"] in book["bids"]  # the resting order, deeper in the book
    ticker = await _public(session, f"{base}/fapi/v1/ticker/bookTicker?symbol=BTCUSDT")
    assert isinstance(ticker, dict) and (ticker["bidPrice"], ticker["askPrice"]) == ("49999.90", "50000.00")
    day = await _public(session, f"{base}/fapi/v1/ticker/24hr?symbol=BTCUSDT")
    assert isinstance(day, dict) and (day["lastPrice"], day["volume"], day["count"]) == ("50000.00", "0.002", 1)
    everything = await _public(session, f"{base}/fapi/v1/ticker/24hr")
    assert isinstance(everything, list) and len(everything) == len(sim.binance.engine.instruments)
    candles = await _public(session, f"{base}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=3")
    assert isinstance(candles, list) and len(candles) == 3
    assert candles[-1][1:6] == ["50000.00", "50000.00", "50000.00", "50000.00", "0.002"] and candles[-1][8] == 1
    assert [c[0] for c in candles] == sorted(c[0] for c in candles)  # oldest first
    async with session.get(f"{base}/fapi/v1/klines?symbol=BTCUSDT&interval=7m") as r:
        assert (r.status, (await r.json())["code"]) == (400, -1120)
    assert sim.unserved == []


async def test_binance_account_settings(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BinanceRaw(sim, session)
    status, brackets, _ = await raw.call("GET", "/fapi/v1/leverageBracket")
    assert status == 200 and {b["symbol"] for b in brackets} == set(sim.binance.engine.instruments)
    first = brackets[0]["brackets"]
    assert first[0]["initialLeverage"] == 125 and first[0]["notionalFloor"] == 0
    assert all(a["notionalCap"] == b["notionalFloor"] for a, b in itertools.pairwise(first))
    status, body, _ = await raw.call("POST", "/fapi/v1/leverage", "symbol=BTCUSDT&leverage=7")
    assert (status, body["leverage"], body["symbol"]) == (200, 7, "BTCUSDT")
    status, body, _ = await raw.call("POST", "/fapi/v1/leverage", "symbol=BTCUSDT&leverage=126")
    assert (status, body["code"]) == (400, -4028)
    status, body, _ = await raw.call("POST", "/fapi/v1/marginType", "symbol=BTCUSDT&marginType=CROSSED")
    assert (status, body["code"]) == (400, -4046)  # already cross: nothing to change
    status, body, _ = await raw.call("GET", "/fapi/v1/commissionRate", "symbol=BTCUSDT")
    assert (status, Decimal(body["takerCommissionRate"])) == (200, sim.binance.engine.fee_rate)
    status, body, _ = await raw.call("GET", "/fapi/v1/positionSide/dual")
    assert (status, body) == (200, {"dualSidePosition": False})
    status, coins, _ = await raw.call("GET", "/sapi/v1/capital/config/getall")
    assert status == 200 and {"USDT", "BTC"} <= {c["coin"] for c in coins}
    status, _, _ = await raw.call("GET", "/fapi/v1/commissionRate", "symbol=BTCUSDT", secret="wrong")
    assert status == 400  # signed like every USER_DATA endpoint
    assert sim.unserved == []


async def test_bybit_book_candles_and_account_reads(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BybitRaw(sim, session)
    base = sim.bybit.rest_url
    await raw.create("rest-1", price="49000")
    status, body, _ = await raw.post(
        "/v5/order/create",
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Market",
            "qty": "0.002",
            "orderLinkId": "m-1",
        },
    )
    assert (status, body["retCode"]) == (200, 0)
    book = await _public(session, f"{base}/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=5")
    assert isinstance(book, dict)
    result = book["result"]
    assert result["a"][0] == ["50000.00", "1000.000"] and result["b"][0] == ["49999.90", "1000.000"]
    assert ["49000.00", "0.010"] in result["b"]
    candles = await _public(session, f"{base}/v5/market/kline?category=linear&symbol=BTCUSDT&interval=1&limit=2")
    assert isinstance(candles, dict)
    rows = candles["result"]["list"]
    assert len(rows) == 2 and int(rows[0][0]) > int(rows[1][0])  # newest first
    assert rows[0][1:6] == ["50000.00", "50000.00", "50000.00", "50000.00", "0.002"]
    status, body, _ = await raw.get("/v5/asset/coin/query-info", "")
    assert status == 200 and {"USDT", "BTC"} <= {row["coin"] for row in body["result"]["rows"]}
    status, body, _ = await raw.get("/v5/user/query-api", "")
    assert (body["retCode"], body["result"]["uta"], body["result"]["readOnly"], body["result"]["secret"]) == (
        0,
        1,
        0,
        "",
    )
    status, body, _ = await raw.get("/v5/account/fee-rate", "category=linear&symbol=BTCUSDT")
    assert Decimal(body["result"]["list"][0]["takerFeeRate"]) == sim.bybit.engine.fee_rate
    lev = {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "5", "sellLeverage": "5"}
    assert (await raw.post("/v5/position/set-leverage", lev))[1]["retCode"] == 0
    assert (await raw.post("/v5/position/set-leverage", lev))[1]["retCode"] == 110043  # already 5x
    hedge = {"category": "linear", "symbol": "BTCUSDT", "mode": 3}
    assert (await raw.post("/v5/position/switch-mode", hedge))[1]["retCode"] == 110029
    for category in ("spot", "inverse", "option"):
        listing = await _public(session, f"{base}/v5/market/instruments-info?category={category}")
        assert isinstance(listing, dict) and listing["result"]["list"] == []
    assert sim.unserved == []


async def test_binance_ws_api_account_reads_and_the_bare_ws_stream(
    sim: SimExchange, session: aiohttp.ClientSession
) -> None:
    raw = BinanceRaw(sim, session)
    status, _, _ = await raw.call("POST", "/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.002"
                                  "&newClientOrderId=acct-1")  # fmt: skip
    assert status == 200
    _, rest_account, _ = await raw.call("GET", "/fapi/v2/account")
    async with websockets.connect(sim.binance.ws_api_url) as api:
        for n, method in enumerate(("account.status", "v2/account.balance", "account.position")):
            await api.send(ws_request(raw, f"a{n}", method, {"symbol": "BTCUSDT"} if "position" in method else {}))
            answer = orjson.loads(await api.recv())
            assert (answer["id"], answer["status"]) == (f"a{n}", 200), answer
            if method == "account.status":
                assert answer["result"]["totalWalletBalance"] == rest_account["totalWalletBalance"]
            elif method.endswith("balance"):
                assert answer["result"][0]["asset"] == "USDT"
            else:
                assert [(p["symbol"], p["positionAmt"]) for p in answer["result"]] == [("BTCUSDT", "0.002")]
        await api.send(ws_request(raw, "bad", "account.status", {}, secret="wrong"))
        assert orjson.loads(await api.recv())["error"]["code"] == -1022
    # the bare form: connect to /ws, then SUBSCRIBE with the listenKey
    async with session.post(f"{sim.binance.rest_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": raw.key}) as r:
        key = (await r.json())["listenKey"]
    async with websockets.connect(f"{sim.binance.stream_url}/ws") as bare:
        await bare.send(orjson.dumps({"method": "SUBSCRIBE", "params": [key], "id": 7}).decode())
        assert orjson.loads(await bare.recv()) == {"result": None, "id": 7}
        await raw.call("POST", "/fapi/v1/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.010"
                       "&price=49000&newClientOrderId=bare-1")  # fmt: skip
        event = orjson.loads(await asyncio.wait_for(bare.recv(), 5))
        assert (event["e"], event["o"]["c"]) == ("ORDER_TRADE_UPDATE", "bare-1")  # raw events, no envelope
    assert sim.unserved == []
