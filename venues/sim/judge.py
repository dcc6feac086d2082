"""The strict campaign judge: every command the gateway was given, judged by its own ground truth.

The simulator owns ground truth, so it owns the judge that the demo, the benchmark and the tests
share. A ``CampaignRecord`` wraps the gateway's ``submit`` / ``cancel`` (it stamps each command's
send on the monotonic clock the simulator's ``WriteAttempt.arrived_ns`` uses) and follows each
create's lifecycle; ``judge()`` then compares, command by command:

- **create**: the resolved receipt against the venue (ACCEPTED ⇔ the order exists, REJECTED ⇔ it
  does not), no second order for the client id (*duplicate*), no second create write received
  (*sent twice*);
- **handle**: an ACCEPTED create's final view (the most advanced order state and filled quantity
  its handle reported, in any receipt or ``OrderUpdate``) against the venue's final order: a
  difference after settling is a *stale handle*;
- **cancel**: ACCEPTED ⇔ *this* cancel request is the one the venue processed and that canceled the
  order; REJECTED ⇔ it did not cancel it; UNKNOWN is *unresolved* (listed with its reason);
- **gate** (when given its snapshot): the signed position quantity per instrument exactly equal
  to the venue's fills, its cost basis within what those fills' prices allow (the basis depends
  on the order fills were applied in), and no reservation still held for an order the venue
  has closed.

How a cancel meets its truth. The venue records one ``WriteAttempt`` per cancel request that
reached it (processed or not, fault or not), keyed by the target's client order id; a request
that never reached it (refused before sending, connection refused, or a read of the request
refused before the write step: signature, timestamp, IP weight) records none, and one whose
answer was lost after arrival records an unprocessed or processed attempt like any other. Per
target, attempts are matched to our cancels in send order, by time: an attempt belongs to the
cancel that was sent last before it arrived. That is decidable only if the campaign sends a
repeated cancel of an order *after the previous cancel of that order has resolved* (so no two
are in flight at once): then each attempt falls between its own cancel's send and the next
one's. Cancels sent while an earlier one of the same target was still unresolved form an
in-flight group; an attempt inside such a group is told apart only by its transport (one REST,
one WebSocket), and when that cannot tell, every cancel of the group is reported
**unjudgeable** — loudly, never passed. A cancel with no attempt did not cancel anything; one
with two attempts was sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from gateway.model import (
    Ack,
    AmendRequest,
    CancelAllRequest,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    LifecycleEvent,
    OrderRequest,
    OrderState,
    OrderUpdate,
    Receipt,
    RecoveryCompleted,
    Transport,
)
from venues.sim.cancel_all_judge import judge_cancel_all
from venues.sim.engine import SimOrder, WriteAttempt
from venues.sim.exposure import GateSnapshot, Position, venue_positions
from venues.sim.verdicts import (
    CORRECT,
    STALE,
    UNJUDGEABLE,
    UNRESOLVED,
    WRONG,
    Category,
    Finding,
    Verdicts,
    attempts_text,
    order_text,
)
from venues.sim.verdicts import (
    said as said_of,
)

if TYPE_CHECKING:
    from gateway.handle import CommandHandle
    from venues.sim.server import SimExchange

__all__ = [
    "CORRECT",
    "STALE",
    "UNJUDGEABLE",
    "UNRESOLVED",
    "WRONG",
    "CampaignRecord",
    "Finding",
    "GateSnapshot",
    "JudgedCommand",
    "Verdicts",
]

View = tuple[OrderState, Decimal]


@dataclass
class JudgedCommand:
    """One command the campaign sent, as the judge needs it."""

    n: int  # 1-based, in send order
    operation: CommandOperation
    venue: str
    instrument: str
    order_cid: str  # a create's own client order id; a cancel's target's
    handle: CommandHandle
    sent_ns: int  # monotonic, stamped just before the gateway was called
    requested: Transport
    # Cancel only: every earlier cancel of the same target had resolved when this one was sent.
    after_resolved: bool = True
    view: View | None = None  # create only: the most advanced order view its handle reported

    @property
    def command_id(self) -> str:
        return self.handle.command_id

    @property
    def wire_transport(self) -> Literal["rest", "ws"] | None:
        """The transport the request went out on, in the simulator's spelling."""
        used: Transport | None = None
        with contextlib.suppress(RuntimeError):  # not answered: fall back to what was asked
            used = self.handle.ack.transport or self.handle.ack.receipt.transport
        used = used or self.requested
        return {Transport.REST: "rest", Transport.WEBSOCKET: "ws"}.get(used)  # type: ignore[return-value]


