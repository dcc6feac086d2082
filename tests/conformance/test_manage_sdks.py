"""Amend and batch orders from clients nobody here wrote, against ``gateway sim`` (issue 15): ccxt ``edit_order``
and ``create_orders`` (binanceusdm, bybit), pybit ``amend_order`` and ``place_batch_order``, binance-futures-connector
``modify_order`` and ``new_batch_order``; each answer checked against the simulator's ground truth. Only URLs
and keys differ from the clients' defaults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pybit.unified_trading as pybit
from binance.um_futures import UMFutures

from tests.conformance.conftest import Served, rehost
from venues.sim.engine import SimOrder

SYMBOL, NATIVE = "BTC/USDT:USDT", "BTCUSDT"


def _truth(served: Served, venue: str, cid: str) -> SimOrder:
    order = served.call(lambda: served.sim.truth.order(cid, venue))
    assert order is not None, f"{venue}: no order {cid!r} on the simulator"
    return order


def _ccxt(name: str, served: Served) -> Any:
    sim = served.sim
    ex = getattr(ccxt, name)({"apiKey": sim.api_key, "secret": sim.api_secret})
    ex.urls["api"] = rehost(ex.urls["api"], sim.base_url)
    return ex


def _ccxt_edit_and_batch(served: Served, ex: Any, venue: str) -> None:
    ex.load_markets()
    placed = ex.create_order(SYMBOL, "limit", "buy", 0.01, 49000, {"clientOrderId": f"{venue}-edit"})
    edited = ex.edit_order(placed["id"], SYMBOL, "limit", "buy", 0.02, 48000)
    assert edited["id"] == placed["id"]
    truth = _truth(served, venue, f"{venue}-edit")
    assert (truth.price, truth.qty, truth.status) == (Decimal("48000"), Decimal("0.02"), "NEW")
    batch = ex.create_orders(
        [
            {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.01, "price": 47000,
             "params": {"clientOrderId": f"{venue}-b1"}},
            {"symbol": SYMBOL, "type": "limit", "side": "sell", "amount": 0.01, "price": 52000,
             "params": {"clientOrderId": f"{venue}-b2"}},
        ]
    )  # fmt: skip
    assert len(batch) == 2
    for answer, cid, price in zip(batch, (f"{venue}-b1", f"{venue}-b2"), ("47000", "52000"), strict=True):
        order = _truth(served, venue, cid)
        assert (answer["id"], order.price, order.status) == (order.order_id, Decimal(price), "NEW")
    batches = "batchOrders" if venue == "binance" else "create-batch"
    assert any(batches in r.path for r in served.call(lambda: list(served.sim.venues[venue].requests)))


def test_ccxt_binanceusdm_edit_order_and_create_orders(served: Served) -> None:
    _ccxt_edit_and_batch(served, _ccxt("binanceusdm", served), "binance")


def test_ccxt_bybit_edit_order_and_create_orders(served: Served) -> None:
    _ccxt_edit_and_batch(served, _ccxt("bybit", served), "bybit")


def test_pybit_amend_order_and_batches(served: Served) -> None:
    sim = served.sim
    s = pybit.HTTP(api_key=sim.api_key, api_secret=sim.api_secret)
    s.endpoint = sim.bybit.rest_url
    s.place_order(category="linear", symbol=NATIVE, side="Buy", orderType="Limit", qty="0.01", price="49000",
                  orderLinkId="py-amend")  # fmt: skip
    amended = s.amend_order(category="linear", symbol=NATIVE, orderLinkId="py-amend", qty="0.02")
    assert amended["retCode"] == 0 and amended["result"]["orderLinkId"] == "py-amend"
    assert (_truth(served, "bybit", "py-amend").qty, _truth(served, "bybit", "py-amend").price) == (
        Decimal("0.02"), Decimal("49000"),
    )  # fmt: skip
    request = [
        {"symbol": NATIVE, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "47000",
         "orderLinkId": "py-b1"},
        {"symbol": NATIVE, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "47000.05",
         "orderLinkId": "py-b2"},  # off tick: this item only is refused
    ]  # fmt: skip
    placed = s.place_batch_order(category="linear", request=request)
    assert [item["code"] for item in placed["retExtInfo"]["list"]] == [0, 10001]
    first = placed["result"]["list"][0]
    assert first["orderId"] == _truth(served, "bybit", "py-b1").order_id
    assert served.call(lambda: sim.truth.orders_for("py-b2")) == []
    canceled = s.cancel_batch_order(category="linear", request=[{"symbol": NATIVE, "orderLinkId": "py-b1"}])
    assert canceled["retExtInfo"]["list"][0]["code"] == 0 and _truth(served, "bybit", "py-b1").status == "CANCELED"


def test_binance_futures_connector_modify_order_and_new_batch_order(served: Served) -> None:
    sim = served.sim
    c = UMFutures(key=sim.api_key, secret=sim.api_secret, base_url=sim.binance.rest_url)
    placed = c.new_order(symbol=NATIVE, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="49000",
                         newClientOrderId="bfc-modify")  # fmt: skip
    modified = c.modify_order(symbol=NATIVE, side="BUY", quantity="0.01", price="48500", orderId=placed["orderId"])
    assert (modified["orderId"], modified["price"]) == (placed["orderId"], "48500.00")
    assert _truth(served, "binance", "bfc-modify").price == Decimal("48500")
    batch = c.new_batch_order(
        [
            {"symbol": NATIVE, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
             "price": "47000", "newClientOrderId": "bfc-b1"},
            {"symbol": NATIVE, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
             "price": "47000.05", "newClientOrderId": "bfc-b2"},
        ]
    )  # fmt: skip
    assert batch[0]["clientOrderId"] == "bfc-b1" and batch[1]["code"] == -4014
    assert _truth(served, "binance", "bfc-b1").status == "NEW"
    assert served.call(lambda: sim.truth.orders_for("bfc-b2")) == []
