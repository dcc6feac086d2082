"""Fixtures for the cancel-all / kill switch / dead-man's switch tests: a simulator, both adapters, a recording sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest_asyncio

from gateway.account import Balance, Position
from gateway.model import OrderReport
from gateway.safety import SwitchState
from venues.adapter_base import AdapterBase
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear
from venues.sim import SimExchange

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
VENUES = ("binance", "bybit")


class SafetySink:
    """A ``VenueEventSink`` that keeps everything it is told, switch changes included."""

    def __init__(self) -> None:
        self.updates: list[OrderReport] = []
        self.gaps: list[tuple[str, str]] = []
        self.switches: list[tuple[str, str, SwitchState, float, str]] = []

    def order_update(self, order: OrderReport) -> None:
        self.updates.append(order)

    def stream_gap(self, venue: str, reason: str) -> None:
        self.gaps.append((venue, reason))

    def parse_error(self, venue: str, detail: str) -> None:
        raise AssertionError(f"parse error on {venue}: {detail}")

    def wants_order_update(self, venue: str, client_order_id: str | None, order_id: str | None) -> bool:
        return True

    def account_update(self, venue: str, positions: Sequence[Position], balances: Sequence[Balance]) -> None:
        pass

    def mark_update(self, venue: str, instrument: str, price: Decimal) -> None:
        pass

    def switch_changed(self, venue: str, scope: str, state: SwitchState, seconds: float, detail: str) -> None:
        self.switches.append((venue, scope, state, seconds, detail))

    def states(self) -> list[tuple[str, SwitchState]]:
        return [(scope, state) for _, scope, state, _, _ in self.switches]


def make_adapter(sim: SimExchange, venue: str, **kw: Any) -> AdapterBase:
    """``BinanceUsdm`` or ``BybitLinear`` on the simulator's URLs."""
    kind = BinanceUsdm if venue == "binance" else BybitLinear
    v = sim.venues[venue]
    return kind(
        sim.api_key, sim.api_secret, rest_url=v.rest_url, ws_api_url=v.ws_api_url, stream_url=v.stream_url, **kw
    )


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds (no bare sleeps in tests)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=20) as s:
        yield s
