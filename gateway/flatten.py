"""Safety when things go wrong: cancel-all, the kill switch that flattens, resume.

``Gateway.cancel_all`` / ``halt`` / ``resume`` delegate here; every command still goes through
the one send path (``gateway.sending.CommandSender``): journaled before it leaves, sent once,
an UNKNOWN_EXECUTION reconciled, never re-sent.

- **cancel_all(venue, instrument=None)**: one CANCEL_ALL command (one request per instrument at
  the venue, one receipt). ``instrument=None`` covers every instrument the venue's adapter sent an
  order of ours on, and any a live order of ours rests on. Its *targets* are the orders of ours the
  gateway believes open there at the send (journaled with the intent): the reconciler judges a lost
  answer by them (``reconcile/cancel_all.py``). Once the cancel-all is ACCEPTED, by its answer or
  by proof, the believed-live orders of that venue are re-read (``OrderRefresher``): each canceled
  order's handle gets its CANCELED update and the gate releases its reservation, even when the
  stream lost the updates.
- **halt(reason, cancel_open_orders, close_positions)**: the kill switch. New exposure is refused
  at once, by the gate (``PortfolioGate.halt``, shared through its ledger with every process on
  it) and here (a submit that is not reduce-only is REJECTED, "halt" in its message, even
  without a gate); cancels, cancel-alls and reduce-only orders still pass. With
  ``cancel_open_orders`` a cancel-all goes to every instrument with an open order on every venue
  (the venue's account-wide open orders, our traded instruments, our believed-live orders); with
  ``close_positions`` each position the venue reports is flattened by one reduce-only MARKET
  order, tracked like any order. Returns the handles it sent, cancel-alls first.
- **resume()**: lifts the kill switch (here and at the gate) and a journal halt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.account import Position
from gateway.bus import EventBus
from gateway.errors import InvalidOrderError, VenueReadError
from gateway.handle import CommandHandle
from gateway.model import (
    CancelAllRequest,
    CommandOperation,
    CommandStatus,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    Transport,
)
from gateway.ports import GatePort, Venue
from gateway.refresh import OrderRefresher
from gateway.registry import HandleRegistry
from gateway.sending import CommandSender

__all__ = ["FlattenHost", "Flattener"]

log = logging.getLogger("gateway")


@dataclass(frozen=True, slots=True)
class FlattenHost:
    """What ``Flattener`` asks of the gateway that owns it."""

    venue: Callable[[str], Venue]  # a venue by name, checked (raises for an unknown one or a closed gateway)
    venues: Callable[[], Mapping[str, Venue]]
    new_id: Callable[[], str]
    journal_halted: Callable[[], str | None]
    submit: Callable[[OrderRequest], Awaitable[CommandHandle]]
    positions: Callable[[str | None], Awaitable[list[Position]]]


class Flattener:
    """See the module docstring; built by ``Gateway._compose`` over its collaborators."""

    def __init__(
        self,
        host: FlattenHost,
        bus: EventBus,
        handles: HandleRegistry,
        sender: Callable[[], CommandSender],
        refresher: Callable[[], OrderRefresher | None],
        gate: GatePort | None,
    ):
        self._host = host
        self._bus = bus
        self._handles = handles
        self._sender = sender
        self._refresher = refresher
        self._gate = gate
        self.killed: str | None = None  # the kill switch's reason while it is on

    # ------------------------------------------------------------------ the kill switch

    def refusal(self, request: OrderRequest) -> str | None:
        """Why the kill switch refuses this create (None: it passes; reduce-only orders always do)."""
        if self.killed is None or request.reduce_only:
            return None
        return f"gateway halted (kill switch): {self.killed}; only reduce-only orders pass"

    async def halt(self, reason: str, *, cancel_open_orders: bool, close_positions: bool) -> list[CommandHandle]:
        log.error("kill switch: halting new exposure (%s)", reason)
        self.killed = reason
        if self._gate is not None:
            self._gate.halt(reason)
            try:
                await self._gate.shared()
            except Exception as exc:  # this process is halted regardless; say the others may not be
                log.error("kill switch: the halt did not reach the gate's ledger (other processes): %s", exc)
        handles: list[CommandHandle] = []
        venues = self._host.venues()
        if cancel_open_orders:
            scopes = await asyncio.gather(*(self._open_instruments(venue) for venue in venues.values()))
            sends = [
                self.cancel_all(name, instrument)
                for name, instruments in zip(venues, scopes, strict=True)
                for instrument in instruments
            ]
            handles.extend(await asyncio.gather(*sends))
        if close_positions:
            handles.extend(await self._flatten(venues))
        return handles

    def resume(self) -> None:
        if self.killed is not None:
            log.warning("kill switch: resumed (was: %s)", self.killed)
        self.killed = None
        if self._gate is not None:
            self._gate.resume()

    async def _open_instruments(self, venue: Venue) -> list[str]:
        """Every instrument with an open order on ``venue``: the account's, ours traded, ours believed live."""
        found: dict[str, None] = dict.fromkeys(self._scope(venue))
        try:
            for order in await venue.account_open_orders():
                found.setdefault(order.instrument)
        except VenueReadError as exc:
            log.error("kill switch: %s's open orders unreadable (%s); canceling on ours only", venue.name, exc)
        listed = []
        for instrument in found:
            try:
                venue.filters(instrument)
            except InvalidOrderError:
                continue  # an outside order on an instrument this gateway does not list
            listed.append(instrument)
        return listed

    async def _flatten(self, venues: Mapping[str, Venue]) -> list[CommandHandle]:
        """One reduce-only MARKET order per open position of every venue."""
        handles: list[CommandHandle] = []
        for name in venues:
            try:
                positions = await self._host.positions(name)
            except VenueReadError as exc:
                log.error("kill switch: %s's positions unreadable (%s); not flattened", name, exc)
                continue
            for position in positions:
                if position.quantity == 0:
                    continue
                request = OrderRequest(
                    venue=name,
                    instrument=position.instrument,
                    side=Side.SELL if position.quantity > 0 else Side.BUY,
                    type=OrderType.MARKET,
                    quantity=abs(position.quantity),
                    reduce_only=True,
                )
                try:
                    handles.append(await self._host.submit(request))
                except InvalidOrderError as exc:
                    log.error("kill switch: %s %s not flattened: %s", name, position.instrument, exc)
        return handles

    # ------------------------------------------------------------------ cancel-all

    def _scope(self, venue: Venue) -> list[str]:
        """The instruments a cancel-all without one covers: traded through the adapter, or with a live order of ours."""
        found: dict[str, None] = dict.fromkeys(venue.traded_instruments())
        for handle in self._handles.live_creates(venue.name):
            found.setdefault(handle.instrument)
        return list(found)

    async def cancel_all(
        self, venue_name: str, instrument: str | None = None, transport: Transport = Transport.AUTO
    ) -> CommandHandle:
        venue = self._host.venue(venue_name)
        instruments = (instrument,) if instrument is not None else tuple(self._scope(venue))
        if not instruments:
            raise InvalidOrderError(
                "instrument", "no order of ours was sent on this venue yet: name the instrument", venue=venue.name
            )
        request = CancelAllRequest(venue=venue.name, instruments=instruments, transport=transport)
        venue.validate_cancel_all(request)  # an unlisted instrument, a transport it has no cancel-all over
        request_id = f"ca-{self._host.new_id()}"
        handle = self._handles.create(
            request_id, CommandOperation.CANCEL_ALL, venue.name, request.instrument, None, request
        )
        self._bus.register(handle)
        sender = self._sender()
        halted = self._host.journal_halted()
        if halted is not None:
            return sender.refuse(handle, request, CommandOperation.CANCEL_ALL, f"gateway halted: {halted}", "HALTED")
        await sender.journal_then_send(
            handle,
            venue,
            request,
            client_order_id=None,
            order_id=None,
            transport=Transport.REST,
            send=lambda: venue.cancel_all(request, request_id),
            targets=self._targets(venue.name, instruments),
        )
        if handle.ack.receipt.status is CommandStatus.ACCEPTED:
            self.accepted(venue.name)
        return handle

    def accepted(self, venue: str) -> None:
        """A cancel-all of ``venue`` is ACCEPTED (answered or proved): re-read the orders believed live there."""
        refresher = self._refresher()
        if refresher is not None:
            refresher.on_gap(venue, "cancel-all accepted: re-reading the orders it canceled")

    def _targets(self, venue: str, instruments: tuple[str, ...]) -> tuple[OrderReport, ...]:
        """The orders of ours believed open on ``instruments`` now: each create's most advanced view."""
        wanted = set(instruments)
        targets: list[OrderReport] = []
        for handle in self._handles.live_creates(venue):
            if handle.instrument not in wanted or not handle.order_id:
                continue
            view = handle.order_view
            if view is None:
                resolution = handle.resolution
                sent: datetime | None = resolution.sent_at if resolution is not None else None
                view = OrderReport(
                    venue=venue,
                    instrument=handle.instrument,
                    order_id=handle.order_id,
                    client_order_id=handle.client_order_id,
                    state=(resolution.order_state if resolution is not None else None) or OrderState.NEW,
                    created_at_ms=int(sent.timestamp() * 1000) if sent is not None else None,
                )
            if view.state.is_open:
                targets.append(view)
        return tuple(targets)
