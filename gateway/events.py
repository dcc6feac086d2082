"""InboundEvents: what flows back into the gateway, onto the bus and into the gate and the reconciler.

The ``VenueEventSink`` side (a venue's user stream: order updates, stream gaps, whether an
update matters at all), the ``ReconcileSink`` side (an attempt scheduled, a report; a report
that moves a command's status also publishes the receipt it proves), and the adoption of the
commands an earlier run left unsettled. ``Gateway`` implements both sinks by delegating here.
"""

from __future__ import annotations

import logging

from gateway.bus import EventBus
from gateway.gate_queue import GateQueue
from gateway.logs import command_fields
from gateway.model import (
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
)
from gateway.ports import GatePort, PendingCommand, ReconcilerPort
from gateway.refresh import OrderRefresher
from gateway.registry import HandleRegistry
from gateway.sending import publish_ack, unknown_receipt

__all__ = ["InboundEvents"]

log = logging.getLogger("gateway")


class InboundEvents:
    """Owned by ``Gateway``; built over its bus, handles, gate, reconciler and refresher (None = disabled)."""

    def __init__(
        self,
        bus: EventBus,
        handles: HandleRegistry,
        gate: GatePort | None,
        gate_queue: GateQueue,
        reconciler: ReconcilerPort | None,
        refresher: OrderRefresher | None,
    ) -> None:
        self._bus = bus
        self._handles = handles
        self._gate = gate
        self._gate_queue = gate_queue
        self._reconciler = reconciler
        self._refresher = refresher

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
            self._gate_queue.put(self._gate.on_order_update, order)
        if self._reconciler is not None:
            self._reconciler.observe(order)
        for handle in handles:
            self._handles.settle_if_final(handle)

    def stream_gap(self, venue: str, reason: str) -> None:
        log.warning("%s: stream gap (%s); re-reading live orders, reconciling tracked commands", venue, reason)
        if self._refresher is not None:
            self._refresher.on_gap(venue, reason)
        if self._reconciler is not None:
            self._reconciler.on_stream_gap(venue, reason)

    # ------------------------------------------------------------------ ReconcileSink

    def recovery_scheduled(self, command: PendingCommand, trigger: ReconcileTrigger) -> None:
        handle = self._handles.get(command.command_id)
        self._bus.emit(handle, RecoveryScheduled, command.command_id, trigger=trigger, attempt=max(1, command.attempts))

    def recovery_completed(self, command: PendingCommand, report: ReconcileReport) -> None:
        handle = self._handles.get(command.command_id)
        if report.outcome is ReconcileOutcome.DIVERGED:
            log.error(
                "DIVERGED: %s %s on %s was reported ABSENT but the venue now shows it: %s",
                command.operation.value,
                command.command_id,
                command.venue,
                report.reason,
                extra=command_fields(command),
            )
        elif log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s on %s: %s via %s (%s)",
                command.operation.value,
                command.command_id,
                command.venue,
                report.outcome.value,
                report.evidence.value,
                report.reason,
                extra=command_fields(command),
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
            self._gate_queue.put(self._gate.on_reconciled, request, report)
        if report.order is not None:
            handle._note_order(report.order)
        if (
            command.operation is CommandOperation.CANCEL_ALL
            and resolution is not None
            and resolution.status is CommandStatus.ACCEPTED
            and self._refresher is not None
        ):
            # Proved: re-read the orders it canceled (their handles and the gate; gateway/flatten.py).
            self._refresher.on_gap(command.venue, "cancel-all proved: re-reading the orders it canceled")
        self._handles.settle_if_final(handle)

    # ------------------------------------------------------------------ recovery

    def adopt_recovered(self, pending: PendingCommand, last_receipt: CommandReceipt | None) -> None:
        """A command an earlier run left without a final outcome: give it a handle and settle it."""
        handle = self._handles.create(
            pending.command_id,
            pending.operation,
            pending.venue,
            pending.instrument,
            pending.client_order_id,
            pending.request,
        )
        keys = []
        if pending.client_order_id:
            keys.append(EventBus.client_key(pending.venue, pending.client_order_id))
        if pending.order_id:
            keys.append(EventBus.order_key(pending.venue, pending.order_id))
        self._bus.register(handle, *keys)
        receipt = last_receipt
        if receipt is None or receipt.status is not CommandStatus.UNKNOWN_EXECUTION:
            receipt = unknown_receipt(
                pending, "recovered from the journal: the previous run ended before its outcome was recorded"
            )
        publish_ack(self._bus, handle, receipt)
        if self._reconciler is not None:
            handle._attach_settler()
            self._reconciler.track(pending, ReconcileTrigger.STARTUP)
