"""BybitLinear through a real ``Gateway`` against the simulator over loopback (REST, trade WS, private stream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio

from gateway import CancelRequest, CommandStatus, Gateway, Transport
from gateway.model import OrderState, OrderUpdate
from tests.bybit.conftest import BTC, RecordingSink, make_venue, order, wait_until
from venues.base import InvalidOrderError
from venues.bybit import BybitLinear
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


@pytest_asyncio.fixture
async def gw(sim: SimExchange) -> AsyncIterator[tuple[Gateway, BybitLinear]]:
    venue = make_venue(sim, request_timeout=2.0)
    async with Gateway(venues=[venue], reconcile=None) as gateway:
        yield gateway, venue


async def next_update(handle: object, timeout: float = 3.0) -> OrderUpdate:
    while True:
        event = await asyncio.wait_for(handle.next_lifecycle(), timeout)  # type: ignore[attr-defined]
        if isinstance(event, OrderUpdate):
            return event


async def until_state(handle: object, state: OrderState) -> OrderUpdate:
    update = await next_update(handle)
    while update.order.state is not state:
        update = await next_update(handle)
    return update


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
async def test_place_fill_cancel_query(gw: tuple[Gateway, BybitLinear], sim: SimExchange, transport: Transport) -> None:
    gateway, venue = gw
    assert venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET
    a = await gateway.submit(order(None, transport, "49000"))
    b = await gateway.submit(order(None, transport, "48000"))
    receipt = a.ack.receipt
    assert (receipt.status, receipt.transport, receipt.order_state) == (CommandStatus.ACCEPTED, transport, None)
    assert (await until_state(a, OrderState.NEW)).order.order_id == receipt.order_id  # state from the stream
    # a partial fill of A reaches A's handle, never B's
    sim.bybit.engine.fill(receipt.order_id or "", Decimal("0.004"))
    update = await until_state(a, OrderState.PARTIALLY_FILLED)
    assert update.order.filled_quantity == Decimal("0.004") and update.order.order_id == receipt.order_id
    cancel = await gateway.cancel(
        CancelRequest(venue="bybit", instrument=BTC, client_order_id=receipt.client_order_id, transport=transport)
    )
    assert cancel.ack.receipt.status is CommandStatus.ACCEPTED
    cancelled = await until_state(a, OrderState.CANCELED)
    assert cancelled.order.filled_quantity == Decimal("0.004")  # Bybit's Cancelled may carry fills
    # a mark move crossing B fills B (maker); B's handle only ever sees B's order
    sim.set_mark("BTCUSDT", "47900", venue="bybit")
    filled = await until_state(b, OrderState.FILLED)
    assert filled.order.order_id == b.ack.receipt.order_id
    found = await venue.query_order(BTC, client_order_id=receipt.client_order_id)
    assert found is not None and found.state is OrderState.CANCELED and found.filled_quantity == Decimal("0.004")
    assert await venue.query_order(BTC, client_order_id="never-sent") is None
    assert await venue.open_orders(BTC) == []
    now = sim.bybit.engine.orders[receipt.order_id or ""].created_ms
    history = await venue.order_history(BTC, now - 60_000, now + 60_000)
    assert {o.order_id for o in history} >= {receipt.order_id, b.ack.receipt.order_id}
    trades = await venue.trades(BTC, now - 60_000, now + 60_000)
    assert {t.order_id for t in trades} == {receipt.order_id, b.ack.receipt.order_id}


async def test_filters_refuse_before_sending(gw: tuple[Gateway, BybitLinear], sim: SimExchange) -> None:
    gateway, _ = gw
    with pytest.raises(InvalidOrderError, match=r"^price: 49000\.05 is not a multiple of the tick size 0\.1"):
        await gateway.submit(order(None, Transport.REST, "49000.05"))
    with pytest.raises(InvalidOrderError, match="minimum notional"):
        await gateway.submit(order(None, Transport.REST, "1000", "0.001"))
    with pytest.raises(InvalidOrderError, match="step size"):
        await gateway.submit(order(None, Transport.REST, "49000", "0.0015"))
    assert sim.truth.attempts(venue="bybit") == []


async def test_open_orders_and_history_page_by_cursor(gw: tuple[Gateway, BybitLinear], sim: SimExchange) -> None:
    _, venue = gw
    import venues.bybit.adapter as adapter_mod

    adapter_mod.ORDER_PAGE, saved = 3, adapter_mod.ORDER_PAGE
    try:
        for i in range(7):
            assert (await venue.submit(order(f"page-{i}", Transport.REST, "40000"))).status is CommandStatus.ACCEPTED
        now = max(o.created_ms for o in sim.bybit.engine.orders.values())
        history = await venue.order_history(BTC, now - 10_000, now + 1)
        assert {o.client_order_id for o in history} == {f"page-{i}" for i in range(7)}
        assert {o.client_order_id for o in await venue.open_orders(BTC)} == {f"page-{i}" for i in range(7)}
    finally:
        adapter_mod.ORDER_PAGE = saved


async def test_stream_duplicate_is_harmless_and_reconnect_reports_gap(sim: SimExchange, sink: RecordingSink) -> None:
    venue = make_venue(sim, request_timeout=2.0)
    await venue.start(sink)
    try:
        assert venue.private_stream is not None
        sim.faults.add(Fault(FaultKind.STREAM_DUPLICATE, venue="bybit"))
        await venue.submit(order("dup-stream", Transport.REST))
        await wait_until(lambda: venue.private_stream is not None and venue.private_stream.dropped_duplicates >= 1)
        assert [u.state for u in sink.updates if u.client_order_id == "dup-stream"] == [OrderState.NEW]
        dialect = sim.bybit.state["dialect"]
        await dialect.drop_private_streams()
        await wait_until(lambda: any("private stream" in r for _, r in sink.gaps))
        await wait_until(lambda: venue.private_stream is not None and venue.private_stream.conn.is_up)
        await venue.submit(order("after-gap", Transport.REST))
        await wait_until(lambda: any(u.client_order_id == "after-gap" for u in sink.updates))
    finally:
        await venue.close()


async def test_trade_ws_reconnects_and_auto_falls_back_to_rest(sim: SimExchange, sink: RecordingSink) -> None:
    venue = make_venue(sim, request_timeout=2.0)
    await venue.start(sink)
    try:
        assert venue.trade_ws is not None
        dialect = sim.bybit.state["dialect"]
        await dialect.drop_trade_sockets()
        await wait_until(lambda: any("trade WebSocket" in r for _, r in sink.gaps))
        await wait_until(lambda: venue.trade_ws is not None and venue.trade_ws.is_up)
        receipt = await venue.submit(order("after-reconnect", Transport.WEBSOCKET))
        assert (receipt.status, receipt.transport) == (CommandStatus.ACCEPTED, Transport.WEBSOCKET)
    finally:
        await venue.close()
    down = BybitLinear(
        sim.api_key, sim.api_secret, rest_url=sim.bybit.rest_url, ws_api_url="ws://127.0.0.1:9/v5/trade",
        stream_url=None, request_timeout=0.5,
    )  # fmt: skip
    await down.start(RecordingSink())
    try:
        receipt = await down.submit(order("auto-rest", Transport.AUTO))
        assert (receipt.status, receipt.transport) == (CommandStatus.ACCEPTED, Transport.REST)
        refused = await down.submit(order("ws-only", Transport.WEBSOCKET))
        assert (refused.status, refused.safe_to_resubmit) == (CommandStatus.REJECTED, True)
    finally:
        await down.close()


async def test_bad_credentials_are_rejected_not_unknown(sim: SimExchange) -> None:
    venue = BybitLinear(
        sim.api_key, "not-the-secret", rest_url=sim.bybit.rest_url, ws_api_url=None, stream_url=None,
        request_timeout=1.0,
    )  # fmt: skip
    await venue.start(RecordingSink())  # public reads need no signature
    try:
        receipt = await venue.submit(order("bad-sign", Transport.REST))
        assert (receipt.status, receipt.native_code) == (CommandStatus.REJECTED, "10004")
        assert sim.truth.orders_for("bad-sign") == []
    finally:
        await venue.close()
