"""CommandSender: the send path, from the gate check to the answered handle.

Journal-then-send: the intent is durable before anything leaves (a journal that cannot write
halts the gateway and the command is refused); the venue adapter sends exactly once; its
receipt answers the handle, reaches the gate, and an UNKNOWN_EXECUTION goes to the reconciler.
Nothing here ever re-sends. Refusals before the send (halted, risk, journal) answer the handle
with a REJECTED receipt that is safe to resubmit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gateway.bus import EventBus
from gateway.errors import VenueReadError
from gateway.gate_queue import GateQueue
from gateway.handle import CommandHandle
from gateway.logs import command_fields
from gateway.model import (
    Ack,
    AmendRequest,
    CancelAllRequest,
    CancelRequest,
    CommandAck,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderReport,
    OrderRequest,
    OrderType,
    ReconcileTrigger,
    Transport,
    utc_now,
)
from gateway.ports import GatePort, JournalPort, PendingCommand, ReconcilerPort, Venue
from gateway.registry import HandleRegistry

__all__ = ["CommandSender", "publish_ack", "refusal_receipt", "unknown_receipt"]

log = logging.getLogger("gateway")

# Commands whose evidence is judged against the other cancels of the same orders (the reconciler's siblings).
_CANCELS = frozenset({CommandOperation.CANCEL_ORDER, CommandOperation.CANCEL_ALL})


def publish_ack(bus: EventBus, handle: CommandHandle, receipt: CommandReceipt) -> None:
    """Answer the handle with its ack; a receipt naming the venue order id routes that id to it too."""
    ack = CommandAck(receipt=receipt, transport=receipt.transport, acknowledged_at=utc_now())
    if receipt.order_id:
        bus.add_routes(handle, EventBus.order_key(handle.venue, receipt.order_id))
    bus.emit(handle, Ack, handle.command_id, ack=ack)
    # Accepted acks only at DEBUG: one record per command is a cost the hot path pays only when asked.
    level = logging.DEBUG if receipt.status is CommandStatus.ACCEPTED else logging.INFO
    if log.isEnabledFor(level):
        log.log(
            level,
            "%s %s on %s: %s %s",
            handle.operation.value,
            handle.command_id,
            handle.venue,
            receipt.status.value,
            receipt.native_code or receipt.message or "",
            extra=command_fields(handle),
        )


def unknown_receipt(pending: PendingCommand, message: str) -> CommandReceipt:
    """An UNKNOWN_EXECUTION receipt for a command that may have reached the venue."""
    return CommandReceipt(
        operation=pending.operation,
        status=CommandStatus.UNKNOWN_EXECUTION,
        venue=pending.venue,
        instrument=pending.instrument,
        client_order_id=pending.client_order_id,
        order_id=pending.order_id,
        request_id=pending.command_id if pending.operation is not CommandOperation.CREATE_ORDER else None,
        message=message,
        retriable=True,
        transport=pending.transport,
        sent_at=pending.sent_at,
        received_at=utc_now(),
    )


def refusal_receipt(
    request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest,
    operation: CommandOperation,
    message: str,
    code: str,
    command_id: str,
) -> CommandReceipt:
    """A REJECTED receipt for a command refused before anything was sent (safe to resubmit)."""
    return CommandReceipt(
        operation=operation,
        status=CommandStatus.REJECTED,
        venue=request.venue,
        instrument=request.instrument,
        client_order_id=request.client_order_id,
        order_id=getattr(request, "order_id", None),
        request_id=command_id if operation is not CommandOperation.CREATE_ORDER else None,
        message=message,
        native_code=code,
        safe_to_resubmit=True,
        sent_at=None,
        received_at=utc_now(),
    )


def _fields(request: OrderRequest) -> dict[str, str | None]:
    fields = command_fields(request)
    fields["command_id"] = request.client_order_id
    fields["operation"] = CommandOperation.CREATE_ORDER.value
    return fields


class CommandSender:
    """Owned by ``Gateway``; built over its bus, handles, gate, journal and reconciler (None = disabled)."""

    def __init__(
        self,
        bus: EventBus,
        handles: HandleRegistry,
        gate: GatePort | None,
        gate_queue: GateQueue,
        journal: JournalPort | None,
        reconciler: ReconcilerPort | None,
        halt: Callable[[str], None],
    ) -> None:
        self._bus = bus
        self._handles = handles
        self._gate = gate
        self._gate_queue = gate_queue
        self._journal = journal
        self._reconciler = reconciler
        self._halt = halt

    async def check_gate(self, request: OrderRequest, venue: Venue) -> Exception | None:
        """The gate's refusal of a create, or None once its exposure is reserved."""
        assert self._gate is not None
        try:
            age = await self._reference_age(request, venue)
            await self._gate.check_and_reserve(request, venue.reference_price(request.instrument), age)
        except Exception as exc:  # the gate fails closed: any error is a refusal
            from risk import RiskRejected

            if isinstance(exc, RiskRejected):
                return exc
            log.error("portfolio gate failed; refusing %s: %r", request.client_order_id, exc, extra=_fields(request))
            return RiskRejected(f"portfolio gate unavailable, refusing (fails closed): {exc}")
        return None

    async def _reference_age(self, request: OrderRequest, venue: Venue) -> float | None:
        """How old the mark a MARKET order is checked at is; a stale one is read once over REST first."""
        assert self._gate is not None
        instrument = request.instrument
        venue.watch_reference(instrument)  # every traded instrument's mark is kept live (cheap once watched)
        age = venue.reference_age(instrument)
        limit = self._gate.reference_age_limit() if request.type is OrderType.MARKET else None
        if limit is not None and (age is None or age > limit):
            try:
                await venue.refresh_reference(instrument)  # the REST fallback: the stream is down or late
            except VenueReadError as exc:
                log.warning("%s: reference price of %s not refreshed: %s", venue.name, instrument, exc)
            age = venue.reference_age(instrument)
        return age

    def refuse(
        self,
        handle: CommandHandle,
        request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest,
        operation: CommandOperation,
        message: str,
        code: str,
    ) -> CommandHandle:
        receipt = refusal_receipt(request, operation, message, code, handle.command_id)
        publish_ack(self._bus, handle, receipt)
        self._handles.settle_if_final(handle)
        return handle

    async def journal_then_send(
        self,
        handle: CommandHandle,
        venue: Venue,
        request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest,
        *,
        client_order_id: str | None,
        order_id: str | None,
        transport: Transport,
        send: Callable[[], Awaitable[CommandReceipt]],
        previous: OrderReport | None = None,
        targets: tuple[OrderReport, ...] = (),
    ) -> CommandHandle:
        """Journal the intent, then send once and answer the handle; refuse if the journal cannot."""
        pending = await self.prepare(
            handle, venue, request, client_order_id=client_order_id, order_id=order_id, transport=transport,
            previous=previous, targets=targets,
        )  # fmt: skip
        if pending is None:
            return handle
        self.sending(pending)
        self.answer(handle, pending, await self._send(send(), pending))
        return handle

    async def prepare(
        self,
        handle: CommandHandle,
        venue: Venue,
        request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest,
        *,
        client_order_id: str | None,
        order_id: str | None,
        transport: Transport,
        previous: OrderReport | None = None,
        targets: tuple[OrderReport, ...] = (),
    ) -> PendingCommand | None:
        """Journal the intent: the command, ready to send; None (the handle refused) when the journal cannot."""
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
            previous=previous,
            targets=targets,
        )
        halted = await self._journal_intent(pending)
        if halted is not None:
            self.refuse(handle, request, handle.operation, f"gateway halted: {halted}", "HALTED")
            return None
        return pending

    def sending(self, pending: PendingCommand) -> None:
        """The command is about to leave (journaled already)."""
        # A cancel's evidence is judged against its siblings: the reconciler must know every cancel
        # of a target that is out there, answered or not, or it could credit one with another's effect.
        if pending.operation in _CANCELS and self._reconciler is not None:
            self._reconciler.cancel_sent(pending)

    def answer(self, handle: CommandHandle, pending: PendingCommand, receipt: CommandReceipt) -> None:
        """The venue's answer (or its silence) to a command sent: to the handle, the gate, the reconciler."""
        if pending.operation in _CANCELS and self._reconciler is not None:
            self._reconciler.cancel_answered(pending, receipt.status)
        self._answer(handle, pending, receipt)

    async def send_once(self, call: Awaitable[CommandReceipt], pending: PendingCommand) -> CommandReceipt:
        """Await the adapter's send; an adapter that raised anyway is UNKNOWN (bytes may have left)."""
        return await self._send(call, pending)

    async def _journal_intent(self, pending: PendingCommand) -> str | None:
        """Record the intent; on failure halt the gateway and return why (None when recorded)."""
        if self._journal is None:
            return None
        try:
            await self._journal.record_intent(pending, self._bus.next_sequence())
        except Exception as exc:
            reason = f"journal write failed: {exc!r}"
            self._halt(reason)
            if self._gate is not None and isinstance(pending.request, OrderRequest):
                refused = refusal_receipt(
                    pending.request, CommandOperation.CREATE_ORDER, "journal write failed", "HALTED", pending.command_id
                )
                self._gate_queue.put(self._gate.on_receipt, pending.request, refused)
            return reason
        return None

    async def _send(self, call: Awaitable[CommandReceipt], pending: PendingCommand) -> CommandReceipt:
        try:
            return await call
        except Exception as exc:
            # An adapter must classify every venue outcome itself; if it raised anyway we cannot
            # know whether bytes left, so the only honest answer is UNKNOWN.
            log.exception(
                "venue %s raised while sending %s", pending.venue, pending.command_id, extra=command_fields(pending)
            )
            return unknown_receipt(pending, f"adapter error while sending: {exc.__class__.__name__}")

    def _answer(self, handle: CommandHandle, pending: PendingCommand, receipt: CommandReceipt) -> None:
        if receipt.order_id and pending.order_id is None:
            pending.order_id = receipt.order_id
        publish_ack(self._bus, handle, receipt)
        request = pending.request
        if self._gate is not None and isinstance(request, OrderRequest):
            self._gate_queue.put(self._gate.on_receipt, request, receipt)
        if receipt.status is CommandStatus.UNKNOWN_EXECUTION and self._reconciler is not None:
            handle._attach_settler()
            self._reconciler.track(pending, ReconcileTrigger.UNKNOWN_EXECUTION)
        self._handles.settle_if_final(handle)
