"""Binance's own USDⓈ-M connectors against ``gateway sim`` (issue 21), only URLs and keys changed from their defaults:
binance-futures-connector (``UMFutures`` REST and ``UMFuturesWebsocketClient`` on the bare ``/ws`` +
SUBSCRIBE form) and python-binance (``Client``'s futures calls and its futures user socket), each
answer checked against the simulator's ground truth."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

import orjson
import pytest

# python-binance and binance-futures-connector both install the ``binance`` package and each ships its
# ``binance/__init__.py`` (the connector's is empty): whichever pip installed last wins, so python-binance
# is imported by its modules, never from the package root.
from binance.async_client import AsyncClient
from binance.client import Client
from binance.um_futures import UMFutures
from binance.websocket.um_futures.websocket_client import UMFuturesWebsocketClient
from binance.ws.streams import BinanceSocketManager

from tests.conformance.conftest import Served
from venues.sim.engine import SimOrder

S = "BTCUSDT"
WAIT = 10.0


def _truth(served: Served, cid: str) -> SimOrder:
    order = served.call(lambda: served.sim.truth.order(cid, "binance"))
    assert order is not None, f"no order {cid!r} on the simulator"
    return order


class Events:
    """User-data events a socket thread received, and a wait for one that matches."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def add(self, event: dict[str, Any]) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait_for(self, match: Any) -> dict[str, Any]:
        with self._cond:
            assert self._cond.wait_for(lambda: any(match(e) for e in self.items), WAIT), self.items[-3:]
            return next(e for e in self.items if match(e))


def _order_update(cid: str, status: str) -> Any:
    return lambda e: e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["c"] == cid and e["o"]["X"] == status


def test_binance_futures_connector_round_trip_and_user_stream(served: Served) -> None:
    sim = served.sim
    c = UMFutures(key=sim.api_key, secret=sim.api_secret, base_url=sim.binance.rest_url)
    listen_key = c.new_listen_key()["listenKey"]
    events = Events()
    ws = UMFuturesWebsocketClient(stream_url=sim.binance.base_ws, on_message=lambda _, m: events.add(orjson.loads(m)))
    try:
        ws.user_data(listen_key=listen_key, id=1)
        events.wait_for(lambda e: e == {"result": None, "id": 1})  # the SUBSCRIBE was taken

        assert abs(c.time()["serverTime"] - sim.binance.state.server_ms()) < 5_000
        assert S in {s["symbol"] for s in c.exchange_info()["symbols"]}
        assert c.ticker_24hr_price_change(S)["lastPrice"] == "50000.00"
        assert c.book_ticker(S)["askPrice"] == "50000.00"
        assert c.depth(S, limit=5)["asks"][0][0] == "50000.00"
        assert len(c.klines(S, "1m", limit=2)) == 2
        assert Decimal(c.mark_price(S)["markPrice"]) == Decimal(50000)
        balance = served.call(lambda: sim.binance.engine.balance(sim.api_key))
        assert Decimal(c.balance()[0]["balance"]) == balance
        assert Decimal(c.account()["totalWalletBalance"]) == balance
        assert Decimal(c.get_position_risk(symbol=S)[0]["positionAmt"]) == 0

        placed = c.new_order(symbol=S, side="BUY", type="LIMIT", quantity=0.01, price=49000, timeInForce="GTC",
                             newClientOrderId="umf-limit")  # fmt: skip
        truth = _truth(served, "umf-limit")
        assert (str(placed["orderId"]), truth.status, truth.price) == (truth.order_id, "NEW", Decimal("49000"))
        events.wait_for(_order_update("umf-limit", "NEW"))
        assert c.query_order(symbol=S, origClientOrderId="umf-limit")["status"] == "NEW"
        assert [o["clientOrderId"] for o in c.get_orders(symbol=S)] == ["umf-limit"]
        c.modify_order(symbol=S, side="BUY", quantity=0.01, price=48000, origClientOrderId="umf-limit")
        assert _truth(served, "umf-limit").price == Decimal("48000")

        c.new_order(symbol=S, side="BUY", type="MARKET", quantity=0.01, newClientOrderId="umf-market")
        market = _truth(served, "umf-market")
        assert (market.status, market.filled_qty) == ("FILLED", Decimal("0.01"))
        events.wait_for(_order_update("umf-market", "FILLED"))
        assert Decimal(c.get_position_risk(symbol=S)[0]["positionAmt"]) == Decimal("0.01")
        assert {o["clientOrderId"]: o["status"] for o in c.get_all_orders(symbol=S)}["umf-market"] == "FILLED"
        (fill,) = c.get_account_trades(symbol=S)
        assert (str(fill["orderId"]), fill["qty"]) == (market.order_id, "0.010")

        batch = c.new_batch_order([
            {"symbol": S, "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "47000", "timeInForce": "GTC",
             "newClientOrderId": "umf-b1"},
            {"symbol": S, "side": "SELL", "type": "LIMIT", "quantity": "0.01", "price": "53000", "timeInForce": "GTC",
             "newClientOrderId": "umf-b2"},
        ])  # fmt: skip
        assert [item["clientOrderId"] for item in batch] == ["umf-b1", "umf-b2"]

        assert c.cancel_order(symbol=S, origClientOrderId="umf-limit")["status"] == "CANCELED"
        events.wait_for(_order_update("umf-limit", "CANCELED"))
        assert c.cancel_open_orders(symbol=S)["code"] == 200
        assert {_truth(served, cid).status for cid in ("umf-b1", "umf-b2")} == {"CANCELED"}
        assert c.get_orders(symbol=S) == []

        assert c.change_leverage(S, 5)["leverage"] == 5
        assert Decimal(c.commission_rate(S)["takerCommissionRate"]) == sim.binance.engine.fee_rate
        assert c.renew_listen_key(listen_key)["listenKey"] == listen_key
    finally:
        ws.stop()


