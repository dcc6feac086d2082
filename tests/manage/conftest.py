"""Shared pieces for the amend / batch / post-only tests: a gateway on one venue of the simulator, over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest_asyncio

from gateway import Gateway, OrderRequest, OrderType, Side, Transport
from reconcile import ReconcilePolicy
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear
from venues.sim import SimExchange
from venues.sim.engine import SimOrder

BTC = "BTC/USDT:USDT"
# Short windows so an ABSENT is provable within seconds: grace = max(1, recvWindow 1 s + history lag).
POLICY = ReconcilePolicy(grace_seconds=1.0, deadline_seconds=20.0, interval_seconds=0.2, skew_seconds=2.0)
CASES = [
    ("binance", Transport.REST),
    ("binance", Transport.WEBSOCKET),
    ("bybit", Transport.REST),
    ("bybit", Transport.WEBSOCKET),
]


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it is truthy (state the test cannot await directly); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def make_venue(sim: SimExchange, name: str, **kw: Any) -> BinanceUsdm | BybitLinear:
    side = sim.binance if name == "binance" else sim.bybit
    cls = BinanceUsdm if name == "binance" else BybitLinear
    params: dict[str, Any] = dict(
        rest_url=side.rest_url,
        ws_api_url=side.ws_api_url,
        stream_url=side.stream_url,
        request_timeout=1.0,
        recv_window_ms=1000,
    )
    params.update(kw)
    return cls(sim.api_key, sim.api_secret, **params)


@asynccontextmanager
async def gateway(sim: SimExchange, name: str, **kw: Any) -> AsyncIterator[Gateway]:
    gate = kw.pop("gate", None)
    async with Gateway(venues=[make_venue(sim, name, **kw)], gate=gate, reconcile=POLICY) as gw:
        yield gw


def buy(name: str, transport: Transport, price: str = "49000", qty: str = "0.010", **kw: Any) -> OrderRequest:
    return OrderRequest(
        venue=name, instrument=BTC, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal(qty),
        price=Decimal(price), transport=transport, **kw,
    )  # fmt: skip


def truth(sim: SimExchange, name: str, cid: str) -> SimOrder:
    order = sim.truth.order(cid, venue=name)
    assert order is not None, f"{cid} is not on {name}"
    return order


def sent(sim: SimExchange, name: str, cid: str, operation: str) -> int:
    """How many writes of ``operation`` naming ``cid`` the venue received (ground truth)."""
    return sum(1 for a in sim.truth.attempts(cid, venue=name) if a.operation == operation)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=15) as exchange:
        yield exchange
