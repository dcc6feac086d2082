"""pybit (Bybit's own SDK) against ``gateway sim`` (issue 21): ``HTTP`` runs the whole round trip, and
``WebSocketTrading`` with the private ``WebSocket`` places, sees and cancels an order, each answer checked
against the simulator's ground truth. Only URLs and keys differ from pybit's defaults: the HTTP session's
``endpoint``, and the two socket URL templates (pybit builds them from module constants)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pybit._websocket_trading as pybit_trading
import pybit.unified_trading as pybit
import pytest

from tests.conformance.conftest import Served
from venues.sim.engine import SimOrder

S = "BTCUSDT"
WAIT = 10.0


def _truth(served: Served, cid: str) -> SimOrder:
    order = served.call(lambda: served.sim.truth.order(cid, "bybit"))
    assert order is not None, f"no order {cid!r} on the simulator"
    return order


def test_pybit_http_round_trip(served: Served) -> None:
    sim = served.sim
    s = pybit.HTTP(api_key=sim.api_key, api_secret=sim.api_secret)
    s.endpoint = sim.bybit.rest_url
    assert {i["symbol"] for i in s.get_instruments_info(category="linear")["result"]["list"]} >= {S}
    assert abs(int(s.get_server_time()["result"]["timeSecond"]) * 1000 - sim.bybit.state.server_ms()) < 5_000
    assert s.get_tickers(category="linear", symbol=S)["result"]["list"][0]["lastPrice"] == "50000.00"
    assert s.get_orderbook(category="linear", symbol=S)["result"]["a"][0][0] == "50000.00"
    assert len(s.get_kline(category="linear", symbol=S, interval=1, limit=2)["result"]["list"]) == 2
    wallet = s.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert Decimal(wallet["totalWalletBalance"]) == served.call(lambda: sim.bybit.engine.balance(sim.api_key))
    assert s.get_positions(category="linear", symbol=S)["result"]["list"][0]["size"] == "0.000"

    placed = s.place_order(category="linear", symbol=S, side="Buy", orderType="Limit", qty="0.01", price="49000",
                           orderLinkId="py-limit")["result"]  # fmt: skip
    truth = _truth(served, "py-limit")
    assert (placed["orderId"], truth.status, truth.price) == (truth.order_id, "NEW", Decimal("49000"))
    (queried,) = s.get_open_orders(category="linear", symbol=S, orderLinkId="py-limit")["result"]["list"]
    assert (queried["orderId"], queried["orderStatus"]) == (truth.order_id, "New")
    assert [o["orderLinkId"] for o in s.get_open_orders(category="linear", symbol=S)["result"]["list"]] == ["py-limit"]
    s.amend_order(category="linear", symbol=S, orderLinkId="py-limit", price="48000")
    assert _truth(served, "py-limit").price == Decimal("48000")

    s.place_order(category="linear", symbol=S, side="Buy", orderType="Market", qty="0.01", orderLinkId="py-market")
    market = _truth(served, "py-market")
    assert (market.status, market.filled_qty) == ("FILLED", Decimal("0.01"))
    assert s.get_positions(category="linear", symbol=S)["result"]["list"][0]["size"] == "0.010"
    history = {
        o["orderLinkId"]: o["orderStatus"] for o in s.get_order_history(category="linear", symbol=S)["result"]["list"]
    }
    assert history["py-market"] == "Filled"
    (fill,) = s.get_executions(category="linear", symbol=S)["result"]["list"]
    assert (fill["orderId"], fill["execQty"]) == (market.order_id, "0.010")

    batch = s.place_batch_order(category="linear", request=[
        {"symbol": S, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "47000", "orderLinkId": "py-b1"},
        {"symbol": S, "side": "Sell", "orderType": "Limit", "qty": "0.01", "price": "53000", "orderLinkId": "py-b2"},
    ])  # fmt: skip
    assert [item["code"] for item in batch["retExtInfo"]["list"]] == [0, 0]
    assert {_truth(served, cid).status for cid in ("py-b1", "py-b2")} == {"NEW"}

    s.cancel_order(category="linear", symbol=S, orderLinkId="py-limit")
    assert _truth(served, "py-limit").status == "CANCELED"
    cancelled = s.cancel_all_orders(category="linear", symbol=S)["result"]["list"]
    assert {c["orderLinkId"] for c in cancelled} == {"py-b1", "py-b2"}
    assert {_truth(served, cid).status for cid in ("py-b1", "py-b2")} == {"CANCELED"}
    assert s.get_open_orders(category="linear", symbol=S)["result"]["list"] == []

    assert s.set_leverage(category="linear", symbol=S, buyLeverage="5", sellLeverage="5")["retCode"] == 0
    (fee,) = s.get_fee_rates(category="linear", symbol=S)["result"]["list"]
    assert Decimal(fee["takerFeeRate"]) == sim.bybit.engine.fee_rate


class Inbox:
    """What a pybit callback received, with an event per awaited message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    def __call__(self, message: dict[str, Any]) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, match: Any) -> dict[str, Any]:
        with self._arrived:
            found: list[dict[str, Any]] = []

            def seen() -> bool:
                found[:] = [m for m in self.messages if match(m)]
                return bool(found)

            assert self._arrived.wait_for(seen, WAIT), f"nothing matching arrived: {self.messages[-3:]}"
            return found[0]


