"""Fixtures for the Binance adapter tests: a running simulator, a started adapter, a recording sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from gateway.account import Balance, Position
from gateway.model import OrderReport
from tests.fixtures import fixture_entries as _entries
from venues.binance import BinanceUsdm
from venues.sim import SimExchange


class RecordingSink:
    """A ``VenueEventSink`` that keeps everything it is told."""

    def __init__(self) -> None:
        self.updates: list[OrderReport] = []
        self.gaps: list[tuple[str, str]] = []
        self.parse_errors: list[tuple[str, str]] = []
        self.positions: list[Position] = []
        self.balances: list[Balance] = []
        self.marks: list[tuple[str, Decimal]] = []

    def order_update(self, order: OrderReport) -> None:
        self.updates.append(order)

    def stream_gap(self, venue: str, reason: str) -> None:
        self.gaps.append((venue, reason))

    def parse_error(self, venue: str, detail: str) -> None:
        self.parse_errors.append((venue, detail))

    def wants_order_update(self, venue: str, client_order_id: str | None, order_id: str | None) -> bool:
        return True

    def account_update(self, venue: str, positions: Sequence[Position], balances: Sequence[Balance]) -> None:
        self.positions.extend(positions)
        self.balances.extend(balances)

    def mark_update(self, venue: str, instrument: str, price: Decimal) -> None:
        self.marks.append((instrument, price))


async def wait_until(predicate: Callable[[], Any], timeout: float = 3.0) -> None:
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds (no bare sleeps in tests)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def fixture_entries() -> dict[str, dict[str, Any]]:
    """The recorded Binance USD-M payloads (tests/fixtures/binance_usdm.json) by entry id."""
    return _entries("binance_usdm")


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=7) as s:
        yield s


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def make_venue(sim: SimExchange, **kw: Any) -> BinanceUsdm:
    b = sim.binance
    return BinanceUsdm(
        sim.api_key,
        sim.api_secret,
        rest_url=b.rest_url,
        ws_api_url=b.ws_api_url,
        stream_url=b.stream_url,
        **kw,
    )


@pytest_asyncio.fixture
async def venue(sim: SimExchange, sink: RecordingSink) -> AsyncIterator[BinanceUsdm]:
    v = make_venue(sim, request_timeout=1.0)
    await v.start(sink)
    try:
        yield v
    finally:
        await v.close()
