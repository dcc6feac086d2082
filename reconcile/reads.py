"""The reconciler's venue reads: retried reads, and one batched read per (venue, instrument).

``read`` retries a read with backoff and jitter (a rate limit waits the venue's time, capped);
it never retries a write, and a read refused before sending is not retried. ``BatchPlan``
decides which reads a batch needs and the history window they cover, ``[min(sent_at) - skew,
now]`` over the due commands; ``read_batch`` makes them and returns a ``BatchView`` in which
each command finds its order (or its fill) by id. A failed read raises ``VenueReadError``: it
is never evidence of anything.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from gateway.errors import InvalidReadRequest, VenueRateLimited, VenueReadError, VenueUnreachable
from gateway.model import EvidenceSource, OrderReport, TradeReport
from gateway.ports import PendingCommand, Venue
from reconcile.evidence import matches
from reconcile.tracking import Tracked

__all__ = ["BatchPlan", "BatchView", "read", "read_batch", "read_failure"]

_T = TypeVar("_T")

_backoff = wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05)
_MAX_RATE_LIMIT_WAIT_S = 2.0


def _wait_for_venue(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, VenueRateLimited) and exc.retry_after:
        return min(exc.retry_after, _MAX_RATE_LIMIT_WAIT_S)
    return float(_backoff(state))


async def read(call: Callable[[], Awaitable[_T]], attempts: int) -> _T:
    """A venue read with backoff and jitter; rate limits wait the venue's time (capped)."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_wait_for_venue,
        # A read refused before sending (an id the venue cannot take) fails the same way every time.
        retry=retry_if_exception_type(VenueReadError) & retry_if_not_exception_type(InvalidReadRequest),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise VenueReadError("unreachable")  # pragma: no cover - reraise=True always raises first


def read_failure(exc: VenueReadError) -> str:
    """The reason a command stays unproven after a failed read."""
    if isinstance(exc, VenueRateLimited):
        return f"rate-limited: {exc}"
    if isinstance(exc, VenueUnreachable):
        return f"venue unreachable: {exc}"
    return f"read failed: {exc}"


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """The reads one batch makes for the due commands of one (venue, instrument)."""

    start_ms: int
    end_ms: int
    read_at: float  # epoch seconds the batch counts as read at
    open_orders: bool
    trades: bool

    @property
    def reads(self) -> int:
        return 1 + int(self.open_orders) + int(self.trades)

    @classmethod
    def for_commands(cls, venue: Venue, items: Sequence[Tracked], skew_s: float) -> BatchPlan:
        read_at = time.time()
        # Open orders are read only when history may not show everything yet: some command is
        # still inside the venue's history lag, or the venue's history omits open orders.
        need_open = not venue.history_includes_open_orders or any(
            read_at - e.sent_s < venue.history_lag_seconds for e in items
        )
        # Trades are read only on a pass that could prove absence (a command already missed once,
        # past its grace, so this miss would be its second): a fill there blocks ABSENT even if
        # history lags.
        confirming = any(e.misses and read_at >= e.sent_s + e.grace_s for e in items)
        return cls(
            start_ms=int((min(e.sent_s for e in items) - skew_s) * 1000),
            end_ms=int(read_at * 1000) + 1,
            read_at=read_at,
            open_orders=need_open,
            trades=confirming,
        )


class BatchView:
    """What one batch showed, indexed by client order id and venue order id."""

    def __init__(self, history: list[OrderReport], open_orders: list[OrderReport], trades: list[TradeReport]):
        self._by_cid: dict[str, list[tuple[OrderReport, EvidenceSource]]] = {}
        self._by_oid: dict[str, tuple[OrderReport, EvidenceSource]] = {}
        for source, orders in ((EvidenceSource.ORDER_HISTORY, history), (EvidenceSource.OPEN_ORDERS, open_orders)):
            for order in orders:  # open orders last: they are the freshest view
                if order.client_order_id:
                    self._by_cid.setdefault(order.client_order_id, []).append((order, source))
                self._by_oid[order.order_id] = (order, source)
        self._fills: dict[tuple[str, str], TradeReport] = {}
        for trade in trades:
            self._fills[("oid", trade.order_id)] = trade
            if trade.client_order_id:
                self._fills[("cid", trade.client_order_id)] = trade

    def find(self, command: PendingCommand, sent_s: float, skew_s: float) -> tuple[OrderReport, EvidenceSource] | None:
        """The order ``command`` names, and where it was seen; the freshest view wins."""
        if command.order_id and command.order_id in self._by_oid:
            return self._by_oid[command.order_id]
        best: tuple[OrderReport, EvidenceSource] | None = None
        for order, source in self._by_cid.get(command.client_order_id or "", ()):
            if matches(command, sent_s, order, skew_s):
                best = (order, source)  # later entries (open orders) win
        return best

    def fill_of(self, command: PendingCommand, sent_s: float, skew_s: float) -> TradeReport | None:
        """A fill of the order ``command`` names, when the order itself was not in the batch."""
        trade: TradeReport | None = self._fills.get(("oid", command.order_id)) if command.order_id else None
        if trade is None and command.client_order_id:
            trade = self._fills.get(("cid", command.client_order_id))
            if trade is not None and trade.time_ms < (sent_s - skew_s) * 1000:
                trade = None  # a fill of an older order that held the same client id
        return trade


async def read_batch(venue: Venue, instrument: str, plan: BatchPlan, attempts: int) -> BatchView:
    """Make the plan's reads, in order (open orders, history, trades); raises ``VenueReadError``."""
    open_orders = await read(lambda: venue.open_orders(instrument), attempts) if plan.open_orders else []
    history = await read(lambda: venue.order_history(instrument, plan.start_ms, plan.end_ms), attempts)
    trades = await read(lambda: venue.trades(instrument, plan.start_ms, plan.end_ms), attempts) if plan.trades else []
    return BatchView(history, open_orders, trades)
