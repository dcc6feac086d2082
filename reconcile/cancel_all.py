"""How the reconciler settles a cancel-all whose answer was lost: one read per instrument, one verdict.

A cancel-all names no order: its effect is that what was open on the instrument when it was sent
is canceled. Its *targets* are the orders of ours the gateway believed open at the send
(``PendingCommand.targets``); anyone else's order counts by its venue timestamps. Per instrument,
one complete ``open_orders`` read and one ``order_history`` read covering the targets' lifetimes:

- an order open before the send (a target, or any order the venue created more than the clock
  tolerance before the send) still open on a read made past the grace window -> ABSENT: a
  cancel-all that executed would have canceled it. Inside the grace window: no verdict yet;
- otherwise, a target (or an order created before the send) CANCELED since the send, that
  nothing else accounts for (``decide_canceled``: no other cancel of it credited, none in flight
  or unknown that could equally have done it, not canceled before the send) -> SYNCHRONIZED;
- nothing canceled by it and nothing open, past the grace window -> ABSENT ("it canceled
  nothing": resubmitting is safe); inside it, or while a target is neither open nor in the
  history read (history lags): no verdict yet.

Several instruments: every one SYNCHRONIZED (or canceling nothing) -> SYNCHRONIZED; every one
ABSENT -> ABSENT; one still open and another canceled -> no verdict (it took effect on some
instruments and not others: STILL_UNCERTAIN at the deadline, the reason says which).

A cancel-all is also a *sibling* of every single cancel of its targets: ``CancelAllBook`` files
its standing under each target (in flight, unknown, credited per target once proved), so a
single cancel's evidence never credits it with what the cancel-all may have done, nor the other
way round. An ACCEPTED cancel-all stays "unknown" there: its answer does not say which target it
canceled and which another cancel had already closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.errors import VenueReadError
from gateway.model import CancelAllRequest, CommandOperation, OrderReport, OrderState, ReconcileOutcome
from gateway.ports import PendingCommand, Venue
from reconcile.evidence import CancelRecord, CancelState, Decision, decide_canceled
from reconcile.memory import CancelBook, StreamMemory
from reconcile.policy import ReconcilePolicy
from reconcile.reads import read, read_failure
from reconcile.tracking import Key, Tracked, order_keys

__all__ = ["CancelAllBook", "CancelAllSettler", "InstrumentView", "decide_cancel_all", "decide_instrument"]


@dataclass(frozen=True, slots=True)
class InstrumentView:
    """One instrument's reads for a cancel-all: open orders (complete) and history, and when they were made."""

    instrument: str
    open_orders: list[OrderReport]
    history: list[OrderReport]
    read_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class InstrumentDecision:
    decision: Decision
    credited: tuple[OrderReport, ...] = ()  # targets this cancel-all is credited with canceling
    nothing: bool = False  # ABSENT because nothing was there for it to cancel


def _target_keys(targets: Iterable[OrderReport]) -> set[Key]:
    return {key for target in targets for key in order_keys(target)}


def decide_instrument(
    view: InstrumentView,
    targets: list[OrderReport],
    *,
    sent_s: float,
    grace_s: float,
    tolerance_s: float,
    siblings: Callable[[OrderReport], list[CancelRecord]],
    seen_closed_s: Callable[[OrderReport], float | None],
) -> InstrumentDecision:
    """The rules of the module docstring for one instrument."""
    ours = _target_keys(targets)
    before_s = sent_s - tolerance_s

    def before_send(order: OrderReport) -> bool:
        if ours.intersection(order_keys(order)):
            return True
        return order.created_at_ms is not None and order.created_at_ms / 1000 < before_s

    past_grace = view.read_at >= sent_s + grace_s
    still_open = [o for o in view.open_orders if before_send(o)]
    if still_open:
        if past_grace:
            return InstrumentDecision(
                Decision(
                    ReconcileOutcome.ABSENT,
                    f"{view.instrument}: order {still_open[0].order_id}, open before the cancel-all was sent, "
                    "is still open after the grace window",
                )
            )
        return InstrumentDecision(Decision(None, f"{view.instrument}: orders open before the send are still open"))
    open_ids = {o.order_id for o in view.open_orders}
    canceled = [
        o for o in view.history if o.state is OrderState.CANCELED and before_send(o) and o.order_id not in open_ids
    ]
    credited: list[OrderReport] = []
    seen = _target_keys([*view.open_orders, *view.history])
    doubts = [
        f"target order {t.order_id} is neither open nor in the history read yet"
        for t in targets
        if not seen.intersection(order_keys(t))
    ]
    for order in canceled:
        verdict = decide_canceled(
            order, sent_s=sent_s, siblings=siblings(order), seen_closed_s=seen_closed_s(order), tolerance_s=tolerance_s
        )
        if verdict.outcome is ReconcileOutcome.SYNCHRONIZED:
            credited.append(order)
        elif verdict.outcome is None:
            doubts.append(f"order {order.order_id}: {verdict.reason}")
    if credited:
        return InstrumentDecision(
            Decision(
                ReconcileOutcome.SYNCHRONIZED,
                f"{view.instrument}: {len(credited)} order(s) open at the send are canceled since, none left open",
            ),
            tuple(credited),
        )
    if doubts:
        return InstrumentDecision(Decision(None, f"{view.instrument}: {doubts[0]}"))
    if past_grace:
        return InstrumentDecision(
            Decision(
                ReconcileOutcome.ABSENT,
                f"{view.instrument}: nothing open at the send was canceled by it (it canceled nothing)",
            ),
            nothing=True,
        )
    return InstrumentDecision(
        Decision(None, f"{view.instrument}: nothing canceled yet; the grace window has not passed")
    )


