"""``request_timeout`` is one deadline over the whole REST exchange, for both HTTP clients (issue 13 item 7).

A real aiohttp server on 127.0.0.1 answers 200 at once and then drips a valid order body in
chunks, the whole drip taking ten times the timeout. httpx's per-read timeouts never trip on
such a body; the submit must still end at the deadline, UNKNOWN (the request was written).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from decimal import Decimal

import orjson
import pytest
from aiohttp import web

from gateway.model import CommandStatus, OrderRequest, OrderType, Side, Transport
from venues.base import InstrumentFilters
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear
from venues.common import AdapterBase
from venues.transport import HttpKind

TIMEOUT = 0.5
CHUNKS = 20
INTERVAL = TIMEOUT * 10 / CHUNKS  # the full drip takes 10x the timeout
CID = "drip-1"

BINANCE_BODY = orjson.dumps(
    {"orderId": 4087922044, "symbol": "BTCUSDT", "status": "NEW", "clientOrderId": CID, "price": "49000.00",
     "avgPrice": "0.00", "origQty": "0.010", "executedQty": "0.000", "type": "LIMIT", "side": "BUY"}
)  # fmt: skip
BYBIT_BODY = orjson.dumps(
    {"retCode": 0, "retMsg": "OK", "result": {"orderId": "1321003749386327552", "orderLinkId": CID},
     "retExtInfo": {}, "time": 1}
)  # fmt: skip


class DripServer:
    """Answers every order POST with 200 and ``body``, ``CHUNKS`` pieces ``interval`` seconds apart."""

    def __init__(self, body: bytes, interval: float):
        self.body = body
        self.interval = interval
        self.started = asyncio.Event()
        self.finished = asyncio.Event()
        self.completed = False  # the whole body went out
        self._stop = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Content-Length": str(len(self.body))}
        )
        await resp.prepare(request)
        self.started.set()
        size = -(-len(self.body) // CHUNKS)
        try:
            for start in range(0, len(self.body), size):
                transport = request.transport
                if self._stop.is_set() or transport is None or transport.is_closing():
                    return resp  # the client gave up: stop dripping
                await resp.write(self.body[start : start + size])
                with contextlib.suppress(TimeoutError):  # the drip's pace; teardown cuts it short
                    await asyncio.wait_for(self._stop.wait(), self.interval)
            self.completed = True
            return resp
        except ConnectionError:
            return resp
        finally:
            self.finished.set()

    async def __aenter__(self) -> DripServer:
        app = web.Application()
        app.router.add_post("/fapi/v1/order", self._drip)
        app.router.add_post("/v5/order/create", self._drip)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self.started.is_set():
            await asyncio.wait_for(self.finished.wait(), 5)
        assert self._runner is not None
        await self._runner.cleanup()


def _binance(url: str, http: HttpKind) -> AdapterBase:
    return BinanceUsdm("k", "s", rest_url=url, ws_api_url=None, stream_url=None, request_timeout=TIMEOUT, http=http)


def _bybit(url: str, http: HttpKind) -> AdapterBase:
    return BybitLinear("k", "s", rest_url=url, ws_api_url=None, stream_url=None, request_timeout=TIMEOUT, http=http)


VENUES: dict[str, tuple[Callable[[str, HttpKind], AdapterBase], bytes]] = {
    "binance": (_binance, BINANCE_BODY),
    "bybit": (_bybit, BYBIT_BODY),
}


def _order(venue: str) -> OrderRequest:
    return OrderRequest(
        venue=venue, instrument="BTC/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.01"),
        price=Decimal("49000"), client_order_id=CID, transport=Transport.REST,
    )  # fmt: skip


def _listed(venue: AdapterBase) -> AdapterBase:
    venue._set_filters(
        InstrumentFilters(venue.name, "BTC/USDT:USDT", "BTCUSDT", Decimal("0.1"), Decimal("0.001"),
                          Decimal("0.001"), Decimal("1000"), Decimal("5"))
    )  # fmt: skip
    return venue


def _others() -> set[asyncio.Task[object]]:
    """Pending tasks besides the test's own."""
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


@pytest.mark.parametrize("http", ["aiohttp", "httpx"])
@pytest.mark.parametrize("name", list(VENUES))
async def test_a_dripping_body_ends_at_the_deadline_as_unknown(name: str, http: HttpKind) -> None:
    make, body = VENUES[name]
    before = _others()
    async with DripServer(body, INTERVAL) as server:
        venue = _listed(make(server.url, http))
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            receipt = await venue.submit(_order(name))
            elapsed = loop.time() - t0
        finally:
            await venue.close()
        assert server.started.is_set() and not server.completed
    assert _others() <= before  # the drip handler and the clients ended with the server
    assert receipt.status is CommandStatus.UNKNOWN_EXECUTION, receipt
    assert (receipt.safe_to_resubmit, receipt.client_order_id) == (False, CID)
    assert "after the request was sent" in receipt.message, receipt.message
    # A correctness bound, not a performance one: the drip alone would take 10x the timeout.
    assert elapsed < 3 * TIMEOUT, f"submit held {elapsed:.2f}s with request_timeout={TIMEOUT}"


@pytest.mark.parametrize("http", ["aiohttp", "httpx"])
@pytest.mark.parametrize("name", list(VENUES))
async def test_a_body_that_completes_within_the_deadline_is_accepted(name: str, http: HttpKind) -> None:
    make, body = VENUES[name]
    before = _others()
    async with DripServer(body, 0) as server:  # the same chunked answer, without the pauses
        venue = _listed(make(server.url, http))
        try:
            receipt = await venue.submit(_order(name))
        finally:
            await venue.close()
        assert server.completed
    assert _others() <= before
    assert (receipt.status, receipt.client_order_id) == (CommandStatus.ACCEPTED, CID), receipt
