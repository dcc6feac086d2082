"""Gateway: the composition root wiring venues, the portfolio gate, the journal, the bus and the reconciler.

One submit, in order (each step can end it, and only the send can leave an outcome unknown):

1. caller checks: known venue, valid request, venue filters -> raise before anything happens;
2. a client order id is assigned (unique, valid for every venue) when none was given;
3. kill switch / portfolio gate: check-and-reserve under its lock -> REJECTED receipt on refusal;
4. write-ahead journal: the intent is durable before the send -> on failure, halt and refuse;
5. the venue adapter sends exactly once and classifies the answer into a receipt;
6. the ack is published; an UNKNOWN_EXECUTION is handed to the reconciler; nothing is re-sent.

Stream updates and reconciliation reports flow back through ``VenueEventSink`` and
``ReconcileSink`` (both implemented here) onto the bus, which routes them to handles.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.bus import EventBus
from gateway.errors import DuplicateCommandError, GatewayClosedError, UnknownVenueError
from gateway.handle import CommandHandle, HandleState
from gateway.model import (
    Ack,
    CancelRequest,
    CommandAck,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    EvidenceSource,
    OrderReport,
    OrderRequest,
    Receipt,
    ReconcileOutcome,
    ReconcileReport,
    ReconcileTrigger,
    RecoveryCompleted,
    RecoveryScheduled,
    Transport,
    utc_now,
)
from gateway.ports import GatePort, JournalPort, PendingCommand, ReconcilerPort, Venue
from gateway.refresh import OrderRefresher, RefreshPolicy
from reconcile.policy import ReconcilePolicy

__all__ = ["DuplicateCommandError", "Gateway", "GatewayClosedError", "UnknownVenueError"]

log = logging.getLogger("gateway")

_RECENT_HANDLES = 10_000
_DEFAULT_POLICY = ReconcilePolicy()
_DEFAULT_REFRESH = RefreshPolicy()


class Gateway:
    """See the module docstring. Use as ``async with Gateway(venues=[...]) as gw``."""

    def __init__(
        self,
        venues: Sequence[Venue],
        gate: GatePort | None = None,
        journal: JournalPort | str | Path | None = None,
        reconcile: ReconcilePolicy | ReconcilerPort | None = _DEFAULT_POLICY,
        raise_on_risk: bool = False,
        *,
        client_id_prefix: str = "gw",
        refresh: RefreshPolicy | None = _DEFAULT_REFRESH,
    ):
        self._venues: dict[str, Venue] = {}
        for venue in venues:
            if venue.name in self._venues:
                raise ValueError(f"two venues are named {venue.name!r}; pass name= to tell accounts apart")
            self._venues[venue.name] = venue
        self._gate = gate
        self._journal_arg = journal
        self._journal: JournalPort | None = None
        # None disables reconciliation (UNKNOWN receipts then stay unknown; resolved() says so).
        self._reconcile_arg = reconcile
        self._reconciler: ReconcilerPort | None = None
        self._raise_on_risk = raise_on_risk
        self._bus = EventBus()
        self._id_prefix = f"{client_id_prefix}-{secrets.token_hex(4)}-"
        self._id_counter = itertools.count(1)
        self._live: dict[str, CommandHandle] = {}
        self._recent: OrderedDict[str, CommandHandle] = OrderedDict()
        self._requests: dict[str, OrderRequest | CancelRequest] = {}
        self._halted: str | None = None
        self._open = False
        self._gate_queue: asyncio.Queue[Callable[[], Awaitable[None]]] | None = None
        self._gate_task: asyncio.Task[None] | None = None
        # None disables re-reading believed-live orders after a stream gap (gateway/refresh.py).
        self._refresh_policy = refresh
        self._refresher: OrderRefresher | None = None
        self.parse_errors = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self._open:
            return
        self._gate_queue = asyncio.Queue()
        self._gate_task = asyncio.create_task(self._drain_gate(), name="gateway:gate-notify")
        self._journal = self._make_journal(self._journal_arg)
        self._reconciler = self._make_reconciler(self._reconcile_arg)
        self._refresher = self._make_refresher(self._refresh_policy)
        if self._refresher is not None:
            # Before the venues start: a socket lost while they start is a gap to refresh too.
            await self._refresher.start()
        await asyncio.gather(*(venue.start(self) for venue in self._venues.values()))
        recovered = []
        if self._journal is not None:
            recovered = await self._journal.open_run(list(self._venues))
            self._bus.resume_from(self._journal.last_sequence)
            self._bus.add_tap(self._journal.record_event)
        if self._reconciler is not None:
            await self._reconciler.start()
        self._open = True
        for item in recovered:
            self._adopt_recovered(item.command, item.last_receipt)

    async def close(self) -> None:
        if not self._open and self._gate_task is None:
            return
        self._open = False
        if self._refresher is not None:
            await self._refresher.close()
        if self._reconciler is not None:
            await self._reconciler.close()
        await asyncio.gather(*(venue.close() for venue in self._venues.values()), return_exceptions=True)
        if self._gate_queue is not None and self._gate_task is not None:
            await self._gate_queue.join()
            self._gate_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gate_task
            self._gate_task = None
        if self._journal is not None:
            await self._journal.close()

    def _make_journal(self, arg: JournalPort | str | Path | None) -> JournalPort | None:
        if arg is None:
            return None
        if isinstance(arg, str | Path):
            from gateway.journal import Journal

            return Journal(arg)
        return arg

    def _make_refresher(self, policy: RefreshPolicy | None) -> OrderRefresher | None:
        """The refresh publishes what it reads exactly as ``order_update`` does a stream update."""
        if policy is None:
            return None
        followers: list[Callable[[OrderReport], None]] = []
        gate = self._gate
        if gate is not None:
            followers.append(lambda order: self._notify_gate(gate.on_order_update, order))
        if self._reconciler is not None:
            followers.append(self._reconciler.observe)
        return OrderRefresher(
            self._venues,
            live=self._live_creates,
            bus=self._bus,
            followers=followers,
            settle=self._maybe_final,
            parse_error=self.parse_error,
            policy=policy,
        )

    def _make_reconciler(self, arg: ReconcilePolicy | ReconcilerPort | None) -> ReconcilerPort | None:
        if arg is None:
            return None
        if isinstance(arg, ReconcilePolicy):
            from reconcile.reconciler import Reconciler

            return Reconciler(self._venues, arg, self)
        return arg

    # ------------------------------------------------------------------ public API

    @property
    def venues(self) -> dict[str, Venue]:
        return dict(self._venues)

    @property
    def bus(self) -> EventBus:
        return self._bus

    @property
    def halted(self) -> str | None:
        """Why new commands are refused, or None."""
        return self._halted

    def halt(self, reason: str) -> None:
        """Refuse every new command (the journal does this when it cannot write)."""
        log.error("gateway halted: %s", reason)
        self._halted = reason

    def resume(self) -> None:
        self._halted = None

    def handle(self, client_order_id: str) -> CommandHandle | None:
        """Any command of this run, or one the journal holds from an earlier run."""
        found = self._live.get(client_order_id) or self._recent.get(client_order_id)
        if found is not None or self._journal is None:
            return found
        receipt = self._journal.settled_receipt(client_order_id)
        if receipt is None:
            return None
        handle = self._new_handle(
            client_order_id, receipt.operation, receipt.venue, receipt.instrument, receipt.client_order_id, None
        )
        handle._deliver(
            Ack(
                sequence=0,
                command_id=client_order_id,
                ack=CommandAck(receipt=receipt, transport=receipt.transport, acknowledged_at=utc_now()),
            )
        )
        handle._mark_final()
        return handle

    async def reconcile(self) -> list[ReconcileReport]:
        """Run one reconciliation pass now over every tracked command."""
        if self._reconciler is None:
            return []
        return await self._reconciler.reconcile(ReconcileTrigger.MANUAL)

    def new_client_order_id(self) -> str:
        """A fresh id, unique across gateways and runs, valid on every supported venue."""
        return f"{self._id_prefix}{next(self._id_counter)}"

    async def submit(self, request: OrderRequest) -> CommandHandle:
        """Send a new order once; returns its handle holding the ack. Raises only for caller mistakes."""
        venue = self._checked_venue(request.venue)
        if request.client_order_id is None:
            request = request.model_copy(update={"client_order_id": self.new_client_order_id()})
        cid = request.client_order_id
        assert cid is not None
        if cid in self._live or cid in self._recent:
            raise DuplicateCommandError(cid)
        venue.validate(request)
        transport = venue.transport_for(request.transport)
        handle = self._new_handle(cid, CommandOperation.CREATE_ORDER, venue.name, request.instrument, cid, request)
        self._bus.register(handle, EventBus.client_key(venue.name, cid))

        if self._halted is not None:
            return self._refuse(
                handle, request, CommandOperation.CREATE_ORDER, f"gateway halted: {self._halted}", "HALTED"
            )
        if self._gate is not None:
            refusal = await self._check_gate(request, venue)
            if refusal is not None:
                if self._raise_on_risk:
                    self._forget(handle)
                    raise refusal
                return self._refuse(handle, request, CommandOperation.CREATE_ORDER, str(refusal), "RISK")

        return await self._journal_then_send(
            handle,
            venue,
            request,
            client_order_id=cid,
            order_id=None,
            transport=transport,
            send=lambda: venue.submit(request),
        )

    async def cancel(self, request: CancelRequest) -> CommandHandle:
        """Send a cancel once; returns its handle holding the ack. Raises only for caller mistakes."""
        venue = self._checked_venue(request.venue)
        venue.validate_cancel(request)  # unlisted instrument or an id the venue cannot take: refused before sending
        request_id = f"cx-{self.new_client_order_id()}"
        transport = venue.transport_for(request.transport)
        handle = self._new_handle(
            request_id, CommandOperation.CANCEL_ORDER, venue.name, request.instrument, request.client_order_id, request
        )
        keys = []
        if request.client_order_id:
            keys.append(EventBus.client_key(venue.name, request.client_order_id))
        if request.order_id:
            keys.append(EventBus.order_key(venue.name, request.order_id))
            handle.order_id = request.order_id
        self._bus.register(handle, *keys)
        if self._halted is not None:
            return self._refuse(
                handle, request, CommandOperation.CANCEL_ORDER, f"gateway halted: {self._halted}", "HALTED"
            )
        return await self._journal_then_send(
            handle,
            venue,
            request,
            client_order_id=request.client_order_id,
            order_id=request.order_id,
            transport=transport,
            send=lambda: venue.cancel(request, request_id),
        )

    # ------------------------------------------------------------------ submit plumbing

    async def _journal_then_send(
        self,
        handle: CommandHandle,
        venue: Venue,
        request: OrderRequest | CancelRequest,
        *,
        client_order_id: str | None,
        order_id: str | None,
        transport: Transport,
        send: Callable[[], Awaitable[CommandReceipt]],
    ) -> CommandHandle:
        """Journal the intent, then send once and answer the handle; refuse if the journal cannot."""
        pending = PendingCommand(
            command_id=handle.command_id,
            operation=handle.operation,
            venue=venue.name,
            instrument=request.instrument,
            client_order_id=client_order_id,
            order_id=order_id,
            sent_at=utc_now(),
            recv_window_ms=venue.recv_window_ms,
            request=request,
            transport=transport,
        )
        if not await self._journal_intent(pending):
            return self._refuse(handle, request, handle.operation, f"gateway halted: {self._halted}", "HALTED")
        # A cancel's evidence is judged against its siblings: the reconciler must know every cancel
        # of a target that is out there, answered or not, or it could credit one with another's effect.
        cancel = self._reconciler if pending.operation is CommandOperation.CANCEL_ORDER else None
        if cancel is not None:
            cancel.cancel_sent(pending)
        receipt = await self._send(send(), pending)
        if cancel is not None:
            cancel.cancel_answered(pending, receipt.status)
        self._answer(handle, pending, receipt)
        return handle

    def _checked_venue(self, name: str) -> Venue:
        if not self._open:
            raise GatewayClosedError("the gateway is not open: use `async with Gateway(...) as gw`")
        venue = self._venues.get(name)
        if venue is None:
            raise UnknownVenueError(name, list(self._venues))
        return venue

    def _new_handle(
        self,
        command_id: str,
        operation: CommandOperation,
        venue: str,
        instrument: str,
        client_order_id: str | None,
        request: OrderRequest | CancelRequest | None,
    ) -> CommandHandle:
        handle = CommandHandle._create(
            command_id=command_id,
            operation=operation,
            venue=venue,
            instrument=instrument,
            client_order_id=client_order_id,
            request=request,
        )
        self._live[command_id] = handle
        if request is not None:
            self._requests[command_id] = request
        return handle

    async def _check_gate(self, request: OrderRequest, venue: Venue) -> Exception | None:
        assert self._gate is not None
        try:
            await self._gate.check_and_reserve(request, venue.reference_price(request.instrument))
        except Exception as exc:  # the gate fails closed: any error is a refusal
            from risk import RiskRejected

            if isinstance(exc, RiskRejected):
                return exc
            log.error("portfolio gate failed; refusing %s: %r", request.client_order_id, exc)
            return RiskRejected(f"portfolio gate unavailable, refusing (fails closed): {exc}")
        return None

    async def _journal_intent(self, pending: PendingCommand) -> bool:
        if self._journal is None:
            return True
        try:
            await self._journal.record_intent(pending, self._bus.next_sequence())
        except Exception as exc:
            self.halt(f"journal write failed: {exc!r}")
            if self._gate is not None and isinstance(pending.request, OrderRequest):
                refused = self._refusal_receipt(
                    pending.request, CommandOperation.CREATE_ORDER, "journal write failed", "HALTED", pending.command_id
                )
                self._notify_gate(self._gate.on_receipt, pending.request, refused)
            return False
        return True

    async def _send(self, call: Awaitable[CommandReceipt], pending: PendingCommand) -> CommandReceipt:
        try:
            return await call
        except Exception as exc:
            # An adapter must classify every venue outcome itself; if it raised anyway we cannot
            # know whether bytes left, so the only honest answer is UNKNOWN.
            log.exception("venue %s raised while sending %s", pending.venue, pending.command_id)
            return CommandReceipt(
                operation=pending.operation,
                status=CommandStatus.UNKNOWN_EXECUTION,
                venue=pending.venue,
                instrument=pending.instrument,
                client_order_id=pending.client_order_id,
                order_id=pending.order_id,
                request_id=pending.command_id if pending.operation is CommandOperation.CANCEL_ORDER else None,
                message=f"adapter error while sending: {exc.__class__.__name__}",
                retriable=True,
                transport=pending.transport,
                sent_at=pending.sent_at,
                received_at=utc_now(),
            )

    def _refusal_receipt(
        self,
        request: OrderRequest | CancelRequest,
        operation: CommandOperation,
        message: str,
        code: str,
        command_id: str,
    ) -> CommandReceipt:
        return CommandReceipt(
            operation=operation,
            status=CommandStatus.REJECTED,
            venue=request.venue,
            instrument=request.instrument,
            client_order_id=request.client_order_id,
            order_id=getattr(request, "order_id", None),
            request_id=command_id if operation is CommandOperation.CANCEL_ORDER else None,
            message=message,
            native_code=code,
            safe_to_resubmit=True,
            sent_at=None,
            received_at=utc_now(),
        )

    def _refuse(
        self,
        handle: CommandHandle,
        request: OrderRequest | CancelRequest,
        operation: CommandOperation,
        message: str,
        code: str,
    ) -> CommandHandle:
        receipt = self._refusal_receipt(request, operation, message, code, handle.command_id)
        self._publish_ack(handle, receipt)
        self._maybe_final(handle)
        return handle

    def _publish_ack(self, handle: CommandHandle, receipt: CommandReceipt) -> None:
        ack = CommandAck(receipt=receipt, transport=receipt.transport, acknowledged_at=utc_now())
        if receipt.order_id:
            self._bus.add_routes(handle, EventBus.order_key(handle.venue, receipt.order_id))
        self._bus.emit(handle, Ack, handle.command_id, ack=ack)

    def _answer(self, handle: CommandHandle, pending: PendingCommand, receipt: CommandReceipt) -> None:
        if receipt.order_id and pending.order_id is None:
            pending.order_id = receipt.order_id
        self._publish_ack(handle, receipt)
        request = pending.request
        if self._gate is not None and isinstance(request, OrderRequest):
            self._notify_gate(self._gate.on_receipt, request, receipt)
        if receipt.status is CommandStatus.UNKNOWN_EXECUTION and self._reconciler is not None:
            handle._attach_settler()
            self._reconciler.track(pending, ReconcileTrigger.UNKNOWN_EXECUTION)
        self._maybe_final(handle)

    def _adopt_recovered(self, pending: PendingCommand, last_receipt: CommandReceipt | None) -> None:
        """A command an earlier run left without a final outcome: give it a handle and settle it."""
        request = pending.request
        handle = self._new_handle(
            pending.command_id, pending.operation, pending.venue, pending.instrument, pending.client_order_id, request
        )
        keys = []
        if pending.client_order_id:
            keys.append(EventBus.client_key(pending.venue, pending.client_order_id))
        if pending.order_id:
            keys.append(EventBus.order_key(pending.venue, pending.order_id))
        self._bus.register(handle, *keys)
        receipt = last_receipt
        if receipt is None or receipt.status is not CommandStatus.UNKNOWN_EXECUTION:
            receipt = CommandReceipt(
                operation=pending.operation,
                status=CommandStatus.UNKNOWN_EXECUTION,
                venue=pending.venue,
                instrument=pending.instrument,
                client_order_id=pending.client_order_id,
                order_id=pending.order_id,
                request_id=pending.command_id if pending.operation is CommandOperation.CANCEL_ORDER else None,
                message="recovered from the journal: the previous run ended before its outcome was recorded",
                retriable=True,
                transport=pending.transport,
                sent_at=pending.sent_at,
                received_at=utc_now(),
            )
        self._publish_ack(handle, receipt)
        if self._reconciler is not None:
            handle._attach_settler()
            self._reconciler.track(pending, ReconcileTrigger.STARTUP)

    # ------------------------------------------------------------------ finality

    def _maybe_final(self, handle: CommandHandle) -> None:
        if handle.final:  # the one rule (gateway.fold), shared with the replica and journal recovery
            self._forget(handle)
            handle._mark_final()

    def _forget(self, handle: CommandHandle) -> None:
        self._bus.drop(handle)
        self._live.pop(handle.command_id, None)
        self._requests.pop(handle.command_id, None)
        self._recent[handle.command_id] = handle
        while len(self._recent) > _RECENT_HANDLES:
            self._recent.popitem(last=False)

    # ------------------------------------------------------------------ VenueEventSink

    def wants_order_update(self, venue: str, client_order_id: str | None, order_id: str | None) -> bool:
        """Whether a stream update of this order matters to anyone; a venue may skip parsing it if not.

        It matters to a live handle routed by either id, to the gate (positions and fills), and to
        the reconciler for an order it proved ABSENT (a DIVERGED alarm).
        """
        if self._gate is not None:
            return True
        bus = self._bus
        if client_order_id and bus.has_route(EventBus.client_key(venue, client_order_id)):
            return True
        if order_id and bus.has_route(EventBus.order_key(venue, order_id)):
            return True
        return self._reconciler is not None and self._reconciler.wants(venue, client_order_id)

    def order_update(self, order: OrderReport) -> None:
        handles = self._bus.route_order_update(order, EvidenceSource.USER_STREAM)
        if self._gate is not None:
            self._notify_gate(self._gate.on_order_update, order)
        if self._reconciler is not None:
            self._reconciler.observe(order)
        for handle in handles:
            self._maybe_final(handle)

    def stream_gap(self, venue: str, reason: str) -> None:
        log.warning("%s: stream gap (%s); re-reading live orders, reconciling tracked commands", venue, reason)
        if self._refresher is not None:
            self._refresher.on_gap(venue, reason)
        if self._reconciler is not None:
            self._reconciler.on_stream_gap(venue, reason)

    def _live_creates(self, venue: str) -> list[CommandHandle]:
        """The creates on ``venue`` whose order the gateway believes may still be live.

        Answered and not final, and either ACCEPTED with a non-terminal state or with a known
        order id (an unknown whose order the stream named). A walk over the live handles: it runs
        once per stream gap, not per update.
        """
        found = []
        for handle in self._live.values():
            if (
                handle.venue != venue
                or handle.operation is not CommandOperation.CREATE_ORDER
                or handle.state is not HandleState.ANSWERED
            ):
                continue
            resolution = handle._current_resolution()
            if resolution is not None and resolution.status is CommandStatus.REJECTED:
                continue
            state, _ = handle._venue_view()
            if state is not None and state.is_terminal:
                continue
            accepted = resolution is not None and resolution.status is CommandStatus.ACCEPTED
            if accepted or handle.order_id:
                found.append(handle)
        return found

    def parse_error(self, venue: str, detail: str) -> None:
        self.parse_errors += 1
        log.warning("%s: unparsable stream payload (%d so far): %s", venue, self.parse_errors, detail)

    # ------------------------------------------------------------------ ReconcileSink

    def _handle_of(self, command_id: str) -> CommandHandle | None:
        return self._live.get(command_id) or self._recent.get(command_id)

    def recovery_scheduled(self, command: PendingCommand, trigger: ReconcileTrigger) -> None:
        handle = self._handle_of(command.command_id)
        self._bus.emit(handle, RecoveryScheduled, command.command_id, trigger=trigger, attempt=max(1, command.attempts))

    def recovery_completed(self, command: PendingCommand, report: ReconcileReport) -> None:
        handle = self._handle_of(command.command_id)
        if report.outcome is ReconcileOutcome.DIVERGED:
            log.error(
                "DIVERGED: %s %s on %s was reported ABSENT but the venue now shows it: %s",
                command.operation.value,
                command.command_id,
                command.venue,
                report.reason,
            )
        previous = handle._current_resolution() if handle is not None else None
        self._bus.emit(handle, RecoveryCompleted, command.command_id, report=report)
        if handle is None:
            return
        resolution = handle._current_resolution()
        if resolution is not None and (previous is None or previous.status is not resolution.status):
            self._bus.emit(handle, Receipt, command.command_id, receipt=resolution)
        if report.order is not None and report.order.order_id and handle.order_id is None:
            self._bus.add_routes(handle, EventBus.order_key(command.venue, report.order.order_id))
            handle.order_id = report.order.order_id
        request = command.request
        if self._gate is not None and isinstance(request, OrderRequest):
            self._notify_gate(self._gate.on_reconciled, request, report)
        if report.order is not None:
            handle._note_order(report.order)
        self._maybe_final(handle)

    # ------------------------------------------------------------------ gate notifications

    def _notify_gate(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Gate bookkeeping runs in order on one task so a slow ledger never blocks the event path."""
        if self._gate_queue is None:
            return
        self._gate_queue.put_nowait(lambda: fn(*args))

    async def _drain_gate(self) -> None:
        assert self._gate_queue is not None
        while True:
            job = await self._gate_queue.get()
            try:
                await job()
            except Exception:
                log.exception("portfolio gate bookkeeping failed")
            finally:
                self._gate_queue.task_done()
