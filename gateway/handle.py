"""CommandHandle: one command's ack, receipts and lifecycle, as a strategy sees them.

Handles are made only by the gateway. A handle moves through these states::

    PENDING   created, its command not yet answered (never visible to callers of submit)
    ANSWERED  the ack is in; receipts and lifecycle events keep arriving
    FINAL     the command's outcome and its order's state are terminal; nothing more will come

``resolved()`` maps an UNKNOWN_EXECUTION through the reconciler's report:
SYNCHRONIZED -> ACCEPTED with the venue's state; ABSENT -> REJECTED, safe_to_resubmit;
STILL_UNCERTAIN / DIVERGED -> UNKNOWN_EXECUTION, retriable. With no reconciler settling the
command it raises ``ResolutionTimeout`` at once rather than wait forever.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from gateway.errors import ResolutionTimeout
from gateway.fold import CommandFold, receipt_from_report
from gateway.model import (
    Ack,
    CommandAck,
    CommandOperation,
    CommandReceipt,
    LifecycleEvent,
    OrderReport,
    OrderState,
    OrderUpdate,
    Receipt,
    ReconcileReport,
    RecoveryCompleted,
)

__all__ = [
    "CommandHandle",
    "EndOfLifecycle",
    "HandleState",
    "HandleStatistics",
    "ResolutionTimeout",
    "receipt_from_report",
]

_PRIVATE = object()


class EndOfLifecycle(Exception):
    """``next_lifecycle()`` on a final command whose events have all been read."""


class HandleState(Enum):
    PENDING = "PENDING"  # not yet answered
    ANSWERED = "ANSWERED"  # ack in; more receipts or order updates may follow
    FINAL = "FINAL"  # outcome and order state terminal; the bus no longer routes to it


@dataclass(frozen=True, slots=True)
class HandleStatistics:
    depth: int  # lifecycle events not yet read
    peak: int  # the most ever unread at once
    waiters: int  # tasks blocked in next_lifecycle()
    delivered: int  # lifecycle events delivered in all


class CommandHandle:
    """One command's view; see the module docstring. Made only by ``Gateway``."""

    __slots__ = (
        "__weakref__",  # the registry keeps a final handle only while someone else holds it
        "_ack",
        "_caught_up",
        "_delivered",
        "_events",
        "_final",
        "_fold",
        "_peak",
        "_receipt_cursor",
        "_receipt_waiters",
        "_receipts",
        "_resolution_waiters",
        "_settler",
        "_waiters",
        "client_order_id",
        "command_id",
        "instrument",
        "operation",
        "order_id",
        "request",
        "venue",
    )

    def __init__(
        self,
        token: object,
        *,
        command_id: str,
        operation: CommandOperation,
        venue: str,
        instrument: str,
        client_order_id: str | None,
        request: object,
    ):
        if token is not _PRIVATE:
            raise TypeError("CommandHandle is created by Gateway.submit()/cancel(); it has no public constructor")
        self.command_id = command_id
        self.operation = operation
        self.venue = venue
        self.instrument = instrument
        self.client_order_id = client_order_id
        self.order_id: str | None = None
        self.request = request
        self._ack: CommandAck | None = None
        self._events: deque[LifecycleEvent] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._peak = 0
        self._delivered = 0
        self._receipts: list[CommandReceipt] = []
        self._receipt_cursor = 0
        self._receipt_waiters: list[asyncio.Future[None]] = []
        self._fold = CommandFold(operation)
        self._resolution_waiters: list[asyncio.Future[None]] = []
        self._settler = False
        self._final = False
        # Set by the gateway when a gate is on: waits until the gate has applied everything seen so far,
        # so a resolved() that returns a fill never runs ahead of the gate's exposure.
        self._caught_up: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def _create(cls, **kwargs: object) -> CommandHandle:
        return cls(_PRIVATE, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        status = self._ack.receipt.status.value if self._ack else "PENDING"
        return f"<CommandHandle {self.operation.value} {self.command_id} {status} {self.state.value}>"

    # ------------------------------------------------------------------ public surface

    @property
    def ack(self) -> CommandAck:
        if self._ack is None:
            raise RuntimeError(f"command {self.command_id} has not been answered yet")
        return self._ack

    @property
    def state(self) -> HandleState:
        if self._final:
            return HandleState.FINAL
        return HandleState.PENDING if self._ack is None else HandleState.ANSWERED

    @property
    def resolution(self) -> CommandReceipt | None:
        """What ``resolved()`` would return now without waiting; None while the outcome is unknown."""
        return self._current_resolution()

    @property
    def latest_receipt(self) -> CommandReceipt | None:
        return self._receipts[-1] if self._receipts else None

    @property
    def receipts(self) -> tuple[CommandReceipt, ...]:
        """Every receipt so far, oldest first (the ack's first); reading it consumes nothing ``receipt()`` waits on."""
        return tuple(self._receipts)

    @property
    def order_view(self) -> OrderReport | None:
        """The most advanced venue view of this command's order, None before any (``gateway.fold``).

        Updates from the stream, refreshes and reconciliation reports can arrive out of order; a
        staler one (less filled, or open after a terminal one) never replaces this view.
        """
        return self._fold.last_order

    async def receipt(self) -> CommandReceipt:
        """First call: the ack's receipt. Each later call: the next receipt for this command."""
        while self._receipt_cursor >= len(self._receipts):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._receipt_waiters.append(fut)
            await fut
        receipt = self._receipts[self._receipt_cursor]
        self._receipt_cursor += 1
        return receipt

    async def next_lifecycle(self) -> LifecycleEvent:
        """The next lifecycle event for this command, in sequence order.

        Raises ``EndOfLifecycle`` when the command is final and every event has been read.
        """
        while not self._events:
            if self._final:
                raise EndOfLifecycle(f"command {self.command_id} is final; no more lifecycle events")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        return self._events.popleft()

    async def lifecycle(self) -> AsyncIterator[LifecycleEvent]:
        """Every lifecycle event as a stream; ends once the command is final and drained."""
        while True:
            try:
                yield await self.next_lifecycle()
            except EndOfLifecycle:
                return

    async def resolved(self, timeout: float | None = None) -> CommandReceipt:
        """The receipt resolved as far as the evidence allows (see the module docstring)."""
        current = self._current_resolution()
        if current is not None:
            if self._caught_up is not None:
                await self._caught_up()
            return current
        if not self._settler:
            raise ResolutionTimeout(f"command {self.command_id} is UNKNOWN_EXECUTION and no reconciler is settling it")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._resolution_waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError as exc:
            raise ResolutionTimeout(
                f"command {self.command_id} still UNKNOWN_EXECUTION after {timeout}s; it is still being reconciled"
            ) from exc
        finally:
            if fut in self._resolution_waiters:
                self._resolution_waiters.remove(fut)
        current = self._current_resolution()
        assert current is not None
        if self._caught_up is not None:
            await self._caught_up()
        return current

    def statistics(self) -> HandleStatistics:
        return HandleStatistics(len(self._events), self._peak, len(self._waiters), self._delivered)

    # ------------------------------------------------------------------ gateway side

    def _current_resolution(self) -> CommandReceipt | None:
        return self._fold.current

    @property
    def final(self) -> bool:
        """Whether the command's outcome and its order's state are settled (``gateway.fold.is_final``)."""
        return self._fold.final

    def _attach_settler(self) -> None:
        self._settler = True

    def _deliver(self, event: LifecycleEvent) -> None:
        """Called by the bus only, in sequence order."""
        if isinstance(event, Ack):
            self._ack = event.ack
            self._fold.ack(event.ack.receipt)
            self.order_id = self.order_id or event.ack.receipt.order_id
            self._push_receipt(event.ack.receipt)
        elif isinstance(event, Receipt):
            self.order_id = self.order_id or event.receipt.order_id
            self._fold.receipt(event.receipt)
            self._push_receipt(event.receipt)
        elif isinstance(event, RecoveryCompleted):
            self._resolve(event.report)
        elif isinstance(event, OrderUpdate):
            self.order_id = self.order_id or event.order.order_id
            self._note_order(event.order)
        self._events.append(event)
        self._delivered += 1
        if len(self._events) > self._peak:
            self._peak = len(self._events)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def _note_order(self, order: OrderReport) -> None:
        """Keep the most advanced venue view (``gateway.fold.advances``): a stale read never regresses it."""
        self._fold.order(order)

    def _venue_view(self) -> tuple[OrderState | None, Decimal]:
        """The order's state and cumulative filled quantity as this handle knows them now.

        The most advanced venue update if one arrived, else what the command's resolution said.
        """
        return self._fold.order_state, self._fold.filled_quantity or Decimal(0)

    def _push_receipt(self, receipt: CommandReceipt) -> None:
        self._receipts.append(receipt)
        _wake_all(self._receipt_waiters)

    def _resolve(self, report: ReconcileReport) -> None:
        if self._ack is None:
            return
        self._fold.report(report)
        _wake_all(self._resolution_waiters)

    def _mark_final(self) -> None:
        self._final = True
        # Wake every reader blocked on an empty queue so it can see the end.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


def _wake_all(waiters: list[asyncio.Future[None]]) -> None:
    for fut in waiters:
        if not fut.done():
            fut.set_result(None)
    waiters.clear()
