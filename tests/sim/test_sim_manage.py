"""The simulator's amend, batch and post-only endpoints in both dialects, spoken raw (wave2 sheets §2, §3, §6)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import quote

import aiohttp
import orjson
import pytest
import pytest_asyncio

from tests.sim.test_sim_binance import Raw as BinanceRaw
from tests.sim.test_sim_binance import order_q
from tests.sim.test_sim_bybit import Raw as BybitRaw
from tests.sim.test_sim_bybit import order_body, private_stream, recv
from venues.common import QUERY_SAFE
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=5) as s:
        yield s


@pytest_asyncio.fixture
async def braw(sim: SimExchange) -> AsyncIterator[BinanceRaw]:
    async with aiohttp.ClientSession() as s:
        yield BinanceRaw(sim, s)


@pytest_asyncio.fixture
async def yraw(sim: SimExchange) -> AsyncIterator[BybitRaw]:
    async with aiohttp.ClientSession() as s:
        yield BybitRaw(sim, s)


# --------------------------------------------------------------------------- Binance


async def test_binance_modify_changes_the_order_records_it_and_refuses_what_it_must(
    braw: BinanceRaw, sim: SimExchange
) -> None:
    status, placed, _ = await braw.call("POST", "/fapi/v1/order", order_q("am-1"))
    assert status == 200
    q = "symbol=BTCUSDT&origClientOrderId=am-1&side=BUY"
    status, body, _ = await braw.call("PUT", "/fapi/v1/order", f"{q}&quantity=0.020")  # price missing
    assert (status, body["code"]) == (400, -1102)
    status, body, _ = await braw.call("PUT", "/fapi/v1/order", f"{q}&quantity=0.020&price=48000")
    assert status == 200, body
    assert (body["orderId"], body["price"], body["origQty"], body["status"]) == (
        placed["orderId"], "48000.00", "0.020", "NEW",
    )  # fmt: skip
    order = sim.truth.order("am-1")
    assert order is not None and (order.price, order.qty) == (Decimal("48000"), Decimal("0.02"))
    status, again, _ = await braw.call("PUT", "/fapi/v1/order", f"{q}&quantity=0.020&price=48000")
    assert (status, again["code"]) == (400, -5027)  # nothing to change
    status, off_tick, _ = await braw.call("PUT", "/fapi/v1/order", f"{q}&quantity=0.020&price=48000.05")
    assert (status, off_tick["code"]) == (400, -4014)
    status, history, _ = await braw.call("GET", "/fapi/v1/orderAmendment", "symbol=BTCUSDT&origClientOrderId=am-1")
    assert status == 200 and len(history) == 1
    (record,) = history
    assert record["amendment"] == {
        "price": {"before": "49000.00", "after": "48000.00"},
        "origQty": {"before": "0.010", "after": "0.020"},
        "count": 1,
    }
    assert isinstance(record["amendmentId"], int) and isinstance(record["time"], int)
    sim.set_mark("BTCUSDT", "47000", venue="binance")  # fills at 48000
    status, filled, _ = await braw.call("PUT", "/fapi/v1/order", f"{q}&quantity=0.020&price=47500")
    assert (status, filled["code"]) == (400, -2013)
    assert [a.outcome for a in sim.truth.attempts("am-1") if a.operation == "amend"] == [
        "rejected:-1102", "amended", "rejected:-5027", "rejected:-4014", "rejected:-2013",
    ]  # fmt: skip


async def test_binance_post_only_that_would_take_is_refused_and_leaves_nothing(
    braw: BinanceRaw, sim: SimExchange
) -> None:
    query = order_q("po-1", price="51000").replace("timeInForce=GTC", "timeInForce=GTX")
    status, body, _ = await braw.call("POST", "/fapi/v1/order", query)
    assert (status, body["code"]) == (400, -5022)
    assert sim.truth.orders_for("po-1") == []


async def test_binance_batch_orders_answer_per_item_in_order(braw: BinanceRaw, sim: SimExchange) -> None:
    items = [
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010",
         "price": "49000", "newClientOrderId": "b-1", "newOrderRespType": "RESULT"},
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010",
         "price": "49000.05", "newClientOrderId": "b-2"},
        {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010",
         "price": "52000", "newClientOrderId": "b-3"},
    ]  # fmt: skip
    encoded = quote(json.dumps(items, separators=(",", ":")), safe=QUERY_SAFE)
    status, body, _ = await braw.call("POST", "/fapi/v1/batchOrders", f"batchOrders={encoded}")
    assert status == 200 and isinstance(body, list) and len(body) == 3, body
    assert body[0]["clientOrderId"] == "b-1" and body[0]["status"] == "NEW"
    assert body[1] == {"code": -4014, "msg": "Price not increased by tick size."}
    assert body[2]["clientOrderId"] == "b-3"
    ids = orjson.dumps([body[0]["orderId"], body[2]["orderId"], 1]).decode()
    status, canceled, _ = await braw.call(
        "DELETE", "/fapi/v1/batchOrders", f"symbol=BTCUSDT&orderIdList={quote(ids, safe=QUERY_SAFE)}"
    )
    assert status == 200, canceled
    assert [c.get("status") for c in canceled[:2]] == ["CANCELED", "CANCELED"] and canceled[2]["code"] == -2011
    too_many = quote(json.dumps([items[0]] * 6), safe=QUERY_SAFE)
    status, body, _ = await braw.call("POST", "/fapi/v1/batchOrders", f"batchOrders={too_many}")
    assert (status, body["code"]) == (400, -4082)


async def test_binance_batch_answer_lost_after_some_items_ran(braw: BinanceRaw, sim: SimExchange) -> None:
    sim.faults.add(Fault(FaultKind.ACCEPT_THEN_5XX, venue="binance", operation="batch", executed_items=1, status=502))
    items = [
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010",
         "price": "49000", "newClientOrderId": f"lost-{i}"}
        for i in range(3)
    ]  # fmt: skip
    encoded = quote(json.dumps(items), safe=QUERY_SAFE)
    status, _, _ = await braw.call("POST", "/fapi/v1/batchOrders", f"batchOrders={encoded}")
    assert status == 502
    assert [len(sim.truth.orders_for(f"lost-{i}")) for i in range(3)] == [1, 0, 0]
    assert [a.processed for cid in ("lost-0", "lost-1", "lost-2") for a in sim.truth.attempts(cid)] == [
        True, False, False,
    ]  # fmt: skip


# --------------------------------------------------------------------------- Bybit


async def test_bybit_amend_acks_changes_the_order_and_shows_on_the_stream(yraw: BybitRaw, sim: SimExchange) -> None:
    ws = await private_stream(sim, ["order"])
    try:
        created = (await yraw.create("ya-1"))["result"]
        assert (await recv(ws))["data"][0]["orderStatus"] == "New"
        amend = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "ya-1", "price": "48000"}
        status, body, _ = await yraw.post("/v5/order/amend", amend)
        assert (status, body["retCode"], body["result"]) == (
            200, 0, {"orderId": created["orderId"], "orderLinkId": "ya-1"},
        )  # fmt: skip
        update = (await recv(ws))["data"][0]
        assert (update["orderStatus"], update["price"], update["qty"]) == ("New", "48000.00", "0.010")
        _, same, _ = await yraw.post("/v5/order/amend", amend)
        assert same["retCode"] == 10001  # nothing to change
        sim.set_mark("BTCUSDT", "47000", venue="bybit")
        _, late, _ = await yraw.post("/v5/order/amend", {**amend, "price": "47500"})
        assert late["retCode"] == 110001
    finally:
        await ws.close()


async def test_bybit_post_only_that_would_take_is_acked_then_canceled(yraw: BybitRaw, sim: SimExchange) -> None:
    ws = await private_stream(sim, ["order", "execution"])
    try:
        ack = await yraw.create("ypo", timeInForce="PostOnly", price="51000")
        assert ack["retCode"] == 0 and ack["result"]["orderLinkId"] == "ypo"
        new = (await recv(ws))["data"][0]
        closed = (await recv(ws))["data"][0]
        assert new["orderStatus"] == "New"
        assert (closed["orderStatus"], closed["cancelType"], closed["rejectReason"], closed["cumExecQty"]) == (
            "Cancelled", "UNKNOWN", "EC_PostOnlyWillTakeLiquidity", "0.000",
        )  # fmt: skip
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)  # no execution message
        order = sim.truth.order("ypo")
        assert order is not None and order.status == "CANCELED" and not order.fills
    finally:
        await ws.close()


async def test_bybit_batches_answer_two_parallel_lists(yraw: BybitRaw, sim: SimExchange) -> None:
    request = [
        {k: v for k, v in order_body("yb-1").items() if k != "category"},
        {k: v for k, v in order_body("yb-2", price="49000.05").items() if k != "category"},
    ]
    status, body, _ = await yraw.post("/v5/order/create-batch", {"category": "linear", "request": request})
    assert status == 200 and body["retCode"] == 0
    first, second = body["result"]["list"]
    assert first["orderLinkId"] == "yb-1" and first["orderId"] and first["createAt"]
    assert (second["orderId"], second["createAt"]) == ("", "")
    assert [item["code"] for item in body["retExtInfo"]["list"]] == [0, 10001]
    cancel = [{"symbol": "BTCUSDT", "orderLinkId": "yb-1"}, {"symbol": "BTCUSDT", "orderLinkId": "yb-2"}]
    _, canceled, _ = await yraw.post("/v5/order/cancel-batch", {"category": "linear", "request": cancel})
    assert [item["code"] for item in canceled["retExtInfo"]["list"]] == [0, 110001]
    assert canceled["result"]["list"][0]["orderId"] == first["orderId"]
