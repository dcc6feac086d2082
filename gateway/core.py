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

This module owns construction, the lifecycle and the public API; the work is done by the
collaborators a ``Gateway`` owns: ``HandleRegistry`` (gateway/registry.py: live and recent
handles, finality), ``CommandSender`` (gateway/sending.py: steps 3-6), ``InboundEvents``
(gateway/events.py: both sinks and the adoption of recovered commands) and ``GateQueue``
(gateway/gate_queue.py: the gate's bookkeeping, in order, off the event path).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.account import Balance, Position, PositionDrift
from gateway.accounts import Accounts, PositionCheckPolicy
from gateway.bus import EventBus
from gateway.errors import DuplicateCommandError, GatewayClosedError, UnknownVenueError
from gateway.events import InboundEvents
from gateway.flatten import Flattener, FlattenHost
from gateway.gate_queue import GateQueue
from gateway.handle import CommandHandle
from gateway.metrics import Metrics
from gateway.model import (
    Ack,
    AmendRequest,
    CancelRequest,
    CommandAck,
    CommandOperation,
    OrderReport,
    OrderRequest,
    ReconcileReport,
    ReconcileTrigger,
    Transport,
    utc_now,
)
from gateway.order_management import Host, OrderManagement
from gateway.ports import GatePort, JournalPort, PendingCommand, ReconcilerPort, Venue
from gateway.refresh import OrderRefresher, RefreshPolicy
from gateway.registry import HandleRegistry
from gateway.safety import DeadMansSwitch, SwitchState, switch_command_id
from gateway.sending import CommandSender
from reconcile.policy import ReconcilePolicy

__all__ = ["DuplicateCommandError", "Gateway", "GatewayClosedError", "UnknownVenueError"]

log = logging.getLogger("gateway")

_DEFAULT_POLICY = ReconcilePolicy()
_DEFAULT_REFRESH = RefreshPolicy()
_DEFAULT_POSITION_CHECK = PositionCheckPolicy()


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
        metrics: object = None,
        position_check: PositionCheckPolicy | None = _DEFAULT_POSITION_CHECK,
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
        self._handles = HandleRegistry(self._bus)
        self._gate_queue = GateQueue()
        if gate is not None:
            self._handles.caught_up = self._gate_queue.caught_up
        self._id_prefix = f"{client_id_prefix}-{secrets.token_hex(4)}-"
        self._id_counter = itertools.count(1)
        self._halted: str | None = None
        # Dead-man's switch changes told while the venues start, audited once the journal records.
        self._starting: list[tuple[str, str, SwitchState, float, str]] | None = None
        self._open = False
        # None disables re-reading believed-live orders after a stream gap (gateway/refresh.py).
        self._refresh_policy = refresh
        self._refresher: OrderRefresher | None = None
        self.parse_errors = 0
        # Positions and balances, the gate seeded at start, the periodic position check (None: off).
        self._accounts = Accounts(self._venues, self._bus, gate, self._gate_queue, position_check)
        # None (the default): no metrics and no cost; a prometheus_client registry, or True for its
        # default one: gateway_* metrics (gateway/metrics.py, the extra "metrics").
        self._metrics: Metrics | None = None
        self.metrics_registry: Any = None  # the prometheus_client registry the metrics are on
        if metrics is not None and metrics is not False:
            from gateway.metrics_export import attach

            self._metrics, self.metrics_registry = attach(metrics)
            self._bus.add_tap(self._metrics.on_event)
        # cancel-all, the kill switch and resume (gateway/flatten.py): made once, it holds the kill switch.
        self._flatten = Flattener(
            FlattenHost(
                self._checked_venue, lambda: self._venues, self.new_client_order_id, lambda: self._halted,
                self.submit, self.positions,
            ),
            self._bus, self._handles, lambda: self._sender, lambda: self._refresher, gate,
        )  # fmt: skip
        self._compose()

    def _compose(self) -> None:
        """Build the collaborators over the parts made so far.

        The journal, the reconciler and the refresher are made by ``start``; until then the
        collaborators run without them, as the gateway always did before it started.
        """
        self._sender = CommandSender(
            self._bus, self._handles, self._gate, self._gate_queue, self._journal, self._reconciler, self._journal_halt
        )
        self._events = InboundEvents(
            self._bus, self._handles, self._gate, self._gate_queue, self._reconciler, self._refresher
        )
        self._manage = OrderManagement(
            Host(self._checked_venue, self.new_client_order_id, lambda: self._halted, self._gate, self._gate_queue),
            self._bus,
            self._handles,
            lambda: self._sender,
        )

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
        self._starting = []
        self._gate_queue.start()
        self._journal = self._make_journal(self._journal_arg)
        self._reconciler = self._make_reconciler(self._reconcile_arg)
        self._refresher = self._make_refresher(self._refresh_policy)
        self._compose()
        if self._refresher is not None:
            # Before the venues start: a socket lost while they start is a gap to refresh too.
            await self._refresher.start()
        await asyncio.gather(*(venue.start(self) for venue in self._venues.values()))
        recovered = []
        if self._journal is not None:
            recovered = await self._journal.open_run(list(self._venues))
            self._bus.resume_from(self._journal.last_sequence)
            self._bus.add_tap(self._journal.record_event)
        try:
            # A hedge-mode account is refused; the gate is seeded from the venues before any submit.
            await self._accounts.start()
        except BaseException:
            await self.close()
            raise
        if self._reconciler is not None:
            await self._reconciler.start()
        if self._metrics is not None:
            self._metrics.bind(
                venues=self._venues, gate=self._gate, reconciler=self._reconciler, halted=lambda: self._halted
            )
            self._metrics.journal_started(self._journal, len(recovered))
            self._metrics.start()
        self._open = True
        starting, self._starting = self._starting or [], None
        for change in starting:
            self.switch_changed(*change)
        for item in recovered:
            self._events.adopt_recovered(item.command, item.last_receipt)

    async def close(self) -> None:
        if not self._open and not self._gate_queue.running:
            return
        self._open = False
        await self._accounts.close()
        if self._refresher is not None:
            await self._refresher.close()
        if self._reconciler is not None:
            await self._reconciler.close()
        await self._manage.close()  # amends waiting for their outcome stop waiting; the gate keeps the safe side
        await asyncio.gather(*(venue.close() for venue in self._venues.values()), return_exceptions=True)
        await self._gate_queue.close()
        if self._journal is not None:
            await self._journal.close()
        if self._metrics is not None:
            await self._metrics.close()

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
            followers.append(lambda order: self._gate_queue.put(gate.on_order_update, order))
        if self._reconciler is not None:
            followers.append(self._reconciler.observe)
        return OrderRefresher(
            self._venues,
            live=self._handles.live_creates,
            bus=self._bus,
            followers=followers,
            settle=self._handles.settle_if_final,
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
    def metrics(self) -> Metrics | None:
        """The counters behind the gateway_* metrics (None unless built with ``metrics=``)."""
        return self._metrics

    @property
    def halted(self) -> str | None:
        """Why new commands are refused (a journal that cannot write, or the kill switch), or None."""
        return self._halted or self._flatten.killed

    def _journal_halt(self, reason: str) -> None:
        """Refuse every new command, cancels included (the journal does this when it cannot write)."""
        log.error("gateway halted: %s", reason)
        self._halted = reason

    async def halt(
        self, reason: str, cancel_open_orders: bool = False, close_positions: bool = False
    ) -> list[CommandHandle]:
        """The kill switch: refuse new exposure (reduce-only orders, cancels and cancel-alls still pass),
        shared through the gate's ledger; optionally cancel every open order on every venue and flatten
        every position with reduce-only MARKET orders. Returns the handles it sent (gateway/flatten.py)."""
        return await self._flatten.halt(reason, cancel_open_orders=cancel_open_orders, close_positions=close_positions)

    def resume(self) -> None:
        """Lift the kill switch (here and at the gate) and a journal halt."""
        self._halted = None
        self._flatten.resume()

    async def cancel_all(
        self, venue: str, instrument: str | None = None, transport: Transport = Transport.AUTO
    ) -> CommandHandle:
        """Cancel every open order on ``venue`` (one instrument, or every one traded), sent once per instrument."""
        return await self._flatten.cancel_all(venue, instrument, transport)

    def handle(self, client_order_id: str) -> CommandHandle | None:
        """Any command of this run, or one the journal holds from an earlier run."""
        found = self._handles.get(client_order_id)
        if found is not None or self._journal is None:
            return found
        receipt = self._journal.settled_receipt(client_order_id)
        if receipt is None:
            return None
        handle = self._handles.create(
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

    async def positions(self, venue: str | None = None) -> list[Position]:
        """Every open position of one venue account (or all), read from the venue now (gateway/accounts.py)."""
        return await self._accounts.positions(venue)

    async def balances(self, venue: str | None = None) -> list[Balance]:
        """Every balance of one venue account (or all), read from the venue now."""
        return await self._accounts.balances(venue)

    async def check_positions(self, venue: str | None = None) -> list[PositionDrift]:
        """Run the position check now (it also runs every ``PositionCheckPolicy.interval_seconds``)."""
        return await self._accounts.check(venue)

    def known_positions(self, venue: str | None = None) -> list[Position]:
        """The positions as the last read and the user streams since have left them (no venue read)."""
        return self._accounts.known_positions(venue)

    def known_balances(self, venue: str | None = None) -> list[Balance]:
        """The balances as the last read and the user streams since have left them (no venue read)."""
        return self._accounts.known_balances(venue)

    async def gate_positions(self) -> dict[tuple[str, str], Decimal]:
        """The signed quantity per (venue, instrument) the gate holds, once it applied every update so far."""
        return await self._accounts.gate_positions()

    async def wait_gate_position(
        self, venue: str, instrument: str, quantity: Decimal, timeout: float | None = None
    ) -> None:
        """Return once the gate holds ``quantity`` for the position; raises ``TimeoutError`` on timeout."""
        await self._accounts.wait_gate_position(venue, instrument, quantity, timeout)

    async def wait_position(
        self, venue: str, instrument: str, quantity: Decimal, timeout: float | None = None
    ) -> Position:
        """Return once the venue shows ``quantity`` for the position (its stream or a read); raises on timeout."""
        return await self._accounts.wait_position(venue, instrument, quantity, timeout)

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
        if cid in self._handles:
            raise DuplicateCommandError(cid)
        venue.validate(request)
        venue.watch_reference(request.instrument)  # a traded instrument's mark is kept live from now on
        transport = venue.transport_for(request.transport)
        handle = self._handles.create(cid, CommandOperation.CREATE_ORDER, venue.name, request.instrument, cid, request)
        self._bus.register(handle, EventBus.client_key(venue.name, cid))

        sender = self._sender
        if self._halted is not None:
            return sender.refuse(
                handle, request, CommandOperation.CREATE_ORDER, f"gateway halted: {self._halted}", "HALTED"
            )
        killed = self._flatten.refusal(request)
        if killed is not None:
            return sender.refuse(handle, request, CommandOperation.CREATE_ORDER, killed, "HALTED")
        if self._gate is not None:
            refusal = await sender.check_gate(request, venue)
            if refusal is not None:
                if self._raise_on_risk:
                    self._handles.retire(handle)
                    raise refusal
                return sender.refuse(handle, request, CommandOperation.CREATE_ORDER, str(refusal), "RISK")

        return await sender.journal_then_send(
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
        handle = self._handles.create(
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
            return self._sender.refuse(
                handle, request, CommandOperation.CANCEL_ORDER, f"gateway halted: {self._halted}", "HALTED"
            )
        return await self._sender.journal_then_send(
            handle,
            venue,
            request,
            client_order_id=request.client_order_id,
            order_id=request.order_id,
            transport=transport,
            send=lambda: venue.cancel(request, request_id),
        )

    async def amend(self, request: AmendRequest) -> CommandHandle:
        """Change an open order's price and/or quantity, sent once (gateway/order_management.py)."""
        return await self._manage.amend(request)

    async def submit_batch(self, requests: Sequence[OrderRequest]) -> list[CommandHandle]:
        """One handle per request, in order; items go out in the venues' batch sizes, each journaled first."""
        return await self._manage.submit_batch(requests)

    async def cancel_batch(self, requests: Sequence[CancelRequest]) -> list[CommandHandle]:
        """One handle per cancel, in order; sent in the venues' batch sizes, each journaled first."""
        return await self._manage.cancel_batch(requests)

    def _checked_venue(self, name: str) -> Venue:
        if not self._open:
            raise GatewayClosedError("the gateway is not open: use `async with Gateway(...) as gw`")
        venue = self._venues.get(name)
        if venue is None:
            raise UnknownVenueError(name, list(self._venues))
        return venue

    # ------------------------------------------------------------------ VenueEventSink (gateway/events.py)

    def wants_order_update(self, venue: str, client_order_id: str | None, order_id: str | None) -> bool:
        return self._events.wants_order_update(venue, client_order_id, order_id)

    def order_update(self, order: OrderReport) -> None:
        self._events.order_update(order)

    def stream_gap(self, venue: str, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.stream_gap(venue)
        self._events.stream_gap(venue, reason)

    def account_update(self, venue: str, positions: Sequence[Position], balances: Sequence[Balance]) -> None:
        self._accounts.account_update(venue, positions, balances)

    def mark_update(self, venue: str, instrument: str, price: Decimal) -> None:
        if self._gate is not None:  # the gate values positions at the mark (risk.gate.MARK_TOLERANCE)
            self._gate_queue.put(self._gate.on_mark, venue, instrument, price)

    def switch_changed(self, venue: str, scope: str, state: SwitchState, seconds: float, detail: str) -> None:
        """A venue's dead-man's switch changed state: logged (by the adapter) and put on the audit stream."""
        if not self._open and self._starting is not None:
            # A venue arms while it starts, before the journal numbers and records the stream.
            self._starting.append((venue, scope, state, seconds, detail))
            return
        self._bus.emit(
            None, DeadMansSwitch, switch_command_id(venue, scope),
            venue=venue, scope=scope, state=state, seconds=seconds, detail=detail,
        )  # fmt: skip

    def parse_error(self, venue: str, detail: str) -> None:
        self.parse_errors += 1
        if self._metrics is not None:
            self._metrics.parse_error(venue)
        log.warning("%s: unparsable stream payload (%d so far): %s", venue, self.parse_errors, detail)

    # ------------------------------------------------------------------ ReconcileSink (gateway/events.py)

    def recovery_scheduled(self, command: PendingCommand, trigger: ReconcileTrigger) -> None:
        self._events.recovery_scheduled(command, trigger)

    def recovery_completed(self, command: PendingCommand, report: ReconcileReport) -> None:
        self._events.recovery_completed(command, report)
