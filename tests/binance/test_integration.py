"""BinanceUsdm through a real ``Gateway`` against the simulator over loopback (REST and WS API)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio

from gateway import CancelRequest, CommandStatus, Gateway, OrderRequest, OrderType, Side, Transport
from gateway.model import OrderState, OrderUpdate
from tests.binance.conftest import make_venue, wait_until
from venues.base import InvalidOrderError
from venues.binance import BinanceUsdm
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind

BTC = "BTC/USDT:USDT"


@pytest_asyncio.fixture
async def gw(sim: SimExchange) -> AsyncIterator[tuple[Gateway, BinanceUsdm]]:
    venue = make_venue(sim, request_timeout=2.0)
    async with Gateway(venues=[venue], reconcile=None) as gateway:
        yield gateway, venue


def limit(price: str, transport: Transport, qty: str = "0.01") -> OrderRequest:
    return OrderRequest(
        venue="binance", instrument=BTC, side=Side.BUY, type=OrderType.LIMIT,
        quantity=Decimal(qty), price=Decimal(price), transport=transport,
    )  # fmt: skip


async def next_update(handle: object, timeout: float = 3.0) -> OrderUpdate:
    while True:
        event = await asyncio.wait_for(handle.next_lifecycle(), timeout)  # type: ignore[attr-defined]
        if isinstance(event, OrderUpdate):
            return event


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
async def test_place_fill_cancel_query(gw: tuple[Gateway, BinanceUsdm], sim: SimExchange, transport: Transport) -> None:
    gateway, venue = gw
    a = await gateway.submit(limit("49000", transport))
    b = await gateway.submit(limit("48000", transport))
    assert a.ack.receipt.status is CommandStatus.ACCEPTED and a.ack.receipt.transport is transport
    assert a.ack.receipt.order_state is OrderState.NEW
    # a partial fill of A reaches A's handle, never B's
    sim.binance.engine.fill(a.ack.receipt.order_id or "", Decimal("0.004"))
    update = await next_update(a)
    while update.order.state is not OrderState.PARTIALLY_FILLED:
        update = await next_update(a)
    assert update.order.filled_quantity == Decimal("0.004")
    assert update.order.order_id == a.ack.receipt.order_id
    cancel = await gateway.cancel(
        CancelRequest(
            venue="binance", instrument=BTC, client_order_id=a.ack.receipt.client_order_id, transport=transport
        )
    )
    assert (cancel.ack.receipt.status, cancel.ack.receipt.order_state) == (CommandStatus.ACCEPTED, OrderState.CANCELED)
    # a mark move crossing B fills B (maker); B's handle only ever sees B's order
    sim.set_mark("BTCUSDT", "47900", venue="binance")
    filled = await next_update(b)
    while filled.order.state is not OrderState.FILLED:
        assert filled.order.order_id == b.ack.receipt.order_id
        filled = await next_update(b)
    assert filled.order.order_id == b.ack.receipt.order_id
    found = await venue.query_order(BTC, client_order_id=a.ack.receipt.client_order_id)
    assert found is not None and found.state is OrderState.CANCELED and found.filled_quantity == Decimal("0.004")
    assert await venue.query_order(BTC, client_order_id="never-sent") is None
    assert await venue.open_orders(BTC) == []
    now = sim.binance.engine.orders[a.ack.receipt.order_id or ""].created_ms
    history = await venue.order_history(BTC, now - 60_000, now + 60_000)
    assert {o.order_id for o in history} >= {a.ack.receipt.order_id, b.ack.receipt.order_id}
    trades = await venue.trades(BTC, now - 60_000, now + 60_000)
    assert {t.order_id for t in trades} == {a.ack.receipt.order_id, b.ack.receipt.order_id}


async def test_bad_tick_raises_before_sending(gw: tuple[Gateway, BinanceUsdm], sim: SimExchange) -> None:
    gateway, _ = gw
    with pytest.raises(InvalidOrderError, match=r"^price: 49000\.05 is not a multiple of the tick size 0\.10"):
        await gateway.submit(limit("49000.05", Transport.REST))
    assert sim.truth.attempts(venue="binance") == []


async def test_history_pages_past_a_full_page(sim: SimExchange, gw: tuple[Gateway, BinanceUsdm]) -> None:
    _, venue = gw
    import venues.binance.adapter as adapter_mod

    adapter_mod.PAGE_LIMIT, saved = 3, adapter_mod.PAGE_LIMIT
    try:
        for i in range(7):
            await venue.submit(limit("40000", Transport.REST).model_copy(update={"client_order_id": f"page-{i}"}))
            # Paging splits time windows; the venue's page limit (3 here) must not be exceeded
            # inside one millisecond, or the adapter rightly refuses the window as uncoverable.
            created = max(o.created_ms for o in sim.binance.engine.orders.values())
            await wait_until(lambda created=created: time.time() * 1000 >= created + 1)
        now = max(o.created_ms for o in sim.binance.engine.orders.values())
        history = await venue.order_history(BTC, now - 10_000, now + 1)
        assert {o.client_order_id for o in history} == {f"page-{i}" for i in range(7)}
    finally:
        adapter_mod.PAGE_LIMIT = saved


async def test_stream_duplicate_is_harmless_and_reconnect_reports_gap(
    gw: tuple[Gateway, BinanceUsdm], sim: SimExchange
) -> None:
    gateway, venue = gw
    assert venue.user_stream is not None
    sim.faults.add(Fault(FaultKind.STREAM_DUPLICATE, venue="binance"))
    h = await gateway.submit(limit("49000", Transport.REST))
    await next_update(h)
    await wait_until(lambda: venue.user_stream is not None and venue.user_stream.dropped_duplicates >= 1)
    dialect = sim.binance.state["dialect"]
    gaps: list[str] = []
    original = gateway.stream_gap
    # The user stream's sink is the gateway itself: it calls this wrapper from now on.
    gateway.stream_gap = lambda v, r: (gaps.append(r), original(v, r))  # type: ignore[method-assign]
    await dialect.drop_user_streams()
    await wait_until(lambda: bool(gaps))
    await wait_until(lambda: venue.user_stream is not None and venue.user_stream.conn.is_up)
    sim.binance.engine.fill(h.ack.receipt.order_id or "", Decimal("0.01"))
    update = await next_update(h)
    while update.order.state is not OrderState.FILLED:
        update = await next_update(h)


async def test_auto_uses_rest_when_ws_api_is_down(sim: SimExchange) -> None:
    venue = BinanceUsdm(
        sim.api_key, sim.api_secret, rest_url=sim.binance.rest_url, ws_api_url="ws://127.0.0.1:9/ws-fapi/v1",
        stream_url=sim.binance.stream_url, request_timeout=0.5,
    )  # fmt: skip
    async with Gateway(venues=[venue], reconcile=None) as gateway:
        h = await gateway.submit(limit("49000", Transport.AUTO))
        assert (h.ack.receipt.status, h.ack.receipt.transport) == (CommandStatus.ACCEPTED, Transport.REST)


async def test_listen_key_expiry_reconnects_with_a_new_key(venue: BinanceUsdm, sim: SimExchange, sink: object) -> None:
    from tests.binance.conftest import RecordingSink

    assert isinstance(sink, RecordingSink) and venue.user_stream is not None
    dialect = sim.binance.state["dialect"]
    (old_key,) = [k for k, lk in dialect.listen_keys.items() if lk.alive]
    dialect.expire_listen_key(old_key)
    await wait_until(lambda: bool(sink.gaps))
    await wait_until(lambda: venue.user_stream is not None and venue.user_stream.conn.is_up)
    assert any(lk.alive and k != old_key for k, lk in dialect.listen_keys.items())
    await venue.submit(limit("49000", Transport.REST).model_copy(update={"client_order_id": "after-expiry"}))
    await wait_until(lambda: any(u.client_order_id == "after-expiry" for u in sink.updates))


async def test_updates_nobody_follows_are_skipped_before_parsing(
    gw: tuple[Gateway, BinanceUsdm], sim: SimExchange
) -> None:
    gateway, venue = gw
    assert venue.user_stream is not None
    # An order placed outside this gateway: no handle, no gate, nothing proved ABSENT.
    sim.binance.engine.place(
        sim.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", qty=Decimal("0.01"), price=Decimal("40000"),
        client_order_id="elsewhere-1",
    )  # fmt: skip
    await wait_until(lambda: venue.user_stream is not None and venue.user_stream.skipped >= 1)
    assert not gateway.wants_order_update("binance", "elsewhere-1", None)
    # One of ours is followed while its handle is live.
    h = await gateway.submit(limit("49000", Transport.REST))
    assert gateway.wants_order_update("binance", h.client_order_id, None)
    sim.binance.engine.fill(h.ack.receipt.order_id or "", Decimal("0.01"))
    update = await next_update(h)
    while update.order.state is not OrderState.FILLED:
        update = await next_update(h)
    assert not gateway.wants_order_update("binance", h.client_order_id, h.ack.receipt.order_id)  # final: dropped
