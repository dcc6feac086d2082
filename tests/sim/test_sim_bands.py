"""Price bands as the venues apply them (issue 21): Binance refuses a LIMIT price outside PERCENT_PRICE of the
mark (-4016 above, -4024 below; a modify too, leaving the order as it was); Bybit moves an out-of-band
price to the band's edge and accepts, and refuses with 110003 only for an account that switched that off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest_asyncio

from tests.sim.test_sim_binance import Raw as BinanceRaw
from tests.sim.test_sim_bybit import Raw as BybitRaw
from tests.sim.test_sim_bybit import order_body
from venues.bybit.schemas.parse import order_report
from venues.sim import SimExchange


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=7) as s:
        yield s


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _binance_order(cid: str, side: str, price: str) -> str:
    return f"symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce=GTC&quantity=0.010&price={price}&newClientOrderId={cid}"


async def test_binance_refuses_a_price_outside_percent_price(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BinanceRaw(sim, session)
    _, info, _ = await raw.call("GET", "/fapi/v1/exchangeInfo")
    (band,) = [f for s in info["symbols"] if s["symbol"] == "BTCUSDT" for f in s["filters"]
               if f["filterType"] == "PERCENT_PRICE"]  # fmt: skip
    up, down = Decimal(band["multiplierUp"]), Decimal(band["multiplierDown"])
    assert (up, down) == (Decimal("1.05"), Decimal("0.95"))  # mark 50000: BUY <= 52500, SELL >= 47500
    status, body, _ = await raw.call("POST", "/fapi/v1/order", _binance_order("hi", "BUY", "52500.1"))
    assert (status, body["code"]) == (400, -4016)
    status, body, _ = await raw.call("POST", "/fapi/v1/order", _binance_order("lo", "SELL", "47499.9"))
    assert (status, body["code"]) == (400, -4024)
    assert sim.truth.orders_for("hi") == [] and sim.truth.orders_for("lo") == []
    status, body, _ = await raw.call("POST", "/fapi/v1/order", _binance_order("edge", "BUY", "52500.0"))
    edge = sim.truth.order("edge", "binance")
    assert status == 200 and edge is not None and edge.status == "FILLED"  # at the cap: accepted, and it crosses
    status, body, _ = await raw.call("POST", "/fapi/v1/order", _binance_order("far-buy", "BUY", "20000.0"))
    assert status == 200  # a BUY far below the mark is not capped

    # the band moves with the mark; a modify is held to it and a refused one changes nothing
    sim.set_mark("BTCUSDT", Decimal("30000"), venue="binance")
    status, body, _ = await raw.call("PUT", "/fapi/v1/order", "symbol=BTCUSDT&side=BUY&quantity=0.010&price=31500.1"
                                     "&origClientOrderId=far-buy")  # fmt: skip
    assert (status, body["code"]) == (400, -4016)
    far = sim.truth.order("far-buy", "binance")
    assert far is not None and (far.price, far.status) == (Decimal("20000.0"), "NEW")

    sim.binance.state.enforce_percent_price = False
    status, _, _ = await raw.call("POST", "/fapi/v1/order", _binance_order("off", "SELL", "1000.0"))
    assert status == 200


async def test_bybit_moves_an_out_of_band_price_to_the_edge(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BybitRaw(sim, session)
    base = sim.bybit.rest_url
    async with session.get(f"{base}/v5/market/price-limit?category=linear&symbol=BTCUSDT") as r:
        limit = (await r.json())["result"]
    assert (limit["buyLmt"], limit["sellLmt"]) == ("52500.00", "47500.00")  # mark 50000, X = 0.05
    async with session.get(f"{base}/v5/market/instruments-info?category=linear&symbol=BTCUSDT") as r:
        risk = (await r.json())["result"]["list"][0]["riskParameters"]
    assert risk == {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"}

    # a SELL below the band is accepted at the band's floor, and rests there
    ack = await raw.create("sell-low", side="Sell", price="47000", qty="0.010")
    assert ack["retCode"] == 0
    sold = sim.truth.order("sell-low", "bybit")
    assert sold is not None and sold.price == Decimal("47500.00") and sold.status == "FILLED"  # crossed the mark
    ack = await raw.create("sell-rest", side="Sell", price="60000", qty="0.010")
    rest = sim.truth.order("sell-rest", "bybit")
    assert ack["retCode"] == 0 and rest is not None and (rest.price, rest.status) == (Decimal("60000"), "NEW")
    # an amend is held to the band too: moved to the floor, and it then crosses
    status, body, _ = await raw.post("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT",
                                                         "orderLinkId": "sell-rest", "price": "40000"})  # fmt: skip
    assert body["retCode"] == 0 and rest.price == Decimal("47500.00")

    # an account that switched the adjustment off is refused with 110003, and nothing is created
    status, body, _ = await raw.post("/v5/account/set-limit-px-action", {"category": "linear", "modifyEnable": False})
    assert (status, body["retCode"]) == (200, 0)
    status, body, _ = await raw.post("/v5/order/create", order_body("buy-high", price="53000"))
    assert (status, body["retCode"]) == (200, 110003)
    assert sim.truth.orders_for("buy-high") == []
    await raw.post("/v5/account/set-limit-px-action", {"category": "linear", "modifyEnable": True})
    assert (await raw.create("buy-high-2", price="53000"))["retCode"] == 0
    high = sim.truth.order("buy-high-2", "bybit")
    assert high is not None and high.price == Decimal("52500.00")


async def test_a_bybit_market_order_shows_its_protection_price(
    sim: SimExchange, session: aiohttp.ClientSession
) -> None:
    raw = BybitRaw(sim, session)
    ack = await raw.create("mkt", orderType="Market", price=None, qty="0.010")
    assert ack["retCode"] == 0
    status, body, _ = await raw.get("/v5/order/history", "category=linear&symbol=BTCUSDT&orderLinkId=mkt")
    assert status == 200
    (item,) = body["result"]["list"]
    # as on the venue (fixture bybit-ccxt-Y3): the bound X beyond the fill, not a limit of ours
    assert (item["orderType"], item["avgPrice"], item["price"]) == ("Market", "50000.00", "52500.00")
    report = order_report(item, venue="bybit", unify=lambda s: "BTC/USDT:USDT")
    assert report.price is None and report.average_price == Decimal("50000")