def _advance(current: View | None, new: View) -> View:
    """The more advanced of two views: filled quantity only grows, a closed order never reopens."""
    if current is None:
        return new
    state, filled = current
    if new[1] < filled or (state.is_terminal and new[0].is_open):
        return current
    if state.is_open or new[1] > filled:
        return new
    return current


class CampaignRecord:
    """Sends a campaign's commands through the gateway, remembers them, and judges them (module doc)."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.commands: list[JudgedCommand] = []
        self._by_id: dict[str, JudgedCommand] = {}
        self._cancels: dict[tuple[str, str], list[JudgedCommand]] = {}  # (venue, target cid) -> in send order
        self._in_flight: dict[tuple[str, str], int] = {}  # cancels of a target awaiting their ack
        self._followers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()  # set whenever a create's view moves (settle waits on it)
        self._amends: dict[tuple[str, str], list[JudgedCommand]] = {}  # (venue, target cid) -> in send order
        self._cancel_alls: list[JudgedCommand] = []  # judged by venues/sim/cancel_all_judge.py

    # ------------------------------------------------------------------ sending

    async def submit(
        self, submit: Callable[[OrderRequest], Awaitable[CommandHandle]], request: OrderRequest, *, follow: bool = True
    ) -> CommandHandle:
        """``submit`` is ``gw.submit``; ``follow=False`` when the caller feeds ``observe`` itself."""
        assert request.client_order_id is not None, "the judge needs the create's client order id up front"
        sent_ns = time.monotonic_ns()
        handle = await submit(request)
        command = JudgedCommand(
            len(self.commands) + 1,
            CommandOperation.CREATE_ORDER,
            request.venue,
            request.instrument,
            request.client_order_id,
            handle,
            sent_ns,
            request.transport,
        )
        self._add(command)
        self._note_receipt(command, handle.ack.receipt)
        if follow:
            self.follow(handle)
        return handle

    async def cancel(
        self, cancel: Callable[[CancelRequest], Awaitable[CommandHandle]], request: CancelRequest
    ) -> CommandHandle:
        """``cancel`` is ``gw.cancel``; the target must be named by its client order id."""
        assert request.client_order_id is not None, "the judge matches cancels to their target's client order id"
        key = (request.venue, request.client_order_id)
        earlier = self._cancels.setdefault(key, [])
        # Decided before sending: whether this cancel can be told apart from its predecessors by
        # time (none of them still in flight or unresolved).
        after_resolved = not self._in_flight.get(key) and all(
            (r := c.handle.resolution) is not None and r.status is not CommandStatus.UNKNOWN_EXECUTION for c in earlier
        )
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        sent_ns = time.monotonic_ns()
        try:
            handle = await cancel(request)
        finally:
            self._in_flight[key] -= 1
        command = JudgedCommand(
            len(self.commands) + 1,
            CommandOperation.CANCEL_ORDER,
            request.venue,
            request.instrument,
            request.client_order_id,
            handle,
            sent_ns,
            request.transport,
            after_resolved=after_resolved,
        )
        # Keep send order within the target even when a concurrent sibling was answered first.
        earlier.append(command)
        earlier.sort(key=lambda c: c.sent_ns)
        self._add(command)
        return handle

    async def submit_batch(
        self,
        submit_batch: Callable[[list[OrderRequest]], Awaitable[list[CommandHandle]]],
        requests: list[OrderRequest],
        *,
        follow: bool = True,
    ) -> list[CommandHandle]:
        """``submit_batch`` is ``gw.submit_batch``: each item is judged as a create (``follow`` as in ``submit``)."""
        assert all(r.client_order_id for r in requests), "the judge needs every item's client order id up front"
        sent_ns = time.monotonic_ns()
        handles = await submit_batch(requests)
        for request, handle in zip(requests, handles, strict=True):
            assert request.client_order_id is not None
            command = JudgedCommand(
                len(self.commands) + 1, CommandOperation.CREATE_ORDER, request.venue, request.instrument,
                request.client_order_id, handle, sent_ns, request.transport,
            )  # fmt: skip
            self._add(command)
            self._note_receipt(command, handle.ack.receipt)
            if follow:
                self.follow(handle)
        return handles

    async def amend(
        self, amend: Callable[[AmendRequest], Awaitable[CommandHandle]], request: AmendRequest
    ) -> CommandHandle:
        """``amend`` is ``gw.amend``; the target must be named by its client order id.

        An amend's writes are matched to it like a cancel's: by target, each attempt to the amend
        sent last before it arrived (a campaign sends an order's next amend after the last resolved).
        """
        assert request.client_order_id is not None, "the judge matches amends to their target's client order id"
        sent_ns = time.monotonic_ns()
        handle = await amend(request)
        command = JudgedCommand(
            len(self.commands) + 1, CommandOperation.AMEND_ORDER, request.venue, request.instrument,
            request.client_order_id, handle, sent_ns, request.transport,
        )  # fmt: skip
        self._amends.setdefault((request.venue, request.client_order_id), []).append(command)
        self._add(command)
        return handle

    async def cancel_all(
        self, cancel_all: Callable[..., Awaitable[CommandHandle]], venue: str, instrument: str | None = None
    ) -> CommandHandle:
        """``cancel_all`` is ``gw.cancel_all``."""
        sent_ns = time.monotonic_ns()
        handle = await cancel_all(venue, instrument)
        self.adopt(handle, sent_ns)
        return handle

    async def halt(
        self, halt: Callable[..., Awaitable[list[CommandHandle]]], reason: str, **flags: bool
    ) -> list[CommandHandle]:
        """``halt`` is ``gw.halt``: each cancel-all and flattening order it sends is judged."""
        sent_ns = time.monotonic_ns()
        handles = await halt(reason, **flags)
        for handle in handles:
            self.adopt(handle, sent_ns)
        return handles

    def adopt(self, handle: CommandHandle, sent_ns: int) -> None:
        """A command the gateway sent on the campaign's behalf (a cancel-all, a flattening create)."""
        request = handle.request
        if isinstance(request, CancelAllRequest):
            command = JudgedCommand(
                len(self.commands) + 1, CommandOperation.CANCEL_ALL, handle.venue, handle.instrument, "", handle,
                sent_ns, request.transport,
            )  # fmt: skip
            self._cancel_alls.append(command)
            self._add(command)
        elif isinstance(request, OrderRequest) and request.client_order_id:
            command = JudgedCommand(
                len(self.commands) + 1, CommandOperation.CREATE_ORDER, request.venue, request.instrument,
                request.client_order_id, handle, sent_ns, request.transport,
            )  # fmt: skip
            self._add(command)
            self._note_receipt(command, handle.ack.receipt)
            self.follow(handle)

    def _add(self, command: JudgedCommand) -> None:
        self.commands.append(command)
        self._by_id[command.command_id] = command

    # ------------------------------------------------------------------ following handles

    def follow(self, handle: CommandHandle) -> None:
        """Read the handle's lifecycle into its view (a task; ends when the command is final)."""

        async def drain() -> None:
            async for event in handle.lifecycle():
                self.observe(handle, event)

        task = asyncio.get_running_loop().create_task(drain())
        self._followers.add(task)
        task.add_done_callback(self._followers.discard)

    def observe(self, handle: CommandHandle, event: LifecycleEvent) -> None:
        """Fold one lifecycle event into the create's view (callers reading the lifecycle call this)."""
        command = self._by_id.get(handle.command_id)
        if command is None or command.operation is not CommandOperation.CREATE_ORDER:
            return
        self._changed.set()
        if isinstance(event, OrderUpdate):
            command.view = _advance(command.view, (event.order.state, event.order.filled_quantity))
        elif isinstance(event, Receipt):
            self._note_receipt(command, event.receipt)
        elif isinstance(event, Ack):
            self._note_receipt(command, event.ack.receipt)
        elif isinstance(event, RecoveryCompleted) and event.report.order is not None:
            order = event.report.order
            command.view = _advance(command.view, (order.state, order.filled_quantity))

    def _note_receipt(self, command: JudgedCommand, receipt: CommandReceipt) -> None:
        if receipt.status is CommandStatus.ACCEPTED and receipt.order_state is not None:
            command.view = _advance(command.view, (receipt.order_state, receipt.filled_quantity or Decimal(0)))

    async def close(self) -> None:
        for task in list(self._followers):
            task.cancel()
        for task in list(self._followers):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ settling

    async def settle(self, timeout: float) -> None:
        """Wait (bounded) for every command to resolve, then for every ACCEPTED create's view to
        catch up with the venue; what is still off at the deadline is what ``judge`` reports."""
        deadline = time.monotonic() + timeout
        for command in self.commands:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):  # ResolutionTimeout is a TimeoutError
                await command.handle.resolved(timeout=remaining)
        while any(self._stale(c) for c in self.commands):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    # ------------------------------------------------------------------ judging

    def _truth_order(self, command: JudgedCommand) -> SimOrder | None:
        return self.sim.truth.order(command.order_cid, command.venue)

    def _current_view(self, command: JudgedCommand) -> View | None:
        view = command.view
        resolution = command.handle.resolution
        if resolution is not None and resolution.status is CommandStatus.ACCEPTED and resolution.order_state:
            view = _advance(view, (resolution.order_state, resolution.filled_quantity or Decimal(0)))
        return view

    def _stale(self, command: JudgedCommand) -> bool:
        """An ACCEPTED create whose handle's view differs from the venue's order."""
        if command.operation is not CommandOperation.CREATE_ORDER:
            return False
        resolution = command.handle.resolution
        if resolution is None or resolution.status is not CommandStatus.ACCEPTED:
            return False
        order = self._truth_order(command)
        if order is None:
            return False  # a wrong create, reported as such
        return self._current_view(command) != (OrderState(order.status), order.filled_qty)

    def judge(self, gate: GateSnapshot | None = None) -> Verdicts:
        counts = dict.fromkeys(
            (
                "commands",
                "creates",
                "cancels",
                "repeated_cancels",
                "creates_correct",
                "creates_wrong",
                "cancels_correct",
                "cancels_wrong",
                "cancels_accepted",
                "stale_handles",
                "unresolved",
                "unjudgeable",
                "duplicates",
                "sent_twice",
                "exposure_mismatches",
                "amends",
                "amends_correct",
                "amends_wrong",
                "cancel_alls",
                "cancel_alls_correct",
                "cancel_alls_wrong",
            ),
            0,
        )
        findings: list[Finding] = []
        by_command: dict[str, str] = {}
        cancel_truth = self._match_cancels()
        for command in self.commands:
            counts["commands"] += 1
            if command.operation is CommandOperation.CREATE_ORDER:
                counts["creates"] += 1
                by_command[command.command_id] = self._judge_create(command, counts, findings)
            elif command.operation is CommandOperation.AMEND_ORDER:
                counts["amends"] += 1
                by_command[command.command_id] = self._judge_amend(command, counts, findings)
            elif command.operation is CommandOperation.CANCEL_ALL:
                counts["cancel_alls"] += 1
                verdict = judge_cancel_all(self.sim, command, self._cancel_alls, counts, findings)
                by_command[command.command_id] = verdict
            else:
                counts["cancels"] += 1
                by_command[command.command_id] = self._judge_cancel(command, cancel_truth, counts, findings)
        counts["repeated_cancels"] = sum(max(0, len(v) - 1) for v in self._cancels.values())
        if gate is not None:
            self._judge_gate(gate, counts, findings)
        return Verdicts(counts, findings, by_command)

    def _judge_create(self, command: JudgedCommand, counts: dict[str, int], findings: list[Finding]) -> str:
        truth = self.sim.truth
        orders = truth.orders_for(command.order_cid, command.venue)
        order = orders[-1] if orders else None
        writes = [a for a in truth.attempts(command.order_cid, command.venue) if a.operation == "create"]
        receipt = command.handle.resolution
        said = said_of(receipt)
        facts = f"{order_text(order)}; writes received {attempts_text(writes)}"

        def find(category: Category, text: str = facts) -> None:
            findings.append(Finding(category, command.n, "create", command.venue, command.order_cid, said, text))

        verdict = CORRECT
        if len(orders) > 1:
            counts["duplicates"] += 1
            find("duplicate", f"{len(orders)} orders for one client id; {facts}")
            verdict = WRONG
        if len(writes) > 1:
            counts["sent_twice"] += 1
            find("sent_twice")
            verdict = WRONG
        if receipt is None or receipt.status is CommandStatus.UNKNOWN_EXECUTION:
            counts["unresolved"] += 1
            find("unresolved")
            return UNRESOLVED if verdict == CORRECT else verdict
        if (receipt.status is CommandStatus.ACCEPTED) != (order is not None):
            counts["creates_wrong"] += 1
            find("wrong")
            return WRONG
        counts["creates_correct"] += 1
        if order is not None and self._stale(command):
            view = self._current_view(command)
            shown = "no order update" if view is None else f"{view[0].value} filled {view[1]}"
            counts["stale_handles"] += 1
            findings.append(
                Finding("stale", command.n, "create", command.venue, command.order_cid, f"handle shows {shown}", facts)
            )
            return STALE if verdict == CORRECT else verdict
        return verdict

    def _match_cancels(self) -> dict[str, list[WriteAttempt] | str]:
        """Each cancel command's attempts at the venue, or why they cannot be told (module doc)."""
        out: dict[str, list[WriteAttempt] | str] = {}
        for key in self._cancels:
            out.update(self._match_target(key))
        return out

    def _match_target(self, key: tuple[str, str]) -> dict[str, list[WriteAttempt] | str]:
        venue, target = key
        cancels = self._cancels[key]
        groups: list[list[JudgedCommand]] = []
        for command in cancels:
            if groups and not command.after_resolved:
                groups[-1].append(command)
            else:
                groups.append([command])
        out: dict[str, list[WriteAttempt] | str] = {command.command_id: [] for command in cancels}
        attempts = sorted(
            (a for a in self.sim.truth.attempts(target, venue) if a.operation == "cancel"),
            key=lambda a: a.arrived_ns,
        )
        for attempt in attempts:
            group = next((g for g in reversed(groups) if g[0].sent_ns <= attempt.arrived_ns), None)
            if group is None:
                for command in cancels:
                    out[command.command_id] = (
                        f"a cancel of {target} arrived ({attempt.outcome}) before any of ours was sent"
                    )
                continue
            owners = group if len(group) == 1 else [c for c in group if c.wire_transport == attempt.transport]
            if len(owners) != 1:
                for command in group:
                    out[command.command_id] = (
                        f"{len(group)} cancels of {target} were in flight at once and the attempt "
                        f"{attempt.transport}:{attempt.outcome} matches {len(owners)} of them"
                    )
                continue
            matched = out[owners[0].command_id]
            if isinstance(matched, list):
                matched.append(attempt)
        return out

    def attempts_of(self, handle: CommandHandle) -> list[WriteAttempt]:
        """The writes of this command the venue received (a cancel: matched as ``judge`` does)."""
        command = self._by_id.get(handle.command_id)
        if command is None or command.operation is CommandOperation.CANCEL_ALL:  # a cancel-all's: switches.log
            return []
        if command.operation is CommandOperation.CREATE_ORDER:
            return [a for a in self.sim.truth.attempts(command.order_cid, command.venue) if a.operation == "create"]
        if command.operation is CommandOperation.AMEND_ORDER:
            return self._amend_attempts(command)
        matched = self._match_target((command.venue, command.order_cid)).get(command.command_id)
        return matched if isinstance(matched, list) else []

    def _judge_cancel(
        self,
        command: JudgedCommand,
        matched: dict[str, list[WriteAttempt] | str],
        counts: dict[str, int],
        findings: list[Finding],
    ) -> str:
        receipt = command.handle.resolution
        said = said_of(receipt)
        order = self._truth_order(command)
        attempts = matched[command.command_id]

        def find(category: Category, text: str) -> None:
            findings.append(Finding(category, command.n, "cancel", command.venue, command.order_cid, said, text))

        if receipt is not None and receipt.status is CommandStatus.ACCEPTED:
            counts["cancels_accepted"] += 1
        if isinstance(attempts, str):
            counts["unjudgeable"] += 1
            find("unjudgeable", f"{attempts}; {order_text(order)}")
            return UNJUDGEABLE
        facts = f"its writes at the venue {attempts_text(attempts)}; {order_text(order)}"
        if len(attempts) > 1:
            counts["sent_twice"] += 1
            find("sent_twice", facts)
            return WRONG
        canceled_it = bool(attempts) and attempts[0].processed
        if receipt is None or receipt.status is CommandStatus.UNKNOWN_EXECUTION:
            counts["unresolved"] += 1
            find("unresolved", facts)
            return UNRESOLVED
        if (receipt.status is CommandStatus.ACCEPTED) != canceled_it:
            counts["cancels_wrong"] += 1
            effect = "this cancel canceled the order; " if canceled_it else "this cancel did not cancel it; "
            find("wrong", effect + facts)
            return WRONG
        counts["cancels_correct"] += 1
        return CORRECT

    def _amend_attempts(self, command: JudgedCommand) -> list[WriteAttempt]:
        """This amend's writes at the venue: those that arrived after its send and before the next amend's."""
        siblings = self._amends[(command.venue, command.order_cid)]
        later = [c.sent_ns for c in siblings if c.sent_ns > command.sent_ns]
        until = min(later) if later else None
        return [
            a
            for a in self.sim.truth.attempts(command.order_cid, command.venue)
            if a.operation == "amend" and a.arrived_ns >= command.sent_ns and (until is None or a.arrived_ns < until)
        ]

    def _judge_amend(self, command: JudgedCommand, counts: dict[str, int], findings: list[Finding]) -> str:
        """ACCEPTED ⇔ the venue applied this amend; REJECTED ⇔ it did not; UNKNOWN is unresolved."""
        receipt = command.handle.resolution
        said = said_of(receipt)
        attempts = self._amend_attempts(command)
        facts = f"its writes at the venue {attempts_text(attempts)}; {order_text(self._truth_order(command))}"

        def find(category: Category) -> None:
            findings.append(Finding(category, command.n, "amend", command.venue, command.order_cid, said, facts))

        if len(attempts) > 1:
            counts["sent_twice"] += 1
            find("sent_twice")
            return WRONG
        if receipt is None or receipt.status is CommandStatus.UNKNOWN_EXECUTION:
            counts["unresolved"] += 1
            find("unresolved")
            return UNRESOLVED
        took = bool(attempts) and attempts[0].processed
        if (receipt.status is CommandStatus.ACCEPTED) != took:
            counts["amends_wrong"] += 1
            find("wrong")
            return WRONG
        counts["amends_correct"] += 1
        return CORRECT

    def _judge_gate(self, gate: GateSnapshot, counts: dict[str, int], findings: list[Finding]) -> None:
        """Quantities exactly; the cost basis within the fills' price range (module doc)."""
        truth = venue_positions(self.sim)
        held_qty = gate.quantities
        keys = set(truth) | {k for k, v in gate.positions.items() if v} | {k for k, v in held_qty.items() if v}
        for key in sorted(keys):
            position = truth.get(key, Position())
            qty = held_qty.get(key, Decimal(0))
            basis = gate.positions.get(key, Decimal(0))
            problem = position.disagrees(qty, basis)
            if problem:
                counts["exposure_mismatches"] += 1
                findings.append(
                    Finding("exposure", 0, "gate position", key[0], key[1], f"qty {qty:f} basis {basis:f}", problem)
                )
        creates = {c.order_cid: c for c in self.commands if c.operation is CommandOperation.CREATE_ORDER}
        for cid, reserved in gate.reservations.items():
            command = creates.get(cid)
            if command is None or not reserved:
                continue
            order = self._truth_order(command)
            resolution = command.handle.resolution
            closed = order is not None and not order.is_open
            absent = order is None and resolution is not None and resolution.status is CommandStatus.REJECTED
            if closed or absent:
                counts["exposure_mismatches"] += 1
                findings.append(
                    Finding(
                        "exposure",
                        command.n,
                        "gate reservation",
                        command.venue,
                        cid,
                        f"still reserving {reserved:f}",
                        order_text(order),
                    )
                )
