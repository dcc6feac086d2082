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

Layout
------
This module composes the parts and owns the verdicts' side effects (reports, attempts, the
sink); the parts are ``reconcile.evidence`` (the proof rules above, as pure functions over
plain data), ``reconcile.reads`` (retried reads and the batched read per (venue,
instrument)), ``reconcile.tracking`` (the tracked set, its indexes and the pass loop) and
``reconcile.memory`` (stream views, sent cancels, ABSENT verdicts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from gateway.errors import VenueReadError
from gateway.logs import command_fields
from gateway.model import (
    AmendmentReport,
    CommandOperation,
    CommandStatus,
    EvidenceSource,
    OrderReport,
    ReconcileOutcome,
    ReconcileReport,
    ReconcileTrigger,
    TradeReport,
)
from gateway.ports import READ_PURPOSE, PendingCommand, ReconcileSink, Venue
from reconcile.amend_evidence import AmendRecords, decide_amend
from reconcile.cancel_all import CancelAllBook, CancelAllSettler
from reconcile.evidence import CancelState, Decision, decide_after_misses, decide_found, matches
from reconcile.memory import AbsentMemory, CancelBook, StreamMemory
from reconcile.policy import ReconcilePolicy
from reconcile.reads import BatchPlan, read, read_batch, read_failure
from reconcile.tracking import PassLoop, Tracked, TrackedSet, order_keys, target_keys

__all__ = ["SINGLE_QUERY_LIMIT", "Reconciler"]

log = logging.getLogger(__name__)

SINGLE_QUERY_LIMIT = 2  # due commands per (venue, instrument) worth a query each before batching


class Reconciler:
    """See the module docstring. Constructed by ``Gateway`` from a ``ReconcilePolicy``."""

    def __init__(self, venues: Mapping[str, Venue], policy: ReconcilePolicy, sink: ReconcileSink):
        self._venues = venues
        self._policy = policy
        self._sink = sink
        self._set = TrackedSet()
        self._stream = StreamMemory()
        self._cancels = CancelBook()
        self._absent = AbsentMemory()
        # Cancel-alls name no order: their targets' evidence and verdicts (reconcile/cancel_all.py).
        self._all_book = CancelAllBook(self._cancels)
        self._cancel_alls = CancelAllSettler(policy, self._all_book, self._stream)
        self._loop = PassLoop(policy.interval_seconds, lambda: self._pass(force=False), lambda: bool(self._set))
        # Read slots per venue: one venue waiting out a rate limit must not hold the others' reads.
        self._slots: dict[str, asyncio.Semaphore] = {}
        # The background loop's group reads run as tasks it does not wait for, so a slow venue
        # (a ban, retries) never delays the next pass over the others; one task per group at a time.
        self._groups: dict[tuple[str, str], asyncio.Task[list[ReconcileReport]]] = {}
        self._lock = asyncio.Lock()
        # Amends' amendment-history reads (Binance), by command id: evidence a lost amend took effect.
        self._amend_history: dict[str, AmendRecords] = {}
        self.passes = 0

    # The tracked set's two maps, for structural tests (tests/reconcile/test_indexing.py swaps in
    # a map that refuses to be iterated, to prove a stream event is routed without a scan).
    @property
    def _tracked(self) -> dict[str, Tracked]:
        return self._set.entries

    @_tracked.setter
    def _tracked(self, entries: dict[str, Tracked]) -> None:
        self._set.entries = entries

    @property
    def _index(self) -> Mapping[tuple[str, str, str], set[str]]:
        return self._set.index

    # ------------------------------------------------------------------ port

    def track(self, command: PendingCommand, trigger: ReconcileTrigger) -> None:
        venue = self._venues.get(command.venue)
        lag = venue.history_lag_seconds if venue is not None else 0.0
        sent = command.sent_at.timestamp()
        grace = max(self._policy.grace_seconds, command.recv_window_ms / 1000 + lag)
        entry = Tracked(command, trigger, sent, grace, sent + max(self._policy.deadline_seconds, grace))
        self._set.add(entry)
        if command.operation is CommandOperation.CANCEL_ORDER and self._cancels.record(command) is None:
            self._remember_cancel(command, CancelState.UNKNOWN)  # e.g. recovered from the journal
        elif command.operation is CommandOperation.CANCEL_ALL:
            self._all_book.remember(command, CancelState.UNKNOWN)
        self._open_attempt(entry, trigger)
        if self._decide_from_stream(entry):
            return
        self._loop.wake()

    def observe(self, order: OrderReport) -> None:
        self._stream.observe(order)
        for command_id in sorted(self._set.ids_for(order_keys(order))):
            entry = self._set.get(command_id)
            if entry is not None:
                self._decide_from_stream(entry)
        if order.client_order_id:
            self._check_diverged(order)

    def cancel_sent(self, command: PendingCommand) -> None:
        """A cancel is about to leave: until it is answered it could account for its target's CANCELED."""
        self._remember_cancel(command, CancelState.IN_FLIGHT)

    def cancel_answered(self, command: PendingCommand, status: CommandStatus) -> None:
        """The venue's answer to a cancel: ACCEPTED credits it, REJECTED rules it out, UNKNOWN waits."""
        state = {
            CommandStatus.ACCEPTED: CancelState.CREDITED,
            CommandStatus.REJECTED: CancelState.NOT_CREDITED,
        }.get(status, CancelState.UNKNOWN)
        self._remember_cancel(command, state)

    def wants(self, venue: str, client_order_id: str | None) -> bool:
        """Updates of orders no live handle follows matter here only for a remembered ABSENT."""
        return bool(client_order_id) and (venue, client_order_id or "") in self._absent

    def on_stream_gap(self, venue: str, reason: str) -> None:
        self._retrigger(ReconcileTrigger.RECONNECT, venue)

    def is_tracking(self, command_id: str) -> bool:
        return command_id in self._set

    @property
    def tracked(self) -> int:
        return len(self._set)

    async def reconcile(self, trigger: ReconcileTrigger = ReconcileTrigger.MANUAL) -> list[ReconcileReport]:
        """One pass now over every tracked command.

        Returns a report per command: verdicts (also sent to the sink), and for commands not
        yet decidable an interim STILL_UNCERTAIN that is returned only, never emitted, so a
        handle's ``resolved()`` is not disturbed by a command still inside its grace window.
        """
        for entry in self._set.all():
            if not entry.attempt_open:
                self._open_attempt(entry, trigger)
        return await self._pass(force=True)

    async def start(self) -> None:
        await self._loop.start()

    async def close(self) -> None:
        await self._loop.close()
        running = list(self._groups.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        self._groups.clear()

    # ------------------------------------------------------------------ passes

    async def _pass(self, *, force: bool) -> list[ReconcileReport]:
        """One pass: a group read per (venue, instrument) with due commands.

        ``force`` (``reconcile()``) waits for every group and returns their reports; the loop's
        pass starts its groups and returns, skipping a group whose previous read still runs.
        """
        async with self._lock:
            self.passes += 1
            groups: dict[tuple[str, str], list[Tracked]] = {}
            for entry in self._set.due(time.time(), force=force):
                groups.setdefault((entry.command.venue, entry.command.instrument), []).append(entry)
            tasks: list[asyncio.Task[list[ReconcileReport]]] = []
            for key, items in groups.items():
                running = self._groups.get(key)
                if running is not None and not running.done():
                    if not force:
                        continue
                    await asyncio.wait([running])
                tasks.append(self._start_group(key, items))
        if not force:
            return []
        results = await asyncio.gather(*tasks)
        return [report for group in results for report in group]

    def _start_group(self, key: tuple[str, str], items: list[Tracked]) -> asyncio.Task[list[ReconcileReport]]:
        task = asyncio.create_task(self._settle_group(*key, items), name=f"reconcile:{key[0]}:{key[1]}")
        self._groups[key] = task

        def done(finished: asyncio.Task[list[ReconcileReport]]) -> None:
            if self._groups.get(key) is finished:
                del self._groups[key]
            if not finished.cancelled() and finished.exception() is not None:
                log.error("reconciliation of %s %s failed; continuing", *key, exc_info=finished.exception())

        task.add_done_callback(done)
        return task

    async def _settle_group(self, venue_name: str, instrument: str, items: list[Tracked]) -> list[ReconcileReport]:
        READ_PURPOSE.set("reconcile")  # this group's own task: its venue reads are tallied as the reconciler's
        venue = self._venues.get(venue_name)
        reports: list[ReconcileReport] = []
        if venue is None:
            for entry in items:
                entry.reason = f"venue {venue_name!r} is not configured"
                reports.append(self._after_misses(entry))
            return reports
        slots = self._slots.get(venue_name)
        if slots is None:
            slots = self._slots[venue_name] = asyncio.Semaphore(self._policy.max_concurrency)
        async with slots:
            pending = [e for e in items if e.command.command_id in self._set and not self._decide_from_stream(e)]
            pending, proofs = await self._cancel_alls.prove(venue, pending)
            for entry, decision in proofs:
                verdict = self._apply(entry, decision, EvidenceSource.OPEN_ORDERS, None)
                reports.append(verdict or self._after_misses(entry))
            await self._read_amendments(venue, instrument, pending)
            fresh = [e for e in pending if not e.queried]
            if fresh and len(pending) <= SINGLE_QUERY_LIMIT:
                await self._query_each(venue, instrument, fresh, reports)
                pending = [e for e in pending if e.command.command_id in self._set]
            if pending:
                await self._batch(venue, instrument, pending, reports)
        for entry in pending:
            if entry.command.command_id in self._set:
                reports.append(self._after_misses(entry))
        return reports

    async def _read_amendments(self, venue: Venue, instrument: str, items: list[Tracked]) -> None:
        """The venue's amendment history of each amend past its grace window (one read each, only then).

        Only then can it matter: inside the window a view without the new values proves nothing,
        and one with them needs no record. A venue that keeps none answers None without a read.
        """
        now = time.time()
        for entry in items:
            cmd = entry.command
            if cmd.operation is not CommandOperation.AMEND_ORDER or now < entry.sent_s + entry.grace_s:
                continue
            try:
                entry.reads += 1
                records = await read(_amendments_of(venue, instrument, entry, self._policy.skew_seconds, now),
                                     self._policy.read_attempts)  # fmt: skip
            except VenueReadError as exc:
                entry.reason = read_failure(exc)
                continue
            self._amend_history[cmd.command_id] = AmendRecords(records, now)

    async def _query_each(
        self, venue: Venue, instrument: str, items: list[Tracked], reports: list[ReconcileReport]
    ) -> None:
        for entry in items:
            entry.queried = True
            cmd = entry.command
            try:
                entry.reads += 1
                cid, oid = cmd.client_order_id, cmd.order_id
                order = await read(
                    lambda: venue.query_order(instrument, client_order_id=cid, order_id=oid),  # noqa: B023
                    self._policy.read_attempts,
                )
            except VenueReadError as exc:
                entry.reason = read_failure(exc)
                continue
            if order is not None and matches(cmd, entry.sent_s, order, self._policy.skew_seconds):
                report = self._decide_found(entry, order, EvidenceSource.ORDER_QUERY)
                if report is not None:
                    reports.append(report)
                    continue
            elif order is None:
                entry.misses += 1
                entry.last_miss_s = time.time()

    async def _batch(self, venue: Venue, instrument: str, items: list[Tracked], reports: list[ReconcileReport]) -> None:
        skew = self._policy.skew_seconds
        plan = BatchPlan.for_commands(venue, items, skew)
        try:
            view = await read_batch(venue, instrument, plan, self._policy.read_attempts)
        except VenueReadError as exc:
            for entry in items:
                entry.reads += plan.reads
                entry.reason = read_failure(exc)
            return
        for entry in items:
            entry.reads += plan.reads
            found = view.find(entry.command, entry.sent_s, skew)
            if found is not None:
                report = self._decide_found(entry, found[0], found[1], read_at=plan.read_at)
                if report is not None:
                    reports.append(report)
                continue
            fill = view.fill_of(entry.command, entry.sent_s, skew)
            if fill is not None:
                report = await self._from_trade(venue, instrument, entry, fill)
                if report is not None:
                    reports.append(report)
                continue
            entry.misses += 1
            entry.complete_misses += 1
            entry.last_miss_s = plan.read_at

    async def _from_trade(
        self, venue: Venue, instrument: str, entry: Tracked, trade: TradeReport
    ) -> ReconcileReport | None:
        """A fill proves the order exists: fetch it by id for its state; never a miss, whatever happens."""
        entry.reason = f"a fill of order {trade.order_id} is in the trade history; the order is not visible yet"
        try:
            entry.reads += 1
            order = await read(
                lambda: venue.query_order(instrument, order_id=trade.order_id), self._policy.read_attempts
            )
        except VenueReadError as exc:
            entry.reason = read_failure(exc)
            return None
        if order is None:
            return None
        return self._decide_found(entry, order, EvidenceSource.TRADES)

    # ------------------------------------------------------------------ verdicts

    def _decide_from_stream(self, entry: Tracked) -> bool:
        order = self._stream.view_of(entry.command)
        if order is None or not matches(entry.command, entry.sent_s, order, self._policy.skew_seconds):
            return False
        # A stream view is the order as of its venue timestamp, not as of now: the update that
        # would change it may be lost in a gap. So an open target proves "open after the grace
        # window" only if the venue stamped the view after that window (less the clock tolerance).
        stamped_s = order.updated_at_ms / 1000 - self._policy.clock_tolerance_seconds if order.updated_at_ms else 0.0
        return self._decide_found(entry, order, EvidenceSource.USER_STREAM, read_at=stamped_s) is not None

    def _decide_found(
        self, entry: Tracked, order: OrderReport, source: EvidenceSource, *, read_at: float | None = None
    ) -> ReconcileReport | None:
        cmd = entry.command
        if cmd.operation is CommandOperation.AMEND_ORDER:
            amended = decide_amend(
                cmd,
                order,
                sent_s=entry.sent_s,
                grace_s=entry.grace_s,
                at=time.time() if read_at is None else read_at,
                history=self._amend_history.get(cmd.command_id),
                tolerance_s=self._policy.clock_tolerance_seconds,
            )
            return self._apply(entry, amended, source, order)
        decision = decide_found(
            cmd,
            order,
            sent_s=entry.sent_s,
            grace_s=entry.grace_s,
            at=time.time() if read_at is None else read_at,
            siblings=self._cancels.siblings([*order_keys(order), *entry.keys], cmd.command_id),
            seen_closed_s=self._stream.closed_at(cmd.venue, order.order_id),
            tolerance_s=self._policy.clock_tolerance_seconds,
        )
        return self._apply(entry, decision, source, order)

    def _apply(
        self, entry: Tracked, decision: Decision, source: EvidenceSource, order: OrderReport | None
    ) -> ReconcileReport | None:
        if decision.outcome is None:
            entry.reason = decision.reason
            return None
        return self._complete(entry, decision.outcome, source, order, decision.reason)

    def _after_misses(self, entry: Tracked) -> ReconcileReport:
        """No proof this pass: ABSENT if the rule allows, STILL_UNCERTAIN at the deadline, else interim."""
        now = time.time()
        decision = decide_after_misses(
            entry.command.operation,
            misses=entry.misses,
            complete_misses=entry.complete_misses,
            last_miss_s=entry.last_miss_s,
            sent_s=entry.sent_s,
            grace_s=entry.grace_s,
            reason=entry.reason,
        )
        verdict = self._apply(entry, decision, EvidenceSource.ORDER_HISTORY, None)
        if verdict is not None:
            return verdict
        entry.schedule_after_miss(now, self._policy.interval_seconds)
        report = self._report(entry, ReconcileOutcome.STILL_UNCERTAIN, EvidenceSource.NONE, None, entry.reason)
        if now >= entry.deadline_s and entry.attempt_open:
            entry.uncertain_reported = True
            entry.attempt_open = False
            self._sink.recovery_completed(entry.command, report)
        return report

    def _complete(
        self,
        entry: Tracked,
        outcome: ReconcileOutcome,
        source: EvidenceSource,
        order: OrderReport | None,
        reason: str,
    ) -> ReconcileReport:
        cmd = entry.command
        self._set.remove(cmd.command_id)
        self._amend_history.pop(cmd.command_id, None)
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
            self._absent.remember(cmd, cmd.client_order_id)
        self._sink.recovery_completed(cmd, report)
        if cmd.operation is CommandOperation.CANCEL_ORDER:
            credited = outcome is ReconcileOutcome.SYNCHRONIZED
            self._remember_cancel(cmd, CancelState.CREDITED if credited else CancelState.NOT_CREDITED)
        return report

    def _report(
        self,
        entry: Tracked,
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
        cmd = self._absent.sighted(order, self._policy.skew_seconds)
        if cmd is None:
            return
        log.error(
            "DIVERGED: %s was proved ABSENT but order %s now exists on %s",
            cmd.command_id,
            order.order_id,
            cmd.venue,
            extra=command_fields(cmd),
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

    # ------------------------------------------------------------------ attempts and siblings

    def _open_attempt(self, entry: Tracked, trigger: ReconcileTrigger) -> None:
        entry.trigger = trigger
        entry.attempt_open = True
        entry.command.attempts += 1
        self._sink.recovery_scheduled(entry.command, trigger)

    def _retrigger(self, trigger: ReconcileTrigger, venue: str | None) -> None:
        for entry in self._set.all():
            if venue is None or entry.command.venue == venue:
                if not entry.attempt_open:
                    self._open_attempt(entry, trigger)
                entry.next_due = 0.0
        self._loop.wake()

    def _remember_cancel(self, command: PendingCommand, state: CancelState) -> None:
        if command.operation is CommandOperation.CANCEL_ALL:
            self._all_book.remember(command, state)  # filed under each target it may cancel
            return
        self._cancels.remember(command, state)
        if state is not CancelState.IN_FLIGHT:
            self._recheck_siblings(command)

    def _recheck_siblings(self, command: PendingCommand) -> None:
        """A cancel's standing changed: tracked cancels of the same target may be decidable now."""
        keys = target_keys(command)
        for key in list(keys):
            seen = self._stream.view(key)
            if seen is not None:
                keys.extend(order_keys(seen))  # the same target named by its other id
        ids = self._set.ids_for(keys)
        ids.discard(command.command_id)
        woke = False
        for command_id in sorted(ids):
            entry = self._set.get(command_id)
            if entry is None or entry.command.operation is not CommandOperation.CANCEL_ORDER:
                continue
            if not self._decide_from_stream(entry):
                entry.next_due = 0.0
                woke = True
        if woke:
            self._loop.wake()


def _amendments_of(
    venue: Venue, instrument: str, entry: Tracked, skew_s: float, now: float
) -> Callable[[], Awaitable[list[AmendmentReport] | None]]:
    """The read of one amend's amendment history, from its send (less the skew) to now."""
    cmd = entry.command
    start_ms, end_ms = int((entry.sent_s - skew_s) * 1000), int(now * 1000) + 1

    def call() -> Awaitable[list[AmendmentReport] | None]:
        return venue.amendments(
            instrument, client_order_id=cmd.client_order_id, order_id=cmd.order_id, start_ms=start_ms, end_ms=end_ms
        )

    return call