def _python_binance_urls(served: Served) -> dict[str, str]:
    """python-binance formats its instances' URLs from these class attributes (only URLs differ from its defaults)."""
    base = served.sim.binance.rest_url
    return {"API_URL": f"{base}/api", "MARGIN_API_URL": f"{base}/sapi", "FUTURES_URL": f"{base}/fapi",
            "FUTURES_DATA_URL": f"{base}/futures/data"}  # fmt: skip


def test_python_binance_futures_round_trip(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = served.sim
    for name, url in _python_binance_urls(served).items():
        monkeypatch.setattr(Client, name, url)
    c = Client(sim.api_key, sim.api_secret)  # pings the spot API on the way in
    try:
        assert abs(c.futures_time()["serverTime"] - sim.binance.state.server_ms()) < 5_000
        assert S in {s["symbol"] for s in c.futures_exchange_info()["symbols"]}
        assert c.futures_symbol_ticker(symbol=S)["price"] == "50000.00"
        assert c.futures_order_book(symbol=S, limit=5)["asks"][0][0] == "50000.00"
        assert Decimal(c.futures_account_balance()[0]["balance"]) > 0
        placed = c.futures_create_order(symbol=S, side="BUY", type="LIMIT", quantity=0.01, price=49000,
                                        timeInForce="GTC", newClientOrderId="pb-limit")  # fmt: skip
        assert str(placed["orderId"]) == _truth(served, "pb-limit").order_id
        assert c.futures_get_order(symbol=S, origClientOrderId="pb-limit")["status"] == "NEW"
        assert [o["clientOrderId"] for o in c.futures_get_open_orders(symbol=S)] == ["pb-limit"]
        c.futures_create_order(symbol=S, side="SELL", type="MARKET", quantity=0.01, newClientOrderId="pb-market")
        assert _truth(served, "pb-market").status == "FILLED"
        assert len(c.futures_account_trades(symbol=S)) == 1
        assert c.futures_cancel_order(symbol=S, origClientOrderId="pb-limit")["status"] == "CANCELED"
        assert {o["clientOrderId"] for o in c.futures_get_all_orders(symbol=S)} == {"pb-limit", "pb-market"}
    finally:
        c.close_connection()


async def test_python_binance_futures_user_socket(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = served.sim
    for name, url in _python_binance_urls(served).items():
        monkeypatch.setattr(AsyncClient, name, url)
    monkeypatch.setattr(BinanceSocketManager, "FSTREAM_URL", f"{sim.binance.base_ws}/")
    client = await AsyncClient.create(sim.api_key, sim.api_secret)
    try:
        async with BinanceSocketManager(client).futures_user_socket() as socket:
            streams = sim.binance.state.dialect.streams  # type: ignore[union-attr]
            await asyncio.to_thread(served.wait_until, lambda: any(conn.keys for conn in streams.conns))
            await client.futures_create_order(symbol=S, side="BUY", type="LIMIT", quantity=0.01, price=45000,
                                              timeInForce="GTC", newClientOrderId="pb-ws")  # fmt: skip
            event = await asyncio.wait_for(socket.recv(), WAIT)
        assert (event["e"], event["o"]["c"], event["o"]["X"]) == ("ORDER_TRADE_UPDATE", "pb-ws", "NEW")
        assert str(event["o"]["i"]) == _truth(served, "pb-ws").order_id
    finally:
        await client.close_connection()
