"""The simulator's cancel-all and dead-man's switches in both dialects, driven by raw clients (never our adapter)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
import pytest_asyncio
import websockets

from tests.sim.test_sim_binance import Raw as BinanceRaw
from tests.sim.test_sim_binance import order_q
from tests.sim.test_sim_bybit import Raw as BybitRaw
from tests.sim.test_sim_bybit import private_stream, recv
from venues.sim import Fault, SimExchange
from venues.sim.bybit.safety import BybitSwitches
from venues.sim.engine import SimOrder
from venues.sim.faults import FaultKind


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=5) as s:
        yield s


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def open_ids(sim: SimExchange, venue: str) -> set[str]:
    return {o.client_order_id for o in sim.truth.orders(venue) if o.is_open}


def canceled_event(sim: SimExchange, venue: str, count: int) -> asyncio.Event:
    """Set once ``count`` orders of ``venue`` were canceled (an engine listener, not a clock)."""
    done = asyncio.Event()
    seen: list[str] = []

    def listener(account: str, order: SimOrder, fill: object, exec_type: str) -> None:
        if exec_type == "CANCELED":
            seen.append(order.order_id)
            if len(seen) >= count:
                done.set()

    sim.venues[venue].engine.listeners.append(listener)
    return done


def bybit_switches(sim: SimExchange) -> BybitSwitches:
    dialect = sim.bybit.state.dialect
    assert dialect is not None and dialect.switches is not None
    return dialect.switches


# ---------------------------------------------------------------------- Binance


async def test_binance_cancel_all_cancels_one_symbol(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BinanceRaw(sim, session)
    for cid in ("a-1", "a-2"):
        assert (await raw.call("POST", "/fapi/v1/order", order_q(cid)))[0] == 200
    eth = "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.010&price=2900&newClientOrderId=e-1"
    assert (await raw.call("POST", "/fapi/v1/order", eth))[0] == 200
    status, body, _ = await raw.call("DELETE", "/fapi/v1/allOpenOrders", "symbol=BTCUSDT")
    assert (status, body) == (200, {"code": 200, "msg": "The operation of cancel all open order is done."})
    assert open_ids(sim, "binance") == {"e-1"}
    status, body, _ = await raw.call("DELETE", "/fapi/v1/allOpenOrders", "symbol=BTCUSDT")
    assert (status, body["code"]) == (200, 200)  # nothing open: the same answer
    status, body, _ = await raw.call("DELETE", "/fapi/v1/allOpenOrders", "")
    assert (status, body["code"]) == (400, -1102)
    dialect = sim.binance.state.dialect
    assert dialect is not None
    (first, second) = dialect.switches.log.of("cancel_all")
    assert first.processed and len(first.canceled) == 2 and second.canceled == ()


@pytest.mark.parametrize(
    ("kind", "executes", "status"),
    [(FaultKind.ACCEPT_THEN_5XX, True, 503), (FaultKind.REJECT_THEN_5XX, False, 503)],
)
async def test_binance_cancel_all_faults(
    sim: SimExchange, session: aiohttp.ClientSession, kind: FaultKind, executes: bool, status: int
) -> None:
    raw = BinanceRaw(sim, session)
    assert (await raw.call("POST", "/fapi/v1/order", order_q("f-1")))[0] == 200
    sim.faults.add(Fault(kind, venue="binance", operation="cancel_all"))
    got, _, _ = await raw.call("DELETE", "/fapi/v1/allOpenOrders", "symbol=BTCUSDT")
    assert got == status
    assert open_ids(sim, "binance") == (set() if executes else {"f-1"})


async def test_binance_countdown_heartbeat_stop_and_lapse(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BinanceRaw(sim, session)
    dialect = sim.binance.state.dialect
    assert dialect is not None
    countdowns = dialect.switches.countdowns
    status, body, _ = await raw.call("POST", "/fapi/v1/countdownCancelAll", "symbol=BTCUSDT&countdownTime=60000")
    assert (status, body) == (200, {"symbol": "BTCUSDT", "countdownTime": "60000"})
    first = countdowns.deadline(sim.api_key, "BTCUSDT")
    assert first is not None
    await raw.call("POST", "/fapi/v1/countdownCancelAll", "symbol=BTCUSDT&countdownTime=120000")
    second = countdowns.deadline(sim.api_key, "BTCUSDT")
    assert second is not None and second > first  # a heartbeat restarts the countdown
    await raw.call("POST", "/fapi/v1/countdownCancelAll", "symbol=BTCUSDT&countdownTime=0")
    assert countdowns.armed() == []  # 0 stops it
    status, body, _ = await raw.call("POST", "/fapi/v1/countdownCancelAll", "symbol=BTCUSDT")
    assert (status, body["code"]) == (400, -1102)

    for cid in ("c-1", "c-2"):
        await raw.call("POST", "/fapi/v1/order", order_q(cid))
    canceled = canceled_event(sim, "binance", 2)
    await raw.call("POST", "/fapi/v1/countdownCancelAll", "symbol=BTCUSDT&countdownTime=200")
    await asyncio.wait_for(canceled.wait(), 5)  # the countdown lapsed on its own
    assert open_ids(sim, "binance") == set()
    (lapse,) = dialect.switches.log.of("lapse")
    assert len(lapse.canceled) == 2


async def test_binance_countdown_fault_leaves_the_timer(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BinanceRaw(sim, session)
    sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, venue="binance", operation="countdown"))
    status, _, _ = await raw.call("POST", "/fapi/v1/countdownCancelAll", "symbol=BTCUSDT&countdownTime=60000")
    assert status == 503
    dialect = sim.binance.state.dialect
    assert dialect is not None and dialect.switches.countdowns.armed() == []


# ---------------------------------------------------------------------- Bybit


async def test_bybit_cancel_all_by_symbol_and_settle_coin(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BybitRaw(sim, session)
    b1 = (await raw.create("y-1"))["result"]
    await raw.create("y-2", symbol="ETHUSDT", price="2900")
    status, body, _ = await raw.post("/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})
    assert status == 200 and body["retCode"] == 0
    assert body["result"] == {"list": [{"orderId": b1["orderId"], "orderLinkId": "y-1"}], "success": "1"}
    assert open_ids(sim, "bybit") == {"y-2"}
    _, body, _ = await raw.post("/v5/order/cancel-all", {"category": "linear", "settleCoin": "USDT"})
    assert [i["orderLinkId"] for i in body["result"]["list"]] == ["y-2"] and open_ids(sim, "bybit") == set()
    _, body, _ = await raw.post("/v5/order/cancel-all", {"category": "linear"})
    assert body["retCode"] == 10001  # linear needs symbol, baseCoin or settleCoin


async def test_bybit_cancel_all_faults(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BybitRaw(sim, session)
    await raw.create("z-1")
    sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, venue="bybit", operation="cancel_all"))
    status, _, _ = await raw.post("/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})
    assert status >= 500 and open_ids(sim, "bybit") == {"z-1"}
    sim.faults.add(Fault(FaultKind.ACCEPT_THEN_RESET, venue="bybit", operation="cancel_all"))
    with pytest.raises(aiohttp.ClientError):
        await raw.post("/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})
    assert open_ids(sim, "bybit") == set()


async def test_bybit_dcp_needs_the_venue_to_enable_it(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BybitRaw(sim, session)
    _, body, _ = await raw.get("/v5/account/query-dcp-info")
    assert body["retCode"] == 0 and body["result"] == {"dcpInfos": []}
    _, body, _ = await raw.post("/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 5})
    assert body["retCode"] == 10005
    sim.bybit.state.dcp_enabled = True
    _, body, _ = await raw.post("/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 2})
    assert body["retCode"] == 10001  # window outside [3, 300]
    _, body, _ = await raw.post("/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 5})
    assert (body["retCode"], body["retMsg"]) == (0, "success")
    _, body, _ = await raw.get("/v5/account/query-dcp-info")
    assert body["result"] == {"dcpInfos": [{"product": "DERIVATIVES", "dcpStatus": "ON", "timeWindow": "5"}]}


async def test_bybit_dcp_fires_when_the_last_subscriber_drops(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    sim.bybit.state.dcp_enabled = True
    raw = BybitRaw(sim, session)
    switches = bybit_switches(sim)
    await raw.post("/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 3})
    await raw.create("d-1")
    await raw.create("d-2", symbol="ETHUSDT", price="2900")
    first = await private_stream(sim, ["dcp.future"])
    second = await private_stream(sim, ["order"])  # not a DCP subscriber: does not keep it alive
    closed = closed_event(switches)
    await first.close()
    await asyncio.wait_for(closed.wait(), 5)
    assert switches.countdowns.deadline(sim.api_key, "DERIVATIVES") is not None
    again = await private_stream(sim, ["dcp.future"])  # back inside the window: the timer stops
    assert switches.countdowns.armed() == []
    canceled = canceled_event(sim, "bybit", 2)
    closed = closed_event(switches)
    await again.close()
    await asyncio.wait_for(closed.wait(), 5)
    assert switches.countdowns.deadline(sim.api_key, "DERIVATIVES") is not None
    switches.countdowns.lapse_now(sim.api_key, "DERIVATIVES")
    await asyncio.wait_for(canceled.wait(), 5)
    assert open_ids(sim, "bybit") == set()
    (lapse,) = switches.log.of("lapse")
    assert len(lapse.canceled) == 2
    shown = [switches.d.payloads.order_json(switches.d.engine.orders[oid])["cancelType"] for oid in lapse.canceled]
    assert shown == ["CancelByDCP", "CancelByDCP"]
    await second.close()


async def test_bybit_dcp_unsubscribe_disarms(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    sim.bybit.state.dcp_enabled = True
    switches = bybit_switches(sim)
    ws = await private_stream(sim, ["dcp.future"])
    await ws.send(orjson.dumps({"req_id": "u", "op": "unsubscribe", "args": ["dcp.future"]}).decode())
    assert (await recv(ws))["success"] is True
    closed = closed_event(switches)
    await ws.close()
    await asyncio.wait_for(closed.wait(), 5)
    assert switches.countdowns.armed() == []


def closed_event(switches: BybitSwitches) -> asyncio.Event:
    """Set when the server side has seen a private connection close (after the DCP watcher ran)."""
    closed = asyncio.Event()
    switches.d.streams.watchers.append(lambda conn, event: closed.set() if event == "closed" else None)
    return closed


# ---------------------------------------------------------------------- partition


async def test_partition_cuts_and_refuses_connections(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    raw = BinanceRaw(sim, session)
    ws = await websockets.connect(sim.binance.ws_api_url)
    assert await sim.partition(60) >= 1
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    with pytest.raises(aiohttp.ClientError):
        await raw.call("GET", "/fapi/v1/openOrders", "symbol=BTCUSDT")
    with pytest.raises((OSError, websockets.InvalidHandshake, websockets.ConnectionClosed)):
        async with websockets.connect(sim.bybit.stream_url) as late:
            await asyncio.wait_for(late.recv(), 5)
    sim.heal()
    status, body, _ = await raw.call("GET", "/fapi/v1/openOrders", "symbol=BTCUSDT")
    assert (status, body) == (200, [])
