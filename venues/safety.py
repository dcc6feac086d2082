"""The "cancel everything" half of every adapter: cancel-all, the instruments traded, the dead-man's switch.

``SafetyMixin`` gives ``AdapterBase`` the ``Venue`` protocol's ``validate_cancel_all`` /
``cancel_all`` / ``traded_instruments`` and runs the adapter's ``SwitchKeeper``
(``venues/deadman.py``) when it was built with ``dead_mans_switch_seconds``. A dialect supplies
only its wire work as a ``SafetyWire`` (``venues/binance/switch.py``, ``venues/bybit/switch.py``):
one cancel-all request and what its answer proves, and its switch driver.

A cancel-all is one request per instrument (neither venue cancels every symbol at once, nor
over a WebSocket), each sent once, each refused before sending during a recorded rate-limit
wait; the command's one receipt sums them up:

- every instrument ACCEPTED -> ACCEPTED (the venue canceled what was open there, if anything);
- every instrument REJECTED -> REJECTED (``safe_to_resubmit`` when each refusal is);
- anything else (an answer lost, or a mix) -> UNKNOWN_EXECUTION, reconciled, never re-sent; its
  message says what each instrument answered.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, cast

from gateway.model import (
    CancelAllRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderRequest,
    Transport,
    utc_now,
)
from gateway.safety import SwitchState
from venues.base import (
    InstrumentFilters,
    InvalidOrderError,
    NotSent,
    OutcomeUnknown,
    RateLimitState,
    Rejected,
    VenueError,
    VenueEventSink,
    receipt_for_error,
)
from venues.common import ParseError
from venues.deadman import NotArmed, SwitchDriver, SwitchKeeper

if TYPE_CHECKING:
    from venues.dialect import Dialect

__all__ = ["CancelAllPart", "SafetyMixin", "SafetyWire", "cancel_all_receipt"]

# The ids of the orders a cancel-all answer says it canceled: (order id, client order id).
Canceled = tuple[tuple[str, str | None], ...]


class SafetyWire(Protocol):
    """A dialect's cancel-all and dead-man's switch wire work."""

    async def cancel_all(self, instrument: str) -> Canceled | None:
        """Send one instrument's cancel-all once; the orders it names as canceled (None: the venue names none).

        Raises the write-outcome ``VenueError`` of a failed answer, ``ParseError`` for a success
        answer that proves nothing.
        """

    def switch_driver(self, seconds: float) -> SwitchDriver:
        """The venue's switch for a countdown of ``seconds`` (``ValueError`` when the venue cannot take it)."""


@dataclass(frozen=True, slots=True)
class CancelAllPart:
    """What one instrument's cancel-all answered."""

    instrument: str
    status: CommandStatus
    message: str
    native_code: str | None = None
    retriable: bool = False
    safe_to_resubmit: bool = False
    retry_after: float | None = None
    canceled: Canceled | None = None


def cancel_all_receipt(
    request: CancelAllRequest, request_id: str, parts: list[CancelAllPart], sent_at: datetime
) -> CommandReceipt:
    """The command's one receipt over its instruments' answers (see the module docstring)."""
    statuses = {part.status for part in parts}
    if statuses == {CommandStatus.ACCEPTED}:
        status = CommandStatus.ACCEPTED
    elif statuses == {CommandStatus.REJECTED}:
        status = CommandStatus.REJECTED
    else:
        status = CommandStatus.UNKNOWN_EXECUTION
    failed = [part for part in parts if part.status is not CommandStatus.ACCEPTED]
    waits = [part.retry_after for part in failed if part.retry_after]
    return CommandReceipt(
        operation=CommandOperation.CANCEL_ALL,
        status=status,
        venue=request.venue,
        instrument=request.instrument,
        request_id=request_id,
        message="; ".join(f"{part.instrument}: {part.message}" for part in parts),
        native_code=failed[0].native_code if failed else None,
        retriable=status is CommandStatus.UNKNOWN_EXECUTION or (bool(failed) and all(p.retriable for p in failed)),
        safe_to_resubmit=status is CommandStatus.REJECTED and all(part.safe_to_resubmit for part in parts),
        transport=Transport.REST,
        sent_at=sent_at,
        received_at=utc_now(),
        retry_after=max(waits) if waits else None,
    )


