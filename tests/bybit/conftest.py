"""Fixtures for the Bybit adapter tests: a running simulator, a started adapter, recorded payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from gateway.model import OrderRequest, OrderType, Side, Transport
from tests.binance.conftest import RecordingSink, wait_until
from tests.fixtures import fixture_entries as _entries
from venues.bybit import BybitLinear
from venues.sim import SimExchange

__all__ = ["RecordingSink", "fixture_entries", "make_venue", "order", "wait_until"]

BTC = "BTC/USDT:USDT"


def fixture_entries() -> dict[str, dict[str, Any]]:
    """The recorded Bybit v5 linear payloads (tests/fixtures/bybit_linear.json) by entry id."""
    return _entries("bybit_linear")


def order(
    cid: str | None = "cid-1", transport: Transport = Transport.REST, price: str = "49000", qty: str = "0.01"
) -> OrderRequest:
    return OrderRequest(
        venue="bybit", instrument=BTC, side=Side.BUY, type=OrderType.LIMIT,
        quantity=Decimal(qty), price=Decimal(price), client_order_id=cid, transport=transport,
    )  # fmt: skip


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=9) as s:
        yield s


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def make_venue(sim: SimExchange, **kw: Any) -> BybitLinear:
    b = sim.bybit
    return BybitLinear(
        sim.api_key, sim.api_secret, rest_url=b.rest_url, ws_api_url=b.ws_api_url, stream_url=b.stream_url, **kw
    )


@pytest_asyncio.fixture
async def venue(sim: SimExchange, sink: RecordingSink) -> AsyncIterator[BybitLinear]:
    v = make_venue(sim, request_timeout=1.0)
    await v.start(sink)
    try:
        yield v
    finally:
        await v.close()