@pytest.fixture
def sockets(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    sim = served.sim
    # pybit registers a trade request's callback only after sending it: the simulator answers across a
    # network's delay, as Bybit does, or a loopback answer can beat the registration and be dropped
    served.call(lambda: setattr(sim.bybit.state, "trade_request_delay_ms", 10))
    monkeypatch.setattr(pybit, "PRIVATE_WSS", sim.bybit.stream_url)
    monkeypatch.setattr(pybit_trading, "TRADE_WSS", sim.bybit.ws_api_url)
    stream = pybit.WebSocket(testnet=False, channel_type="private", api_key=sim.api_key, api_secret=sim.api_secret)
    trade = pybit.WebSocketTrading(testnet=False, api_key=sim.api_key, api_secret=sim.api_secret)
    try:
        yield stream, trade
    finally:
        stream.exit()
        trade.exit()


def test_pybit_websocket_trading_and_private_stream(served: Served, sockets: tuple[Any, Any]) -> None:
    stream, trade = sockets
    orders, answers = Inbox(), Inbox()
    stream.order_stream(callback=orders)
    conns = served.sim.bybit.state.dialect.streams.conns  # type: ignore[union-attr]
    served.wait_until(lambda: any("order" in c.topics for c in conns))

    trade.place_order(answers, category="linear", symbol=S, side="Buy", orderType="Limit", qty="0.01",
                      price="46000", orderLinkId="pyws-1")  # fmt: skip
    ack = answers.wait_for(lambda m: m.get("op") == "order.create")
    truth = _truth(served, "pyws-1")
    assert (ack["retCode"], ack["data"]["orderId"]) == (0, truth.order_id)
    new = orders.wait_for(lambda m: any(o["orderLinkId"] == "pyws-1" for o in m["data"]))
    assert [o["orderStatus"] for o in new["data"] if o["orderLinkId"] == "pyws-1"] == ["New"]

    trade.amend_order(answers, category="linear", symbol=S, orderLinkId="pyws-1", price="45000")
    assert answers.wait_for(lambda m: m.get("op") == "order.amend")["retCode"] == 0
    assert _truth(served, "pyws-1").price == Decimal("45000")

    trade.cancel_order(answers, category="linear", symbol=S, orderLinkId="pyws-1")
    assert answers.wait_for(lambda m: m.get("op") == "order.cancel")["retCode"] == 0
    orders.wait_for(lambda m: any(o["orderLinkId"] == "pyws-1" and o["orderStatus"] == "Cancelled" for o in m["data"]))
    assert _truth(served, "pyws-1").status == "CANCELED"