class _Adapter(Protocol):
    """What the mixin uses of ``AdapterBase``."""

    DIALECT: Dialect
    name: str
    safety_wire: SafetyWire
    _rate: RateLimitState
    _sink: VenueEventSink | None

    def filters(self, instrument: str) -> InstrumentFilters: ...


class SafetyMixin:
    """See the module docstring; ``_init_safety`` runs at the end of ``AdapterBase.__init__``."""

    safety_wire: SafetyWire
    switch: SwitchKeeper | None = None

    def _init_safety(self, dead_mans_switch_seconds: float | None) -> None:
        self._traded: dict[str, None] = {}  # insertion-ordered set
        self.dead_mans_switch_seconds = dead_mans_switch_seconds
        if dead_mans_switch_seconds is not None:
            me = self._me()
            self.switch = SwitchKeeper(
                me.name,
                dead_mans_switch_seconds,
                self.safety_wire.switch_driver(dead_mans_switch_seconds),
                report=self._switch_changed,
                lapsed=self._switch_lapsed,
            )

    def _me(self) -> _Adapter:
        return cast("_Adapter", self)

    # ------------------------------------------------------------------ cancel-all

    def traded_instruments(self) -> list[str]:
        return list(self._traded)

    def _note_traded(self, instrument: str) -> None:
        self._traded.setdefault(instrument)

    def validate_cancel_all(self, request: CancelAllRequest) -> None:
        me = self._me()
        for instrument in request.instruments:
            me.filters(instrument)
        if request.transport is Transport.WEBSOCKET:
            raise InvalidOrderError(
                "transport",
                "cancel-all has no WebSocket method on this venue: use Transport.REST or AUTO",
                venue=me.name,
            )

    async def cancel_all(self, request: CancelAllRequest, request_id: str) -> CommandReceipt:
        self.validate_cancel_all(request)
        sent_at = utc_now()
        parts = await asyncio.gather(*(self._cancel_all_one(request, instrument) for instrument in request.instruments))
        return cancel_all_receipt(request, request_id, list(parts), sent_at)

    async def _cancel_all_one(self, request: CancelAllRequest, instrument: str) -> CancelAllPart:
        me = self._me()
        try:
            wait = me._rate.ban_left()
            if wait > 0:
                raise Rejected(
                    f"{me.name}: not sent: the venue rate-limited us; {wait:.1f}s left before it takes requests",
                    native_code="RATE_LIMITED_LOCALLY",
                    retriable=True,
                    retry_after=wait,
                )
            try:
                canceled = await self.safety_wire.cancel_all(instrument)
            except ParseError as exc:
                raise OutcomeUnknown(f"cancel-all: {me.DIALECT.answer} failed validation: {exc}") from exc
        except VenueError as exc:
            me._rate.noted(exc)
            receipt = receipt_for_error(
                request,
                exc,
                operation=CommandOperation.CANCEL_ALL,
                client_order_id=None,
                request_id=None,
                transport=Transport.REST,
                sent_at=utc_now(),
            )
            return CancelAllPart(
                instrument,
                receipt.status,
                receipt.message,
                receipt.native_code,
                receipt.retriable,
                receipt.safe_to_resubmit,
                receipt.retry_after,
            )
        if canceled is None:
            message = "canceled every open order"
        else:
            message = f"canceled {len(canceled)} open order(s)"
        return CancelAllPart(instrument, CommandStatus.ACCEPTED, message, canceled=canceled)

    # ------------------------------------------------------------------ the dead-man's switch

    async def _start_switch(self) -> None:
        if self.switch is not None:
            await self.switch.start()

    async def _close_switch(self) -> None:
        if self.switch is not None:
            await self.switch.close()

    async def _guard_order(self, request: OrderRequest) -> NotSent | None:
        """Before a create: note its instrument traded, arm its switch; the refusal when that fails."""
        self._note_traded(request.instrument)
        if self.switch is None:
            return None
        try:
            await self.switch.before_order(request.instrument)
        except NotArmed as exc:
            return NotSent(f"{exc}; the order is not sent unprotected", native_code="DEAD_MANS_SWITCH")
        return None

    def _switch_changed(self, scope: str, state: SwitchState, detail: str) -> None:
        me = self._me()
        if me._sink is not None and self.switch is not None:
            me._sink.switch_changed(me.name, scope, state, self.switch.seconds, detail)

    def _switch_lapsed(self, scope: str) -> None:
        me = self._me()
        if me._sink is not None:
            me._sink.stream_gap(me.name, f"dead-man's switch on {scope} may have canceled our resting orders")
