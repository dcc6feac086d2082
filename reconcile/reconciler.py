"""The uncertain-outcome reconciler: settles every UNKNOWN_EXECUTION by venue evidence, never by guessing.

Design
------
Evidence, cheapest first, for each tracked command (a create, or a cancel naming its target):

1. **Stream**: ``OrderReport``s already seen on the user stream (``observe``), cached by
   client order id and order id. Free.
2. **Query by id**: ``query_order`` once per command, and only when its (venue,
   instrument) has at most ``SINGLE_QUERY_LIMIT`` due commands; after a miss, only the batch
   re-reads it (a query cannot cover a window; polling it again would only spend weight).
3. **Batch**: otherwise, and whenever a query does not find it: *one* ``order_history`` over
   ``[min(sent_at) - skew, now]`` per (venue, instrument), plus *one* ``open_orders`` while a
   command is still inside the venue's history lag (or always, for a venue whose history
   omits open orders), shared by every due command on it. Venue reads grow with
   instruments, not with commands.

Matching is by client order id (Binance reuses ids after close, so an order created before
``sent_at - skew`` is not ours) or by venue order id, through dict indexes: a stream update
costs the same with ten thousand tracked commands as with none.

Proof rules
-----------
- Create found -> SYNCHRONIZED with the venue's state, filled quantity and average price.
- Create not found -> ABSENT only after at least two not-found reads, at least one of them a
  complete batch (open orders + history covering the window), the later one made at least
  *grace* after the send: ``grace = max(policy.grace_seconds, recvWindow + venue history lag)``.
  Until then a miss proves nothing (delayed visibility, lagging history).
- Cancel: evidence is about *this* cancel, not about the target alone. Target CANCELED ->
  SYNCHRONIZED only if nothing else accounts for it: not when another cancel of the same target
  is already credited (the venue's own ACCEPTED answer, or an earlier SYNCHRONIZED), not when
  the target was canceled before this cancel was sent (the venue's update time is more than
  ``clock_tolerance_seconds`` before the send, or the stream showed it closed before the send).
  While another cancel of the target is in flight or unknown and could equally have done it,
  nothing is credited: the reason says which cancels the evidence cannot tell apart, and at the
  deadline it is STILL_UNCERTAIN (never both credited). Target FILLED / EXPIRED / REJECTED ->
  ABSENT (the cancel cannot have taken effect); target still open on a read made after grace ->
  ABSENT; target nowhere after grace, twice -> ABSENT. The gateway reports every cancel it sends
  (``cancel_sent`` / ``cancel_answered``) so siblings are known even when only one is unknown.
- A failed read (unreachable, rate-limited, 5xx) is never evidence of anything.

Attempts
--------
An *attempt* is one ``recovery_scheduled`` -> ``recovery_completed`` pair: it starts when a
command is tracked or re-triggered (RECONNECT, MANUAL on a command past its
deadline) and ends with a verdict, or with STILL_UNCERTAIN at the command's deadline. Polls
inside an attempt emit nothing. After a complete miss inside the grace window, polls back off
(doubling) and the next one lands when the window ends, when absence becomes provable.
After STILL_UNCERTAIN the command stays tracked, polled more slowly; a later proof opens a
new attempt (trigger PERIODIC) and completes it.
ABSENT verdicts are remembered (bounded); if the order shows up later on the stream, a
DIVERGED report is emitted and logged at ERROR.

Deliberately not done
---------------------
- Writes are never retried or re-sent; this module never calls ``submit``/``cancel``.
- Trades are read only on a pass that could prove ABSENT: a fill there blocks the verdict
  and its order is fetched by id; an order found in history already carries its fills.
- DIVERGED is detected from the stream and from passes over still-tracked commands, not by
  re-reading history for ABSENT commands forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
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
from gateway.model import (
    CommandOperation,
    CommandStatus,
    EvidenceSource,
    OrderReport,
    OrderState,
    ReconcileOutcome,
    ReconcileReport,
    ReconcileTrigger,
    TradeReport,
)
from gateway.ports import PendingCommand, ReconcileSink, Venue
from reconcile.policy import ReconcilePolicy

__all__ = ["SINGLE_QUERY_LIMIT", "Reconciler"]

log = logging.getLogger(__name__)

SINGLE_QUERY_LIMIT = 2  # due commands per (venue, instrument) worth a query each before batching
_SEEN_LIMIT = 50_000
_ABSENT_LIMIT = 10_000
_ABSENT_MEMORY_SECONDS = 3600.0
_SLOW_FACTOR = 4.0  # polling slows down this much after STILL_UNCERTAIN
_CANCEL_MEMORY = 50_000  # target orders whose cancels are remembered (sibling evidence)
_T = TypeVar("_T")
_Key = tuple[str, str, str]  # ("cid" | "oid", venue, id)


class _CancelState(Enum):
    IN_FLIGHT = "in flight"  # sent, not answered yet
    UNKNOWN = "unknown"  # answered UNKNOWN_EXECUTION, not settled
    CREDITED = "credited"  # this cancel canceled the target (venue's ACCEPTED or SYNCHRONIZED)
    NOT_CREDITED = "not credited"  # rejected, or proved not to have taken effect


@dataclass(slots=True)
class _CancelRecord:
    command_id: str
    sent_s: float
    state: _CancelState


@dataclass
class _Tracked:
    command: PendingCommand
    trigger: ReconcileTrigger
    sent_s: float  # epoch seconds of the send
    grace_s: float
    deadline_s: float
    next_due: float = 0.0  # epoch seconds
    misses: int = 0  # not-found reads (query or batch)
    complete_misses: int = 0  # of which complete batch reads
    last_miss_s: float = 0.0
    open_after_grace: bool = False
    reads: int = 0
    queried: bool = False  # a query by id is worth one try; after a miss only batches re-read it
    uncertain_reported: bool = False
    waits: int = 0  # passes spent inside the grace window after a complete miss (backs off)
    attempt_open: bool = True
    reason: str = "grace window not passed"
    errors: list[str] = field(default_factory=list)
    keys: tuple[_Key, ...] = ()  # the index entries this command is filed under


class Reconciler:
    """See the module docstring. Constructed by ``Gateway`` from a ``ReconcilePolicy``."""

    def __init__(self, venues: Mapping[str, Venue], policy: ReconcilePolicy, sink: ReconcileSink):
        self._venues = venues
        self._policy = policy
        self._sink = sink
        self._tracked: dict[str, _Tracked] = {}
        # Tracked command ids by the order ids / client ids they name: stream routing is O(1).
        self._index: dict[_Key, set[str]] = {}
        self._seen: OrderedDict[_Key, OrderReport] = OrderedDict()
        # When an order was first seen closed here (local clock): a cancel sent after that moment
        # cannot have closed it, whatever the venue's clock says.
        self._closed_seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        # Every cancel the gateway sent, by target: whether another cancel accounts for a CANCELED.
        self._cancels: OrderedDict[_Key, dict[str, _CancelRecord]] = OrderedDict()
        self._absent: OrderedDict[tuple[str, str], tuple[PendingCommand, float]] = OrderedDict()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._semaphore = asyncio.Semaphore(policy.max_concurrency)
        self._lock = asyncio.Lock()
        self.passes = 0

    # ------------------------------------------------------------------ port

    def track(self, command: PendingCommand, trigger: ReconcileTrigger) -> None:
        venue = self._venues.get(command.venue)
        lag = venue.history_lag_seconds if venue is not None else 0.0
        sent = command.sent_at.timestamp()
        grace = max(self._policy.grace_seconds, command.recv_window_ms / 1000 + lag)
        entry = _Tracked(command, trigger, sent, grace, sent + max(self._policy.deadline_seconds, grace))
        self._untrack(command.command_id)
        self._tracked[command.command_id] = entry
        entry.keys = tuple(self._target_keys(command))
        for key in entry.keys:
            self._index.setdefault(key, set()).add(command.command_id)
        if command.operation is CommandOperation.CANCEL_ORDER and self._cancel_record(command) is None:
            self._remember_cancel(command, _CancelState.UNKNOWN)  # e.g. recovered from the journal
        self._open_attempt(entry, trigger)
        if self._decide_from_stream(entry):
            return
        self._wake.set()

    def observe(self, order: OrderReport) -> None:
        for key in self._keys(order):
            self._seen[key] = order
            self._seen.move_to_end(key)
        while len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        if order.state.is_terminal:
            closed = (order.venue, order.order_id)
            if closed not in self._closed_seen:
                self._closed_seen[closed] = time.time()
                while len(self._closed_seen) > _SEEN_LIMIT:
                    self._closed_seen.popitem(last=False)
        for command_id in self._commands_for(order):
            entry = self._tracked.get(command_id)
            if entry is not None:
                self._decide_from_stream(entry)
        if order.client_order_id:
            self._check_diverged(order)

    def cancel_sent(self, command: PendingCommand) -> None:
        """A cancel is about to leave: until it is answered it could account for its target's CANCELED."""
        self._remember_cancel(command, _CancelState.IN_FLIGHT)

    def cancel_answered(self, command: PendingCommand, status: CommandStatus) -> None:
        """The venue's answer to a cancel: ACCEPTED credits it, REJECTED rules it out, UNKNOWN waits."""
        state = {
            CommandStatus.ACCEPTED: _CancelState.CREDITED,
            CommandStatus.REJECTED: _CancelState.NOT_CREDITED,
        }.get(status, _CancelState.UNKNOWN)
        self._remember_cancel(command, state)

    def wants(self, venue: str, client_order_id: str | None) -> bool:
        """Updates of orders no live handle follows matter here only for a remembered ABSENT."""
        return bool(client_order_id) and (venue, client_order_id or "") in self._absent

    def on_stream_gap(self, venue: str, reason: str) -> None:
        self._retrigger(ReconcileTrigger.RECONNECT, venue)

    def is_tracking(self, command_id: str) -> bool:
        return command_id in self._tracked

    @property
    def tracked(self) -> int:
        return len(self._tracked)

    async def reconcile(self, trigger: ReconcileTrigger = ReconcileTrigger.MANUAL) -> list[ReconcileReport]:
        """One pass now over every tracked command.

        Returns a report per command: verdicts (also sent to the sink), and for commands not
        yet decidable an interim STILL_UNCERTAIN that is returned only, never emitted, so a
        handle's ``resolved()`` is not disturbed by a command still inside its grace window.
        """
        for entry in self._tracked.values():
            if not entry.attempt_open:
                self._open_attempt(entry, trigger)
        return await self._pass(force=True)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="reconciler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, not ``await task`` under suppress(CancelledError): a cancel of the
            # caller itself must still reach the caller.
            await asyncio.wait([self._task])
            self._task = None

    # ------------------------------------------------------------------ loop

    async def _loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands as the
            # wake event fires, and the loop (and close()) would then run forever.
            try:
                async with asyncio.timeout(self._policy.interval_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._tracked:
                continue
            try:
                await self._pass(force=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any bug in one pass
                log.exception("reconciliation pass failed; continuing")

    async def _pass(self, *, force: bool) -> list[ReconcileReport]:
        async with self._lock:
            self.passes += 1
            now = time.time()
            due = [e for e in self._tracked.values() if force or e.next_due <= now]
            groups: dict[tuple[str, str], list[_Tracked]] = {}
            for entry in due:
                groups.setdefault((entry.command.venue, entry.command.instrument), []).append(entry)
            results = await asyncio.gather(*(self._settle_group(v, i, items) for (v, i), items in groups.items()))
            return [report for group in results for report in group]

    async def _settle_group(self, venue_name: str, instrument: str, items: list[_Tracked]) -> list[ReconcileReport]:
        venue = self._venues.get(venue_name)
        reports: list[ReconcileReport] = []
        if venue is None:
            for entry in items:
                entry.reason = f"venue {venue_name!r} is not configured"
                reports.append(self._after_misses(entry))
            return reports
        async with self._semaphore:
            pending = [e for e in items if e.command.command_id in self._tracked and not self._decide_from_stream(e)]
            fresh = [e for e in pending if not e.queried]
            if fresh and len(pending) <= SINGLE_QUERY_LIMIT:
                await self._query_each(venue, instrument, fresh, reports)
                pending = [e for e in pending if e.command.command_id in self._tracked]
            if pending:
                await self._batch(venue, instrument, pending, reports)
        for entry in pending:
            if entry.command.command_id in self._tracked:
                reports.append(self._after_misses(entry))
        return reports

    async def _query_each(
        self, venue: Venue, instrument: str, items: list[_Tracked], reports: list[ReconcileReport]
    ) -> None:
        for entry in items:
            entry.queried = True
            cmd = entry.command
            try:
                entry.reads += 1
                cid, oid = cmd.client_order_id, cmd.order_id
                order = await self._read(
                    venue,
                    lambda: venue.query_order(instrument, client_order_id=cid, order_id=oid),  # noqa: B023
                )
            except VenueReadError as exc:
                entry.reason = _read_failure(exc)
                continue
            if order is not None and self._matches(entry, order):
                report = self._decide_found(entry, order, EvidenceSource.ORDER_QUERY)
                if report is not None:
                    reports.append(report)
                    continue
            elif order is None:
                entry.misses += 1
                entry.last_miss_s = time.time()

    async def _batch(
        self, venue: Venue, instrument: str, items: list[_Tracked], reports: list[ReconcileReport]
    ) -> None:
        start_ms = int((min(e.sent_s for e in items) - self._policy.skew_seconds) * 1000)
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
        reads = (2 if need_open else 1) + (1 if confirming else 0)
        end_ms = int(read_at * 1000) + 1
        try:
            open_orders = await self._read(venue, lambda: venue.open_orders(instrument)) if need_open else []
            history = await self._read(venue, lambda: venue.order_history(instrument, start_ms, end_ms))
            trades = await self._read(venue, lambda: venue.trades(instrument, start_ms, end_ms)) if confirming else []
        except VenueReadError as exc:
            for entry in items:
                entry.reads += reads
                entry.reason = _read_failure(exc)
            return
        by_cid: dict[str, list[tuple[OrderReport, EvidenceSource]]] = {}
        by_oid: dict[str, tuple[OrderReport, EvidenceSource]] = {}
        for source, orders in ((EvidenceSource.ORDER_HISTORY, history), (EvidenceSource.OPEN_ORDERS, open_orders)):
            for order in orders:  # open orders last: they are the freshest view
                if order.client_order_id:
                    by_cid.setdefault(order.client_order_id, []).append((order, source))
                by_oid[order.order_id] = (order, source)
        fills: dict[tuple[str, str], TradeReport] = {}
        for trade in trades:
            fills[("oid", trade.order_id)] = trade
            if trade.client_order_id:
                fills[("cid", trade.client_order_id)] = trade
        for entry in items:
            entry.reads += reads
            found = self._lookup(entry, by_cid, by_oid)
            if found is not None:
                report = self._decide_found(entry, found[0], found[1], read_at=read_at)
                if report is not None:
                    reports.append(report)
                continue
            fill = self._trade_of(entry, fills)
            if fill is not None:
                report = await self._from_trade(venue, instrument, entry, fill)
                if report is not None:
                    reports.append(report)
                continue
            entry.misses += 1
            entry.complete_misses += 1
            entry.last_miss_s = read_at

    def _trade_of(self, entry: _Tracked, fills: dict[tuple[str, str], TradeReport]) -> TradeReport | None:
        cmd = entry.command
        trade: TradeReport | None = fills.get(("oid", cmd.order_id)) if cmd.order_id else None
        if trade is None and cmd.client_order_id:
            trade = fills.get(("cid", cmd.client_order_id))
            if trade is not None and trade.time_ms < (entry.sent_s - self._policy.skew_seconds) * 1000:
                trade = None  # a fill of an older order that held the same client id
        return trade

    async def _from_trade(
        self, venue: Venue, instrument: str, entry: _Tracked, trade: TradeReport
    ) -> ReconcileReport | None:
        """A fill proves the order exists: fetch it by id for its state; never a miss, whatever happens."""
        entry.reason = f"a fill of order {trade.order_id} is in the trade history; the order is not visible yet"
        try:
            entry.reads += 1
            order = await self._read(venue, lambda: venue.query_order(instrument, order_id=trade.order_id))
        except VenueReadError as exc:
            entry.reason = _read_failure(exc)
            return None
        if order is None:
            return None
        return self._decide_found(entry, order, EvidenceSource.TRADES)

    # ------------------------------------------------------------------ decisions

    def _lookup(
        self,
        entry: _Tracked,
        by_cid: dict[str, list[tuple[OrderReport, EvidenceSource]]],
        by_oid: dict[str, tuple[OrderReport, EvidenceSource]],
    ) -> tuple[OrderReport, EvidenceSource] | None:
        cmd = entry.command
        if cmd.order_id and cmd.order_id in by_oid:
            return by_oid[cmd.order_id]
        best: tuple[OrderReport, EvidenceSource] | None = None
        for order, source in by_cid.get(cmd.client_order_id or "", ()):
            if self._matches(entry, order):
                best = (order, source)  # later entries (open orders) win
        return best

    def _matches(self, entry: _Tracked, order: OrderReport) -> bool:
        cmd = entry.command
        if cmd.order_id and order.order_id == cmd.order_id:
            return True
        if not cmd.client_order_id or order.client_order_id != cmd.client_order_id:
            return False
        if order.created_at_ms is None or cmd.operation is CommandOperation.CANCEL_ORDER:
            return True
        return order.created_at_ms >= (entry.sent_s - self._policy.skew_seconds) * 1000

    def _decide_from_stream(self, entry: _Tracked) -> bool:
        cmd = entry.command
        order = None
        if cmd.order_id:
            order = self._seen.get(("oid", cmd.venue, cmd.order_id))
        if order is None and cmd.client_order_id:
            order = self._seen.get(("cid", cmd.venue, cmd.client_order_id))
        if order is None or not self._matches(entry, order):
            return False
        return self._decide_found(entry, order, EvidenceSource.USER_STREAM) is not None

    def _decide_found(
        self, entry: _Tracked, order: OrderReport, source: EvidenceSource, *, read_at: float | None = None
    ) -> ReconcileReport | None:
        cmd = entry.command
        if cmd.operation is CommandOperation.CREATE_ORDER:
            return self._complete(entry, ReconcileOutcome.SYNCHRONIZED, source, order, f"order {order.order_id} found")
        if order.state is OrderState.CANCELED:
            return self._decide_canceled(entry, order, source)
        if order.state.is_terminal:
            return self._complete(
                entry,
                ReconcileOutcome.ABSENT,
                source,
                order,
                f"target order is {order.state.value}: the cancel cannot have taken effect",
            )
        if (read_at or time.time()) >= entry.sent_s + entry.grace_s:
            entry.open_after_grace = True
            return self._complete(
                entry, ReconcileOutcome.ABSENT, source, order, "target order still open after the grace window"
            )
        entry.reason = "target order still open inside the grace window"
        return None

    def _decide_canceled(self, entry: _Tracked, order: OrderReport, source: EvidenceSource) -> ReconcileReport | None:
        """The target is CANCELED: credit this cancel only if nothing else accounts for it (module docstring)."""
        cmd = entry.command
        siblings: dict[str, _CancelRecord] = {}
        for key in (*self._keys(order), *entry.keys):
            siblings.update(self._cancels.get(key, {}))
        siblings.pop(cmd.command_id, None)
        for other in siblings.values():
            if other.state is _CancelState.CREDITED:
                return self._complete(
                    entry,
                    ReconcileOutcome.ABSENT,
                    source,
                    order,
                    f"target order is CANCELED by another cancel ({other.command_id}), not by this one",
                )
        tolerance = self._policy.clock_tolerance_seconds
        canceled_s = order.updated_at_ms / 1000 if order.updated_at_ms is not None else None
        if canceled_s is not None and canceled_s < entry.sent_s - tolerance:
            return self._complete(
                entry,
                ReconcileOutcome.ABSENT,
                source,
                order,
                f"target order was canceled {entry.sent_s - canceled_s:.3f}s before this cancel was sent",
            )
        seen_s = self._closed_seen.get((cmd.venue, order.order_id))
        if seen_s is not None and seen_s < entry.sent_s:
            return self._complete(
                entry,
                ReconcileOutcome.ABSENT,
                source,
                order,
                "target order was already seen CANCELED before this cancel was sent",
            )
        rivals = sorted(
            other.command_id
            for other in siblings.values()
            if other.state in (_CancelState.IN_FLIGHT, _CancelState.UNKNOWN)
            and (canceled_s is None or canceled_s >= other.sent_s - tolerance)
            and (seen_s is None or seen_s >= other.sent_s)
        )
        if rivals:
            entry.reason = (
                f"target order is CANCELED, but cancel(s) {', '.join(rivals)} of the same order could equally "
                "have done it: the evidence cannot tell them apart"
            )
            return None
        return self._complete(entry, ReconcileOutcome.SYNCHRONIZED, source, order, "target order is CANCELED")

    def _after_misses(self, entry: _Tracked) -> ReconcileReport:
        """No proof this pass: ABSENT if the rule allows, STILL_UNCERTAIN at the deadline, else interim."""
        now = time.time()
        past_grace = entry.last_miss_s >= entry.sent_s + entry.grace_s
        if entry.misses >= 2 and entry.complete_misses >= 1 and past_grace:
            what = "order" if entry.command.operation is CommandOperation.CREATE_ORDER else "target order"
            return self._complete(
                entry,
                ReconcileOutcome.ABSENT,
                EvidenceSource.ORDER_HISTORY,
                None,
                f"{what} not found in {entry.misses} reads covering the window, the last "
                f"{entry.last_miss_s - entry.sent_s:.1f}s after the send (grace {entry.grace_s:.1f}s)",
            )
        if entry.misses and not past_grace:
            entry.reason = "not found yet; the grace window has not passed"
        elif entry.misses and entry.complete_misses == 0:
            entry.reason = "not found by query; complete history not read yet"
        interval = self._policy.interval_seconds * (_SLOW_FACTOR if entry.uncertain_reported else 1.0)
        grace_ends = entry.sent_s + entry.grace_s
        if entry.complete_misses and now < grace_ends:
            # Inside the grace window a read can only find a late order (the stream may tell us
            # first): back off, but read again the moment absence becomes provable.
            entry.waits += 1
            entry.next_due = min(now + interval * 2 ** min(entry.waits, 6), grace_ends)
        else:
            entry.next_due = now + interval
        report = self._report(entry, ReconcileOutcome.STILL_UNCERTAIN, EvidenceSource.NONE, None, entry.reason)
        if now >= entry.deadline_s and entry.attempt_open:
            entry.uncertain_reported = True
            entry.attempt_open = False
            self._sink.recovery_completed(entry.command, report)
        return report

    def _complete(
        self,
        entry: _Tracked,
        outcome: ReconcileOutcome,
        source: EvidenceSource,
        order: OrderReport | None,
        reason: str,
    ) -> ReconcileReport:
        cmd = entry.command
        self._untrack(cmd.command_id)
        if not entry.attempt_open:
            self._open_attempt(entry, ReconcileTrigger.PERIODIC)
        entry.attempt_open = False
        if order is not None and cmd.order_id is None and cmd.operation is CommandOperation.CREATE_ORDER:
            cmd.order_id = order.order_id
        report = self._report(entry, outcome, source, order, reason)
        if (
            outcome is ReconcileOutcome.ABSENT
            and cmd.operation is CommandOperation.CREATE_ORDER
            and cmd.client_order_id
        ):
            self._absent[(cmd.venue, cmd.client_order_id)] = (cmd, time.time())
            while len(self._absent) > _ABSENT_LIMIT:
                self._absent.popitem(last=False)
        self._sink.recovery_completed(cmd, report)
        if cmd.operation is CommandOperation.CANCEL_ORDER:
            credited = outcome is ReconcileOutcome.SYNCHRONIZED
            self._remember_cancel(cmd, _CancelState.CREDITED if credited else _CancelState.NOT_CREDITED)
        return report

    def _report(
        self,
        entry: _Tracked,
        outcome: ReconcileOutcome,
        source: EvidenceSource,
        order: OrderReport | None,
        reason: str,
    ) -> ReconcileReport:
        cmd = entry.command
        return ReconcileReport(
            command_id=cmd.command_id,
            operation=cmd.operation,
            venue=cmd.venue,
            instrument=cmd.instrument,
            client_order_id=cmd.client_order_id,
            order_id=(order.order_id if order else None) or cmd.order_id,
            outcome=outcome,
            trigger=entry.trigger,
            evidence=source,
            order=order,
            reason=reason,
            attempt=max(1, cmd.attempts),
            venue_reads=entry.reads,
        )

    def _check_diverged(self, order: OrderReport) -> None:
        key = (order.venue, order.client_order_id or "")
        found = self._absent.get(key)
        if found is None:
            return
        cmd, when = found
        if time.time() - when > _ABSENT_MEMORY_SECONDS:
            self._absent.pop(key, None)
            return
        if (
            order.created_at_ms is not None
            and order.created_at_ms < (cmd.sent_at.timestamp() - self._policy.skew_seconds) * 1000
        ):
            return
        self._absent.pop(key, None)
        log.error(
            "DIVERGED: %s was proved ABSENT but order %s now exists on %s", cmd.command_id, order.order_id, cmd.venue
        )
        cmd.attempts += 1
        self._sink.recovery_scheduled(cmd, ReconcileTrigger.PERIODIC)
        self._sink.recovery_completed(
            cmd,
            ReconcileReport(
                command_id=cmd.command_id,
                operation=cmd.operation,
                venue=cmd.venue,
                instrument=cmd.instrument,
                client_order_id=cmd.client_order_id,
                order_id=order.order_id,
                outcome=ReconcileOutcome.DIVERGED,
                trigger=ReconcileTrigger.PERIODIC,
                evidence=EvidenceSource.USER_STREAM,
                order=order,
                reason="order appeared after ABSENT was reported",
                attempt=cmd.attempts,
            ),
        )

    # ------------------------------------------------------------------ plumbing

    def _open_attempt(self, entry: _Tracked, trigger: ReconcileTrigger) -> None:
        entry.trigger = trigger
        entry.attempt_open = True
        entry.command.attempts += 1
        self._sink.recovery_scheduled(entry.command, trigger)

    def _retrigger(self, trigger: ReconcileTrigger, venue: str | None) -> None:
        for entry in self._tracked.values():
            if venue is None or entry.command.venue == venue:
                if not entry.attempt_open:
                    self._open_attempt(entry, trigger)
                entry.next_due = 0.0
        self._wake.set()

    def _untrack(self, command_id: str) -> None:
        entry = self._tracked.pop(command_id, None)
        if entry is None:
            return
        for key in entry.keys:
            ids = self._index.get(key)
            if ids is not None:
                ids.discard(command_id)
                if not ids:
                    del self._index[key]

    def _commands_for(self, order: OrderReport) -> list[str]:
        found: set[str] = set()
        for key in self._keys(order):
            found.update(self._index.get(key, ()))
        return sorted(found)

    @staticmethod
    def _target_keys(command: PendingCommand) -> list[_Key]:
        """The order a command names: a create's own ids, or a cancel's target."""
        keys: list[_Key] = []
        if command.client_order_id:
            keys.append(("cid", command.venue, command.client_order_id))
        if command.order_id:
            keys.append(("oid", command.venue, command.order_id))
        return keys

    def _cancel_record(self, command: PendingCommand) -> _CancelRecord | None:
        for key in self._target_keys(command):
            record = self._cancels.get(key, {}).get(command.command_id)
            if record is not None:
                return record
        return None

    def _remember_cancel(self, command: PendingCommand, state: _CancelState) -> None:
        record = self._cancel_record(command)
        if record is None:
            record = _CancelRecord(command.command_id, command.sent_at.timestamp(), state)
        record.state = state
        for key in self._target_keys(command):
            self._cancels.setdefault(key, {})[command.command_id] = record
            self._cancels.move_to_end(key)
        while len(self._cancels) > _CANCEL_MEMORY:
            self._cancels.popitem(last=False)
        if state is not _CancelState.IN_FLIGHT:
            self._recheck_siblings(command)

    def _recheck_siblings(self, command: PendingCommand) -> None:
        """A cancel's standing changed: tracked cancels of the same target may be decidable now."""
        keys = self._target_keys(command)
        for key in list(keys):
            seen = self._seen.get(key)
            if seen is not None:
                keys.extend(self._keys(seen))  # the same target named by its other id
        ids: set[str] = set()
        for key in keys:
            ids.update(self._index.get(key, ()))
        ids.discard(command.command_id)
        woke = False
        for command_id in sorted(ids):
            entry = self._tracked.get(command_id)
            if entry is None or entry.command.operation is not CommandOperation.CANCEL_ORDER:
                continue
            if not self._decide_from_stream(entry):
                entry.next_due = 0.0
                woke = True
        if woke:
            self._wake.set()

    @staticmethod
    def _keys(order: OrderReport) -> list[_Key]:
        keys = [("oid", order.venue, order.order_id)]
        if order.client_order_id:
            keys.append(("cid", order.venue, order.client_order_id))
        return keys

    async def _read(self, venue: Venue, call: Callable[[], Awaitable[_T]]) -> _T:
        """A venue read with backoff and jitter; rate limits wait the venue's time (capped)."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._policy.read_attempts),
            wait=_wait_for_venue,
            # A read refused before sending (an id the venue cannot take) fails the same way every time.
            retry=retry_if_exception_type(VenueReadError) & retry_if_not_exception_type(InvalidReadRequest),
            reraise=True,
        ):
            with attempt:
                return await call()
        raise VenueReadError("unreachable")  # pragma: no cover - reraise=True always raises first


_backoff = wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05)


def _wait_for_venue(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, VenueRateLimited) and exc.retry_after:
        return min(exc.retry_after, 2.0)
    return float(_backoff(state))


def _read_failure(exc: VenueReadError) -> str:
    if isinstance(exc, VenueRateLimited):
        return f"rate-limited: {exc}"
    if isinstance(exc, VenueUnreachable):
        return f"venue unreachable: {exc}"
    return f"read failed: {exc}"
