"""ccxt against ``gateway sim`` (issue 21): binanceusdm and bybit with their default options, only URLs and keys
changed, run the whole round trip, each answer checked against the simulator's ground truth; ccxt.pro's
``watch_orders`` reads the private streams."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest

from tests.conformance.conftest import Served, rehost
from venues.sim.engine import SimOrder

SYMBOL = "BTC/USDT:USDT"
NATIVE = "BTCUSDT"


def _client(module: Any, name: str, served: Served) -> Any:
    sim = served.sim
    ex = getattr(module, name)({"apiKey": sim.api_key, "secret": sim.api_secret})
    ex.urls["api"] = rehost(ex.urls["api"], sim.base_url)
    return ex


def _truth(served: Served, venue: str, cid: str) -> SimOrder:
    order = served.call(lambda: served.sim.truth.order(cid, venue))
    assert order is not None, f"{venue}: no order {cid!r} on the simulator"
    return order


def _by_client_id(ex: Any, venue: str, cid: str) -> dict[str, Any]:
    """The order with client id ``cid``, asked for by that id (Binance ``origClientOrderId``, Bybit ``orderLinkId``)."""
    if venue == "binance":
        return dict(ex.fetch_order(None, SYMBOL, {"origClientOrderId": cid}))
    (order,) = ex.fetch_open_orders(SYMBOL, None, None, {"orderLinkId": cid})
    return dict(order)


def _round_trip(served: Served, ex: Any, venue: str) -> None:
    """The round trip every venue runs."""
    engine = served.sim.venues[venue].engine
    markets = ex.load_markets()
    assert SYMBOL in markets and markets[SYMBOL]["id"] == NATIVE
    assert abs(ex.fetch_time() - served.call(lambda: served.sim.venues[venue].state.server_ms())) < 5_000
    assert ex.fetch_ticker(SYMBOL)["last"] == 50000
    book = ex.fetch_order_book(SYMBOL, 5)
    assert book["asks"][0][0] == 50000 and book["bids"][0][0] < 50000
    assert len(ex.fetch_ohlcv(SYMBOL, "1m", limit=3)) == 3
    assert ex.fetch_balance()["USDT"]["total"] == float(served.call(lambda: engine.balance(served.sim.api_key)))
    assert [p for p in ex.fetch_positions([SYMBOL]) if p["contracts"]] == []

    limit = ex.create_order(SYMBOL, "limit", "buy", 0.01, 49000, {"clientOrderId": f"{venue}-limit"})
    truth = _truth(served, venue, f"{venue}-limit")
    assert (limit["id"], truth.status, truth.price) == (truth.order_id, "NEW", Decimal("49000"))
    fetched = _by_client_id(ex, venue, f"{venue}-limit")
    assert (fetched["id"], fetched["clientOrderId"], fetched["status"]) == (truth.order_id, f"{venue}-limit", "open")
    assert [o["clientOrderId"] for o in ex.fetch_open_orders(SYMBOL)] == [f"{venue}-limit"]

    ex.edit_order(limit["id"], SYMBOL, "limit", "buy", 0.01, 48000)
    assert _truth(served, venue, f"{venue}-limit").price == Decimal("48000")

    ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": f"{venue}-market"})
    market = _truth(served, venue, f"{venue}-market")
    assert (market.status, market.filled_qty) == ("FILLED", Decimal("0.01"))
    (position,) = [p for p in ex.fetch_positions([SYMBOL]) if p["contracts"]]
    assert (position["side"], position["contracts"]) == ("long", 0.01)
    trades = ex.fetch_my_trades(SYMBOL)
    assert [t["order"] for t in trades] == [market.order_id] and trades[0]["price"] == 50000

    batch = ex.create_orders([
        {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.01, "price": 47000,
         "params": {"clientOrderId": f"{venue}-batch-1"}},
        {"symbol": SYMBOL, "type": "limit", "side": "sell", "amount": 0.01, "price": 53000,
         "params": {"clientOrderId": f"{venue}-batch-2"}},
    ])  # fmt: skip
    assert len(batch) == 2
    assert {_truth(served, venue, f"{venue}-batch-{n}").status for n in (1, 2)} == {"NEW"}

    ex.cancel_order(limit["id"], SYMBOL)
    assert _truth(served, venue, f"{venue}-limit").status == "CANCELED"
    ex.cancel_all_orders(SYMBOL)
    assert {_truth(served, venue, f"{venue}-batch-{n}").status for n in (1, 2)} == {"CANCELED"}
    assert ex.fetch_open_orders(SYMBOL) == []
    closed = {o["clientOrderId"]: o["status"] for o in ex.fetch_closed_orders(SYMBOL)}
    assert closed[f"{venue}-market"] == "closed"

    ex.set_leverage(5, SYMBOL)
    assert ex.fetch_trading_fee(SYMBOL)["taker"] == float(engine.fee_rate)


def test_ccxt_binanceusdm_round_trip(served: Served) -> None:
    ex = _client(ccxt, "binanceusdm", served)
    _round_trip(served, ex, "binance")


def test_ccxt_bybit_round_trip(served: Served) -> None:
    ex = _client(ccxt, "bybit", served)
    _round_trip(served, ex, "bybit")


def _subscribed(served: Served, venue: str) -> bool:
    streams = served.sim.venues[venue].state.dialect.streams  # type: ignore[union-attr]
    if venue == "binance":
        return any(conn.keys for conn in streams.conns)
    return any("order" in conn.topics for conn in streams.conns)


@pytest.mark.parametrize(("name", "venue"), [("binanceusdm", "binance"), ("bybit", "bybit")])
async def test_ccxt_pro_watch_orders_reads_the_private_stream(served: Served, name: str, venue: str) -> None:
    ex = _client(ccxt.pro, name, served)
    try:
        await ex.load_markets()
        watching = asyncio.create_task(ex.watch_orders(SYMBOL))
        await asyncio.to_thread(served.wait_until, lambda: _subscribed(served, venue))
        await ex.create_order(SYMBOL, "limit", "buy", 0.01, 45000, {"clientOrderId": f"{venue}-pro"})
        orders = await asyncio.wait_for(watching, 10)
        assert [(o["clientOrderId"], o["status"]) for o in orders] == [(f"{venue}-pro", "open")]
        assert orders[0]["id"] == _truth(served, venue, f"{venue}-pro").order_id
    finally:
        await ex.close()
