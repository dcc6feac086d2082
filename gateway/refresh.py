"""Re-reads the orders the gateway believes live after a user-stream gap or a reconnect.

A lost stream loses every update sent while it was down: an ACCEPTED order that filled or was
canceled meanwhile would stay NEW on its handle, its reservation held and its fill never made
position. The reconciler only re-checks *unknown* commands; this module owns the other half:
the creates whose handle is not final (answered, believed open). ``Gateway.stream_gap`` calls
``on_gap`` for every path an adapter reports one (user stream, WS API socket).

One pass over a venue, per instrument with believed-live orders (reads only, never a write):

1. one ``open_orders(instrument)``: every believed-live order in it is matched;
2. for the believed-live orders missing from it: one ``query_order`` each when at most
   ``single_query_limit`` are missing, else one ``order_history(instrument, start, now)``
   covering the earliest send among them (minus clock skew).

An order read whose view is *ahead* of its handle's (more filled, or terminal while the handle
shows it open) is published as an ``OrderUpdate`` through the bus exactly as a stream update is
(source OPEN_ORDERS / ORDER_QUERY / ORDER_HISTORY), then handed to the same followers (gate,
reconciler), and the handles it reached are offered for finality. A read that is not ahead
(older than what the stream already delivered) publishes nothing, so a refresh never regresses a
handle and costs the bus nothing when nothing was missed.

When: at once on a gap (the updates lost up to the drop), and again ``follow_up_seconds`` later
(the socket reconnects after the gap is reported, and updates sent before it is back are lost
too). A pass with a failed read, or a believed-live order found nowhere (history lag), is retried
with doubling delays up to ``max_retries`` times; after that the next gap tries again. Reads are
retried with backoff and jitter (tenacity) and wait out the venue's rate-limit answer; a read
that cannot be parsed is reported to ``parse_error`` (logged and counted by the gateway). The
loop never dies of one bad pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from gateway.bus import EventBus
from gateway.errors import InvalidReadRequest, VenueRateLimited, VenueReadError, VenueUnreachable
from gateway.handle import CommandHandle, HandleState
from gateway.model import EvidenceSource, OrderReport, OrderState
from gateway.ports import READ_PURPOSE, Venue

__all__ = ["OrderRefresher", "RefreshPolicy", "RefreshResult", "advances"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """Timing and batching of refreshes (see the module docstring)."""

    follow_up_seconds: tuple[float, ...] = (1.0, 5.0)  # passes after the first, from the gap
    retry_seconds: float = 0.5  # first retry after a failed or incomplete pass; doubles
    retry_max_seconds: float = 30.0
    max_retries: int = 6  # consecutive retries of a venue before waiting for the next gap
    read_attempts: int = 4  # tenacity attempts per read
    skew_seconds: float = 5.0  # history windows start this long before the earliest send
    single_query_limit: int = 2  # missing orders per instrument worth a query each
    max_concurrency: int = 4  # instruments read at once


@dataclass(slots=True)
class RefreshResult:
    """What one pass over one venue did."""

    venue: str
    orders: int = 0  # believed-live orders looked for
    reads: int = 0  # venue calls issued (each may be retried inside)
    updates: int = 0  # order views that were ahead of their handle and were published
    unresolved: int = 0  # believed-live orders found nowhere, or missing from open orders but open elsewhere
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.errors and not self.unresolved


def advances(view: tuple[OrderState | None, Decimal], order: OrderReport) -> bool:
    """Whether ``order`` tells more than a handle's ``(state, filled)`` view: more filled, closed, or a
    state where the handle knew none.

    Filled quantity only grows and a closed order never reopens, so anything else is the same or
    an older view (the stream may already have delivered it).
    """
    state, filled = view
    if order.filled_quantity != filled:
        return order.filled_quantity > filled
    if state is None:  # an ack without a state (Bybit's): the venue's NEW is news to the handle
        return True
    return order.state.is_terminal and not state.is_terminal


class OrderRefresher:
    """See the module docstring. Composed and started by ``Gateway``."""

    def __init__(
        self,
        venues: Mapping[str, Venue],
        *,
        live: Callable[[str], list[CommandHandle]],
        bus: EventBus,
        followers: Sequence[Callable[[OrderReport], None]] = (),
        settle: Callable[[CommandHandle], None] = lambda handle: None,
        parse_error: Callable[[str, str], None] = lambda venue, detail: None,
        policy: RefreshPolicy | None = None,
    ):
        self._venues = venues
        self._live = live
        self._bus = bus
        self._followers = tuple(followers)
        self._settle = settle
        self._parse_error = parse_error
        self._policy = policy or RefreshPolicy()
        self._due: dict[str, list[float]] = {}  # venue -> monotonic times a pass is due
        self._retries: dict[str, int] = {}  # venue -> consecutive retries after incomplete passes
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._semaphore = asyncio.Semaphore(self._policy.max_concurrency)
        self._locks: dict[str, asyncio.Lock] = {}
        self.passes = 0
        self.reads = 0
        self.updates = 0
        self.failures = 0
        self.last: dict[str, RefreshResult] = {}
        self.history: deque[RefreshResult] = deque(maxlen=100)  # recent passes, oldest first (diagnostics)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="gateway:order-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None

    # ------------------------------------------------------------------ triggers

    def on_gap(self, venue: str, reason: str) -> None:
        """Updates of ``venue`` may have been lost: refresh now and after the reconnect window."""
        if venue not in self._venues:
            return
        now = time.monotonic()
        self._retries[venue] = 0
        # A new gap replaces the old schedule: its follow-ups cover the older gap's too.
        self._due[venue] = [now, *(now + s for s in self._policy.follow_up_seconds)]
        self._wake.set()

    def pending(self, venue: str) -> int:
        """Passes still scheduled for ``venue`` (tests and diagnostics)."""
        return len(self._due.get(venue, ()))

    async def refresh(self, venue: str) -> RefreshResult:
        """One pass over ``venue``'s believed-live orders now; see the module docstring."""
        target = self._venues.get(venue)
        result = RefreshResult(venue)
        if target is None:
            result.errors.append(f"venue {venue!r} is not configured")
            return result
        lock = self._locks.setdefault(venue, asyncio.Lock())
        async with lock:  # two passes of one venue at once would only read the same orders twice
            self.passes += 1
            groups: dict[str, list[CommandHandle]] = {}
            for handle in self._live(venue):
                groups.setdefault(handle.instrument, []).append(handle)
            result.orders = sum(len(g) for g in groups.values())
            await asyncio.gather(*(self._refresh_group(target, i, handles, result) for i, handles in groups.items()))
        self.reads += result.reads
        self.updates += result.updates
        self.last[venue] = result
        self.history.append(result)
        if result.errors:
            self.failures += 1
            log.warning("%s: order refresh after a stream gap failed: %s", venue, "; ".join(result.errors))
        elif result.updates or result.unresolved:
            log.info(
                "%s: order refresh read %d live orders in %d calls: %d updated, %d not found yet",
                venue,
                result.orders,
                result.reads,
                result.updates,
                result.unresolved,
            )
        return result

    # ------------------------------------------------------------------ loop

    async def _loop(self) -> None:
        while True:
            now = time.monotonic()
            due = [v for v, times in self._due.items() if times and times[0] <= now]
            if not due:
                upcoming = [times[0] for times in self._due.values() if times]
                timeout = min(upcoming) - now if upcoming else None
                self._wake.clear()
                try:
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            for venue in due:
                times = self._due[venue]
                while times and times[0] <= now:
                    times.pop(0)  # several due at once (a slow pass): one pass serves them all
            results = await asyncio.gather(*(self.refresh(v) for v in due), return_exceptions=True)
            for venue, outcome in zip(due, results, strict=True):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                if isinstance(outcome, BaseException):
                    log.error("%s: order refresh pass raised; retrying later", venue, exc_info=outcome)
                    self.failures += 1
                    self._schedule_retry(venue)
                elif not outcome.complete:
                    self._schedule_retry(venue)
                else:
                    self._retries[venue] = 0

    def _schedule_retry(self, venue: str) -> None:
        count = self._retries.get(venue, 0)
        if count >= self._policy.max_retries:
            log.error(
                "%s: order refresh still incomplete after %d retries; waiting for the next stream gap",
                venue,
                count,
            )
            self._retries[venue] = 0
            return
        self._retries[venue] = count + 1
        delay = min(self._policy.retry_max_seconds, self._policy.retry_seconds * (2**count))
        times = self._due.setdefault(venue, [])
        times.append(time.monotonic() + delay)
        times.sort()
        self._wake.set()

    # ------------------------------------------------------------------ one instrument

    async def _refresh_group(
        self, venue: Venue, instrument: str, handles: list[CommandHandle], result: RefreshResult
    ) -> None:
        READ_PURPOSE.set("refresh")  # gather runs this in its own task: its reads are tallied as the refresh's
        policy = self._policy
        found: list[tuple[CommandHandle, OrderReport, EvidenceSource]] = []
        async with self._semaphore:
            try:
                result.reads += 1
                opens = await self._read(venue, lambda: venue.open_orders(instrument))
                missing = self._match(handles, opens, EvidenceSource.OPEN_ORDERS, found)
                if not missing:
                    pass
                elif len(missing) <= policy.single_query_limit:
                    for handle in missing:
                        result.reads += 1
                        cid, oid = handle.client_order_id, handle.order_id
                        order = await self._read(
                            venue,
                            lambda: venue.query_order(instrument, client_order_id=cid, order_id=oid),  # noqa: B023
                        )
                        if order is not None and _is_of(handle, order, policy.skew_seconds):
                            found.append((handle, order, EvidenceSource.ORDER_QUERY))
                            missing = [h for h in missing if h is not handle]
                else:
                    start_ms = int((min(_sent_s(h) for h in missing) - policy.skew_seconds) * 1000)
                    end_ms = int(time.time() * 1000) + 1
                    result.reads += 1
                    history = await self._read(venue, lambda: venue.order_history(instrument, start_ms, end_ms))
                    missing = self._match(missing, history, EvidenceSource.ORDER_HISTORY, found)
                result.unresolved += len(missing)
            except VenueReadError as exc:  # after its retries; a malformed answer was counted by _read
                result.errors.append(f"{instrument}: {exc.__class__.__name__}: {exc}")
            except (ValueError, TypeError, KeyError) as exc:  # an adapter that let a parse error escape
                detail = f"{instrument}: unparsable read: {exc!r}"
                self._parse_error(venue.name, f"order refresh read: {detail}")
                result.errors.append(detail)
        # Publish what the reads found, even after a later read of the group failed: every
        # order delivered is venue evidence on its own.
        for handle, order, source in found:
            if order.state.is_open and source is not EvidenceSource.OPEN_ORDERS:
                result.unresolved += 1  # closed per open orders, open per an older read: read again
            if self._deliver(handle, order, source):
                result.updates += 1

    def _match(
        self,
        handles: list[CommandHandle],
        orders: list[OrderReport],
        source: EvidenceSource,
        found: list[tuple[CommandHandle, OrderReport, EvidenceSource]],
    ) -> list[CommandHandle]:
        """File each handle's order from ``orders`` into ``found``; return the handles not in it."""
        by_oid = {o.order_id: o for o in orders}
        by_cid: dict[str, list[OrderReport]] = {}
        for order in orders:
            if order.client_order_id:
                by_cid.setdefault(order.client_order_id, []).append(order)
        missing: list[CommandHandle] = []
        skew = self._policy.skew_seconds
        for handle in handles:
            match = by_oid.get(handle.order_id) if handle.order_id else None
            if match is None and handle.client_order_id:
                for candidate in by_cid.get(handle.client_order_id, ()):
                    if _is_of(handle, candidate, skew):
                        match = candidate
            if match is None:
                missing.append(handle)
            else:
                found.append((handle, match, source))
        return missing

    def _deliver(self, handle: CommandHandle, order: OrderReport, source: EvidenceSource) -> bool:
        """Publish ``order`` like a stream update when it is ahead of the handle's view."""
        # Judged now, after the reads: the stream may have delivered the same news meanwhile.
        if handle.state is HandleState.FINAL or not advances(handle._venue_view(), order):
            return False
        handles = self._bus.route_order_update(order, source)
        for follow in self._followers:
            try:
                follow(order)
            except Exception:  # one follower's bug must not keep the update from the others
                log.exception("order refresh: a follower failed on %s", order.order_id)
        for reached in handles:
            self._settle(reached)
        return True

    async def _read(self, venue: Venue, call: Callable[[], Awaitable[_T]]) -> _T:
        """A read with backoff and jitter; a rate-limit answer waits the venue's time (capped). Never a write."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._policy.read_attempts),
            wait=_wait_for_venue,
            # A read refused before sending (an id the venue cannot take) fails the same way every time.
            retry=retry_if_exception_type(VenueReadError) & retry_if_not_exception_type(InvalidReadRequest),
            reraise=True,
        ):
            with attempt:
                try:
                    return await call()
                except VenueReadError as exc:
                    # Every malformed answer is counted, also one a retry then gets past.
                    if _is_parse_failure(exc):
                        self._parse_error(venue.name, f"order refresh read: {exc}")
                    raise
        raise VenueReadError("unreachable")  # pragma: no cover - reraise=True always raises first


def _sent_s(handle: CommandHandle) -> float:
    """When the create was sent (its ack's receipt); now when unknown, which only narrows matching."""
    receipt = handle.latest_receipt
    sent = receipt.sent_at if receipt is not None else None
    return sent.timestamp() if sent is not None else time.time()


def _is_of(handle: CommandHandle, order: OrderReport, skew_seconds: float) -> bool:
    """Whether a venue order is this handle's (Binance reuses a client id once its order closed)."""
    if handle.order_id:
        return order.order_id == handle.order_id
    if not handle.client_order_id or order.client_order_id != handle.client_order_id:
        return False
    return order.created_at_ms is None or order.created_at_ms >= (_sent_s(handle) - skew_seconds) * 1000


def _is_parse_failure(exc: VenueReadError) -> bool:
    """A read error caused by a payload that could not be parsed (adapters wrap their ParseError).

    Not an unreachable venue or a rate limit: their error pages (HTML 5xx) fail to parse too,
    but nothing malformed came from the venue's API.
    """
    if isinstance(exc, VenueUnreachable | VenueRateLimited | InvalidReadRequest):
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ValueError):
            return True
        seen = seen.__cause__
    return False


_backoff = wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05)


def _wait_for_venue(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, VenueRateLimited) and exc.retry_after:
        return min(exc.retry_after, 2.0)
    return float(_backoff(state))
