"""OrderManagement: amends and batch writes, on the same send path as a single create or cancel.

``Gateway.amend`` / ``submit_batch`` / ``cancel_batch`` delegate here. Every command still goes
through the one path (``gateway.sending.CommandSender``): caller checks raise before anything is
sent; a refusal (halted, gate, journal) is a REJECTED receipt; the intent is journaled before the
send; the venue sends once; an UNKNOWN_EXECUTION is reconciled, never re-sent.

- **Amend**: the target is the order the gateway knows (its create's most advanced view, with the
  values of amends since accepted), else the venue's answer to a query by id. An order known to be
  closed is refused before sending (REJECTED, with its state). The handle is routed by the target's
  ids, its receipt names them, and its ``PendingCommand.previous`` is the target as known at the
  send: the values a not-taken amend leaves in place, which the reconciler compares with. While one
  amend of an order is UNKNOWN, another of it is refused (REJECTED, ``AMEND_PENDING``, nothing sent):
  the order's view could not tell the two apart.
- **Batches**: every item is validated first (a caller's mistake raises before anything), then each
  gets its handle, the gate's check (a refusal is that item's REJECTED receipt; it never enters the
  batch) and its journaled intent; then the items left go out in the venue's batch sizes (a venue
  or transport without a batch endpoint sends them one by one). One receipt per item, in order; a
  batch answer lost as a whole leaves every item in it UNKNOWN_EXECUTION.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from gateway.bus import EventBus
from gateway.errors import DuplicateCommandError, ResolutionTimeout, VenueReadError
from gateway.gate_queue import GateQueue
from gateway.handle import CommandHandle
from gateway.model import (
    AmendRequest,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderReport,
    OrderRequest,
    OrderState,
    Transport,
)
from gateway.ports import GatePort, PendingCommand, Venue
from gateway.registry import HandleRegistry
from gateway.sending import CommandSender, publish_ack, refusal_receipt

__all__ = ["Host", "OrderManagement"]

log = logging.getLogger("gateway")


@dataclass(slots=True)
class _Ready:
    handle: CommandHandle
    pending: PendingCommand
    request: OrderRequest | CancelRequest
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Host:
    """What ``OrderManagement`` asks of the gateway that owns it."""

    checked_venue: Callable[[str], Venue]  # raises for a closed gateway or an unknown venue
    new_client_order_id: Callable[[], str]
    halted: Callable[[], str | None]
    gate: GatePort | None
    gate_queue: GateQueue


class OrderManagement:
    """Owned by ``Gateway`` (its ``host``): see the module docstring."""

    def __init__(self, host: Host, bus: EventBus, handles: HandleRegistry, sender: Callable[[], CommandSender]):
        self._host = host
        self._bus = bus
        self._handles = handles
        self._sender = sender  # the gateway's current one (it is rebuilt when the gateway starts)
        # Accepted amends whose values the order's views may not show yet, by (venue, order id).
        self._amended: dict[tuple[str, str], OrderReport] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unresolved: dict[tuple[str, str], CommandHandle] = {}  # (venue, order id) -> an UNKNOWN amend of it

    # ------------------------------------------------------------------ amend

    async def amend(self, request: AmendRequest) -> CommandHandle:
        host = self._host
        venue = host.checked_venue(request.venue)
        venue.validate_amend(request, None)  # ids and values' shape, before anything (a read) happens
        known = self._known(venue, request)
        found = known if known is not None else await self._query(venue, request)
        view = found if isinstance(found, OrderReport) else None
        if view is not None and view.state.is_open:
            venue.validate_amend(request, view)  # the new values against the filters, with the order's others
        request_id = f"am-{host.new_client_order_id()}"
        cid = request.client_order_id or (view.client_order_id if view else None)
        op = CommandOperation.AMEND_ORDER
        handle = self._handles.create(request_id, op, venue.name, request.instrument, cid, request)
        keys = [EventBus.client_key(venue.name, cid)] if cid else []
        oid = request.order_id or (view.order_id if view else None)
        if oid:
            keys.append(EventBus.order_key(venue.name, oid))
            handle.order_id = oid
        self._bus.register(handle, *keys)
        sender = self._sender()
        if view is None:
            why = found if isinstance(found, str) else "the venue does not know this order"
            return sender.refuse(handle, request, op, f"not sent: {why}", "UNKNOWN_ORDER")
        if view.state.is_terminal:
            return self._refuse_closed(handle, request, view)
        earlier = self._unresolved.get((venue.name, view.order_id))
        if earlier is not None and earlier.resolution is not None:
            del self._unresolved[(venue.name, view.order_id)]
        elif earlier is not None:
            # Two amends of one order in flight cannot be told apart by the order's view (the second
            # may restore the values the first replaced), so the second waits for the first's proof.
            why = f"not sent: amend {earlier.command_id} of this order is still unresolved (wait for its proof)"
            return sender.refuse(handle, request, op, why, "AMEND_PENDING")
        if host.halted() is not None:
            return sender.refuse(handle, request, op, f"gateway halted: {host.halted()}", "HALTED")
        current = view
        price = request.price if request.price is not None else current.price
        quantity = request.quantity if request.quantity is not None else current.quantity
        target = current.client_order_id
        gate = host.gate if target and price is not None and quantity is not None else None
        if gate is not None:
            assert target is not None and price is not None and quantity is not None
            refusal = await _gate_refusal(gate.amend_reserve(target, current, price, quantity))
            if refusal is not None:
                return sender.refuse(handle, request, op, refusal, "RISK")
        await sender.journal_then_send(
            handle,
            venue,
            request,
            client_order_id=cid,
            order_id=oid,
            transport=venue.transport_for(request.transport),
            send=lambda: venue.amend(request, request_id, current),
            previous=current,
        )
        self._note_amend(handle, current)
        if handle.resolution is None:
            self._unresolved[(venue.name, current.order_id)] = handle
            if len(self._unresolved) > 10_000:  # forget settled ones (an unresolved one is kept)
                self._unresolved = {k: h for k, h in self._unresolved.items() if h.resolution is None}
        if gate is not None:
            assert target is not None and price is not None and quantity is not None
            self._settle_gate(handle, gate, target, current, price, quantity)
        return handle

    def _settle_gate(
        self,
        handle: CommandHandle,
        gate: GatePort,
        target: str,
        current: OrderReport,
        price: Decimal,
        quantity: Decimal,
    ) -> None:
        """Tell the gate the amend's outcome once it is proved (now, or when the reconciler settles it)."""
        queue = self._host.gate_queue

        def settle(receipt: CommandReceipt | None) -> None:
            if receipt is not None and receipt.status is not CommandStatus.UNKNOWN_EXECUTION:
                took = receipt.status is CommandStatus.ACCEPTED
                queue.put(gate.amend_settled, target, current, price, quantity, took)

        receipt = handle.resolution
        if receipt is not None or handle.ack.receipt.status is not CommandStatus.UNKNOWN_EXECUTION:
            settle(receipt)
            return

        async def later() -> None:
            try:
                settle(await handle.resolved())
            except ResolutionTimeout:
                return  # never settled: a rise stays reserved, a fall is never released (the safe side)

        task = asyncio.create_task(later(), name=f"gate-amend:{handle.command_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop waiting for amends' outcomes (the gateway is closing)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _known(self, venue: Venue, request: AmendRequest) -> OrderReport | None:
        """The target as this gateway knows it: its create's most advanced view, plus accepted amends since."""
        handle = None
        if request.client_order_id:
            found = self._handles.get(request.client_order_id)
            handle = found if found is not None and found.operation is CommandOperation.CREATE_ORDER else None
        if handle is None and request.order_id:
            for candidate in self._bus.handles_for(EventBus.order_key(venue.name, request.order_id)):
                if candidate.operation is CommandOperation.CREATE_ORDER:
                    handle = candidate
                    break
        if handle is None:
            return None
        view = handle.order_view
        create = handle.request if isinstance(handle.request, OrderRequest) else None
        if view is None:
            receipt = handle.resolution
            if (
                create is None
                or receipt is None
                or receipt.status is not CommandStatus.ACCEPTED
                or not receipt.order_id
            ):
                return None
            view = OrderReport(
                venue=venue.name, instrument=create.instrument, order_id=receipt.order_id,
                client_order_id=create.client_order_id, side=create.side, type=create.type,
                quantity=create.quantity, price=create.price, state=receipt.order_state or OrderState.NEW,
                filled_quantity=receipt.filled_quantity or 0, reduce_only=create.reduce_only,
            )  # fmt: skip
        elif create is not None and (view.side is None or view.quantity is None):
            view = view.model_copy(
                update={"side": view.side or create.side, "quantity": view.quantity or create.quantity}
            )
        newer = self._amended.get((venue.name, view.order_id))
        if newer is not None:
            if view.quantity == newer.quantity and view.price == newer.price:
                del self._amended[(venue.name, view.order_id)]  # the views caught up
            elif view.state.is_open:
                view = view.model_copy(update={"quantity": newer.quantity, "price": newer.price})
        return view

    async def _query(self, venue: Venue, request: AmendRequest) -> OrderReport | str | None:
        """The venue's view of an order this gateway does not follow (a read, never a write)."""
        try:
            return await venue.query_order(
                request.instrument, client_order_id=request.client_order_id, order_id=request.order_id
            )
        except VenueReadError as exc:
            return f"the order could not be read to amend it: {exc}"

    def _refuse_closed(self, handle: CommandHandle, request: AmendRequest, current: OrderReport) -> CommandHandle:
        receipt = refusal_receipt(
            request, CommandOperation.AMEND_ORDER, f"not sent: the order is already {current.state.value}",
            "ORDER_CLOSED", handle.command_id,
        ).model_copy(update={
            "order_id": current.order_id, "client_order_id": current.client_order_id, "order_state": current.state,
            "filled_quantity": current.filled_quantity,
        })  # fmt: skip
        publish_ack(self._bus, handle, receipt)
        self._handles.settle_if_final(handle)
        return handle

    def _note_amend(self, handle: CommandHandle, current: OrderReport) -> None:
        """An accepted amend's values hold for the order until its views show them (a later amend builds on them)."""
        receipt = handle.resolution
        request = handle.request
        if receipt is None or receipt.status is not CommandStatus.ACCEPTED or not isinstance(request, AmendRequest):
            return
        quantity = request.quantity if request.quantity is not None else current.quantity
        price = request.price if request.price is not None else current.price
        newer = current.model_copy(update={"quantity": quantity, "price": price})
        self._amended[(handle.venue, current.order_id)] = newer
        while len(self._amended) > 10_000:
            self._amended.pop(next(iter(self._amended)))

    # ------------------------------------------------------------------ batches

    async def submit_batch(self, requests: Sequence[OrderRequest]) -> list[CommandHandle]:
        host = self._host
        checked: list[tuple[Venue, OrderRequest]] = []
        seen: set[str] = set()
        for request in requests:
            venue = host.checked_venue(request.venue)
            if request.client_order_id is None:
                request = request.model_copy(update={"client_order_id": host.new_client_order_id()})
            cid = request.client_order_id
            assert cid is not None
            if cid in self._handles or cid in seen:
                raise DuplicateCommandError(cid)
            seen.add(cid)
            venue.validate(request)
            checked.append((venue, request))
        handles: list[CommandHandle] = []
        ready: list[tuple[Venue, Transport, _Ready]] = []
        sender = self._sender()
        op = CommandOperation.CREATE_ORDER
        for venue, request in checked:
            cid = request.client_order_id
            assert cid is not None
            handle = self._handles.create(cid, op, venue.name, request.instrument, cid, request)
            self._bus.register(handle, EventBus.client_key(venue.name, cid))
            handles.append(handle)
            if host.halted() is not None:
                sender.refuse(handle, request, op, f"gateway halted: {host.halted()}", "HALTED")
                continue
            if host.gate is not None:
                refusal = await sender.check_gate(request, venue)
                if refusal is not None:
                    sender.refuse(handle, request, op, str(refusal), "RISK")
                    continue
            transport = _batch_transport(venue, op, request.transport)
            pending = await sender.prepare(
                handle, venue, request, client_order_id=cid, order_id=None, transport=transport
            )
            if pending is not None:
                ready.append((venue, transport, _Ready(handle, pending, request, None)))
        await self._send_all(op, ready)
        return handles

    async def cancel_batch(self, requests: Sequence[CancelRequest]) -> list[CommandHandle]:
        host = self._host
        checked: list[tuple[Venue, CancelRequest]] = []
        for request in requests:
            venue = host.checked_venue(request.venue)
            venue.validate_cancel(request)
            checked.append((venue, request))
        handles: list[CommandHandle] = []
        ready: list[tuple[Venue, Transport, _Ready]] = []
        sender = self._sender()
        op = CommandOperation.CANCEL_ORDER
        for venue, request in checked:
            request_id = f"cx-{host.new_client_order_id()}"
            handle = self._handles.create(
                request_id, op, venue.name, request.instrument, request.client_order_id, request
            )
            keys = []
            if request.client_order_id:
                keys.append(EventBus.client_key(venue.name, request.client_order_id))
            if request.order_id:
                keys.append(EventBus.order_key(venue.name, request.order_id))
                handle.order_id = request.order_id
            self._bus.register(handle, *keys)
            handles.append(handle)
            if host.halted() is not None:
                sender.refuse(handle, request, op, f"gateway halted: {host.halted()}", "HALTED")
                continue
            transport = _batch_transport(venue, op, request.transport)
            pending = await sender.prepare(
                handle, venue, request, client_order_id=request.client_order_id, order_id=request.order_id,
                transport=transport,
            )  # fmt: skip
            if pending is not None:
                ready.append((venue, transport, _Ready(handle, pending, request, request_id)))
        await self._send_all(op, ready)
        return handles

    async def _send_all(self, operation: CommandOperation, ready: list[tuple[Venue, Transport, _Ready]]) -> None:
        """Group the journaled items by where they go, cut each group to the venue's batch size, send each once."""
        groups: dict[tuple[str, Transport, str], tuple[Venue, list[_Ready]]] = {}
        for venue, transport, item in ready:
            # Binance's cancel batch names one symbol and one id kind; a create batch may mix symbols.
            request = item.request
            kind = "" if operation is CommandOperation.CREATE_ORDER else (
                f"{request.instrument}|{'oid' if getattr(request, 'order_id', None) else 'cid'}"
            )  # fmt: skip
            groups.setdefault((venue.name, transport, kind), (venue, []))[1].append(item)
        chunks: list[Awaitable[None]] = []
        for (_, transport, _), (venue, items) in groups.items():
            size = venue.batch_size(operation, transport)
            for start in range(0, len(items), size):
                chunks.append(self._send_chunk(operation, venue, transport, items[start : start + size]))
        await asyncio.gather(*chunks)

    async def _send_chunk(
        self, operation: CommandOperation, venue: Venue, transport: Transport, items: list[_Ready]
    ) -> None:
        sender = self._sender()
        for item in items:
            sender.sending(item.pending)
        if len(items) == 1:
            item = items[0]
            request = item.request
            if isinstance(request, OrderRequest):
                call = venue.submit(request)
            else:
                call = venue.cancel(request, item.request_id or item.handle.command_id)
            sender.answer(item.handle, item.pending, await sender.send_once(call, item.pending))
            return
        try:
            if operation is CommandOperation.CREATE_ORDER:
                creates = [i.request for i in items if isinstance(i.request, OrderRequest)]
                receipts = await venue.submit_batch(creates, transport)
            else:
                cancels = [i.request for i in items if isinstance(i.request, CancelRequest)]
                receipts = await venue.cancel_batch(cancels, [i.request_id or "" for i in items], transport)
            if len(receipts) != len(items):
                raise ValueError(f"{len(receipts)} receipts for {len(items)} items")
        except Exception as exc:  # an adapter must classify every outcome; if it raised, bytes may have left
            log.exception("venue %s raised while sending a batch of %d", venue.name, len(items))
            receipts = [await sender.send_once(_raise(exc), i.pending) for i in items]
        for item, receipt in zip(items, receipts, strict=True):
            sender.answer(item.handle, item.pending, receipt)


async def _gate_refusal(check: Awaitable[None]) -> str | None:
    """The gate's refusal of an amend, or None once its rise is reserved; the gate fails closed."""
    from risk import RiskRejected

    try:
        await check
    except RiskRejected as exc:
        return str(exc)
    except Exception as exc:
        log.error("portfolio gate failed on an amend; refusing: %r", exc)
        return f"portfolio gate unavailable, refusing (fails closed): {exc}"
    return None


async def _raise(exc: Exception) -> CommandReceipt:
    raise exc


def _batch_transport(venue: Venue, operation: CommandOperation, requested: Transport) -> Transport:
    """AUTO picks a transport with a batch endpoint (Binance batches over REST only); an explicit one stays."""
    transport = venue.transport_for(requested)
    if requested is Transport.AUTO and venue.batch_size(operation, transport) <= 1:
        if venue.batch_size(operation, Transport.REST) > 1:
            return Transport.REST
    return transport