def decide_cancel_all(parts: list[InstrumentDecision]) -> Decision:
    """One verdict over the instruments' (module docstring)."""
    undecided = [p for p in parts if p.decision.outcome is None]
    if undecided:
        return Decision(None, undecided[0].decision.reason)
    synchronized = [p for p in parts if p.decision.outcome is ReconcileOutcome.SYNCHRONIZED]
    refused = [p for p in parts if p.decision.outcome is ReconcileOutcome.ABSENT and not p.nothing]
    reasons = "; ".join(p.decision.reason for p in parts)
    if synchronized and refused:
        return Decision(None, f"it took effect on some instruments and not on others: {reasons}")
    if synchronized:
        return Decision(ReconcileOutcome.SYNCHRONIZED, reasons)
    return Decision(ReconcileOutcome.ABSENT, reasons)


class CancelAllBook:
    """Each cancel-all's standing filed under each of its targets, in the reconciler's ``CancelBook``."""

    def __init__(self, book: CancelBook):
        self._book = book

    def remember(
        self, command: PendingCommand, state: CancelState, targets: Iterable[OrderReport] | None = None
    ) -> None:
        sent_s = command.sent_at.timestamp()
        for target in command.targets if targets is None else targets:
            self._book.file(order_keys(target), CancelRecord(command.command_id, sent_s, state))

    def siblings(self, order: OrderReport, command_id: str) -> list[CancelRecord]:
        return self._book.siblings(order_keys(order), command_id)


class CancelAllSettler:
    """Reads and verdicts for the cancel-alls among a pass's due commands (``Reconciler._settle_group``)."""

    def __init__(self, policy: ReconcilePolicy, book: CancelAllBook, stream: StreamMemory):
        self._policy = policy
        self._book = book
        self._stream = stream

    async def prove(self, venue: Venue, items: list[Tracked]) -> tuple[list[Tracked], list[tuple[Tracked, Decision]]]:
        """``(the other items, each cancel-all with its decision)``; a verdict updates the book first."""
        others = [e for e in items if e.command.operation is not CommandOperation.CANCEL_ALL]
        proofs = [
            (e, await self._prove_one(venue, e)) for e in items if e.command.operation is CommandOperation.CANCEL_ALL
        ]
        return others, proofs

    async def _prove_one(self, venue: Venue, entry: Tracked) -> Decision:
        cmd = entry.command
        request = cmd.request
        instruments = request.instruments if isinstance(request, CancelAllRequest) else (cmd.instrument,)
        parts: list[InstrumentDecision] = []
        for instrument in instruments:
            targets = [t for t in cmd.targets if t.instrument == instrument]
            try:
                view = await self._read(venue, instrument, targets, entry)
            except VenueReadError as exc:
                return Decision(None, read_failure(exc))
            parts.append(
                decide_instrument(
                    view,
                    targets,
                    sent_s=entry.sent_s,
                    grace_s=entry.grace_s,
                    tolerance_s=self._policy.clock_tolerance_seconds,
                    siblings=lambda order: self._book.siblings(order, cmd.command_id),
                    seen_closed_s=lambda order: self._stream.closed_at(cmd.venue, order.order_id),
                )
            )
        decision = decide_cancel_all(parts)
        if decision.outcome is ReconcileOutcome.SYNCHRONIZED:
            credited = [order for part in parts for order in part.credited]
            self._book.remember(cmd, CancelState.CREDITED, credited)
            keys = _target_keys(credited)
            self._book.remember(
                cmd, CancelState.NOT_CREDITED, [t for t in cmd.targets if not keys.intersection(order_keys(t))]
            )
        elif decision.outcome is ReconcileOutcome.ABSENT:
            self._book.remember(cmd, CancelState.NOT_CREDITED)
        return decision

    async def _read(self, venue: Venue, instrument: str, targets: list[OrderReport], entry: Tracked) -> InstrumentView:
        skew = self._policy.skew_seconds
        stamps = [t.created_at_ms or t.updated_at_ms for t in targets]
        earliest_ms = min([int((entry.sent_s - skew) * 1000), *(s - int(skew * 1000) for s in stamps if s)])
        attempts = self._policy.read_attempts
        read_at = time.time()
        open_orders = await read(lambda: venue.open_orders(instrument), attempts)
        history = await read(
            lambda: venue.order_history(instrument, earliest_ms, int(time.time() * 1000) + 1), attempts
        )
        entry.reads += 2
        return InstrumentView(instrument, open_orders, history, read_at)
