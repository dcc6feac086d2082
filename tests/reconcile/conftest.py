"""Shared pieces for reconciler tests: a recording sink, a started venue without a gateway, a poll helper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest_asyncio

from gateway.model import (
    CommandOperation,
    OrderReport,
    OrderRequest,
    OrderType,
    ReconcileReport,
    ReconcileTrigger,
    Side,
    utc_now,
)
from gateway.ports import PendingCommand
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear
from venues.sim import SimExchange


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class NullStream:
    """A venue sink that ignores the user stream: reconciliation must then read the venue."""

    def order_update(self, order: OrderReport) -> None:
        return None

    def stream_gap(self, venue: str, reason: str) -> None:
        return None

    def parse_error(self, venue: str, detail: str) -> None:
        return None

    def wants_order_update(self, venue: str, client_order_id: str | None, order_id: str | None) -> bool:
        return True

    def account_update(self, venue: str, positions: object, balances: object) -> None:
        return None

    def mark_update(self, venue: str, instrument: str, price: object) -> None:
        return None


@dataclass
class RecordingSink:
    scheduled: list[tuple[str, ReconcileTrigger]] = field(default_factory=list)
    completed: list[ReconcileReport] = field(default_factory=list)

    def recovery_scheduled(self, command: PendingCommand, trigger: ReconcileTrigger) -> None:
        self.scheduled.append((command.command_id, trigger))

    def recovery_completed(self, command: PendingCommand, report: ReconcileReport) -> None:
        self.completed.append(report)

    def outcomes(self, command_id: str) -> list[str]:
        return [r.outcome.value for r in self.completed if r.command_id == command_id]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=11) as exchange:
        yield exchange


def binance(sim: SimExchange, **kw: Any) -> BinanceUsdm:
    params: dict[str, Any] = dict(
        rest_url=sim.binance.rest_url,
        ws_api_url=sim.binance.ws_api_url,
        stream_url=sim.binance.stream_url,
        request_timeout=0.5,
        recv_window_ms=1000,
    )
    params.update(kw)
    return BinanceUsdm(sim.api_key, sim.api_secret, **params)


def pending(
    cid: str, instrument: str = "BTC/USDT:USDT", *, venue: str = "binance", recv_window_ms: int = 1000
) -> PendingCommand:
    request = OrderRequest(
        venue=venue,
        instrument=instrument,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        price=Decimal("40000"),
        client_order_id=cid,
    )
    return PendingCommand(
        command_id=cid,
        operation=CommandOperation.CREATE_ORDER,
        venue=venue,
        instrument=instrument,
        client_order_id=cid,
        order_id=None,
        sent_at=utc_now(),
        recv_window_ms=recv_window_ms,
        request=request,
    )


def bybit(sim: SimExchange, **kw: Any) -> BybitLinear:
    params: dict[str, Any] = dict(
        rest_url=sim.bybit.rest_url,
        ws_api_url=sim.bybit.ws_api_url,
        stream_url=sim.bybit.stream_url,
        request_timeout=0.5,
        recv_window_ms=1000,
    )
    params.update(kw)
    return BybitLinear(sim.api_key, sim.api_secret, **params)


VENUES = {"binance": binance, "bybit": bybit}
