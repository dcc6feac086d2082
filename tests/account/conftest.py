"""Fixtures for the account tests (issue 14): a simulator, and either venue's adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from gateway import OrderRequest, OrderType, Side
from venues.adapter_base import AdapterBase
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear
from venues.sim import SimExchange

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
VENUES = ("binance", "bybit")


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=14) as exchange:
        yield exchange


@pytest.fixture(params=VENUES)
def venue_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_venue(sim: SimExchange, name: str, **kw: Any) -> AdapterBase:
    """The adapter for ``name`` on the simulator, with the contract's three URLs only."""
    cls = BinanceUsdm if name == "binance" else BybitLinear
    urls = sim.binance if name == "binance" else sim.bybit
    options: dict[str, Any] = {"ws_api_url": urls.ws_api_url, "stream_url": urls.stream_url, **kw}
    return cls(sim.api_key, sim.api_secret, rest_url=urls.rest_url, **options)


def order(
    venue: str,
    side: Side,
    qty: str,
    price: str | None = None,
    *,
    reduce_only: bool = False,
    instrument: str = BTC,
) -> OrderRequest:
    return OrderRequest(
        venue=venue,
        instrument=instrument,
        side=side,
        type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=Decimal(qty),
        price=None if price is None else Decimal(price),
        reduce_only=reduce_only,
    )
