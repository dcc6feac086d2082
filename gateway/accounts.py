"""Accounts: what the gateway knows of each venue account, and the gate kept true to it.

Owned by ``Gateway`` (this module holds the work; ``core`` only delegates):

- ``positions()`` / ``balances()``: fresh reads from the venues (every venue at once), which also
  refresh the book the user streams keep between reads (``account_update``).
- ``start()``: with a gate, before the first submit is accepted, each venue's position mode is
  read and a hedge-mode account refused (``HedgeModeError``: the gate nets one position per
  instrument), then its positions and every open order of the account seed the gate (positions
  become position exposure; resting orders it did not send count like reservations).
- the position check: every ``PositionCheckPolicy.interval_seconds`` (off the submit path), each
  venue's positions are read and compared with the gate's, after the gate has applied every
  update received so far. A difference seen on ``confirmations`` consecutive checks with the
  same figures (a fill in flight shows on the venue a moment before its stream update arrives,
  so one sighting proves nothing) emits a ``PositionDrift`` on the audit stream, logs at WARNING
  and makes the gate adopt the venue's figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from gateway.account import Balance, HedgeModeError, Position, PositionDrift, PositionMode, position_command_id
from gateway.bus import EventBus
from gateway.gate_queue import GateQueue
from gateway.model import utc_now
from gateway.ports import GatePort, Venue

__all__ = ["Accounts", "PositionCheckPolicy"]

log = logging.getLogger("gateway")

ZERO = Decimal(0)
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class PositionCheckPolicy:
    """How often the venues' positions are compared with the gate's, and how many sightings prove a drift."""

    interval_seconds: float = 30.0
    confirmations: int = 2

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {self.interval_seconds}")
        if self.confirmations < 1:
            raise ValueError(f"confirmations must be >= 1, got {self.confirmations}")


class Accounts:
    """See the module docstring. ``gate`` None: no seeding and no position check (reads still work)."""

    def __init__(
        self,
        venues: dict[str, Venue],
        bus: EventBus,
        gate: GatePort | None,
        gate_queue: GateQueue,
        policy: PositionCheckPolicy | None,
    ) -> None:
        self._venues = venues
        self._bus = bus
        self._gate = gate
        self._gate_queue = gate_queue
        self._policy = policy
        self._positions: dict[Key, Position] = {}
        self._balances: dict[Key, Balance] = {}
        self._suspects: dict[Key, tuple[Decimal, Decimal, int]] = {}  # venue qty, gate qty, sightings
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[Key, Decimal, asyncio.Future[Position]]] = []
        self.drifts: deque[PositionDrift] = deque(maxlen=1000)  # the latest, for a status page or a test

    # ------------------------------------------------------------------ reads

    def _chosen(self, venue: str | None) -> list[Venue]:
        if venue is None:
            return list(self._venues.values())
        found = self._venues.get(venue)
        if found is None:
            from gateway.errors import UnknownVenueError

            raise UnknownVenueError(venue, list(self._venues))
        return [found]

    async def positions(self, venue: str | None = None) -> list[Position]:
        """Every open position on the venue (or all venues), read now; flat ones are not listed."""
        chosen = self._chosen(venue)
        reads = await asyncio.gather(*(v.positions() for v in chosen))
        out: list[Position] = []
        for v, found in zip(chosen, reads, strict=True):
            self._replace_positions(v.name, found)
            out.extend(p for p in found if not p.is_flat)
        return sorted(out, key=lambda p: (p.venue, p.instrument))

    async def balances(self, venue: str | None = None) -> list[Balance]:
        """Every balance on the venue (or all venues), read now."""
        chosen = self._chosen(venue)
        reads = await asyncio.gather(*(v.balances() for v in chosen))
        out: list[Balance] = []
        for v, found in zip(chosen, reads, strict=True):
            for key in [k for k in self._balances if k[0] == v.name]:
                del self._balances[key]
            for balance in found:
                self._balances[(balance.venue, balance.asset)] = balance
            out.extend(found)
        return sorted(out, key=lambda b: (b.venue, b.asset))

    def known_positions(self, venue: str | None = None) -> list[Position]:
        """The book as the last read and the user streams since have left it (no venue read)."""
        return sorted(
            (p for p in self._positions.values() if not p.is_flat and venue in (None, p.venue)),
            key=lambda p: (p.venue, p.instrument),
        )

    def known_balances(self, venue: str | None = None) -> list[Balance]:
        return sorted(
            (b for b in self._balances.values() if venue in (None, b.venue)), key=lambda b: (b.venue, b.asset)
        )

    def _replace_positions(self, venue: str, found: Sequence[Position]) -> None:
        for key in [k for k in self._positions if k[0] == venue]:
            del self._positions[key]
        for position in found:
            self._positions[(position.venue, position.instrument)] = position
        self._wake()

    async def wait_position(
        self, venue: str, instrument: str, quantity: Decimal, timeout: float | None = None
    ) -> Position:
        """Return once the venue has shown ``quantity`` for the position (a stream push or a read)."""
        key = (venue, instrument)
        held = self._positions.get(key)
        if (held.quantity if held is not None else ZERO) == quantity:
            return held or Position.at_mark(venue, instrument, ZERO, ZERO, ZERO)
        waiter: asyncio.Future[Position] = asyncio.get_running_loop().create_future()
        self._waiters.append((key, quantity, waiter))
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._waiters = [w for w in self._waiters if w[2] is not waiter]

    def _wake(self) -> None:
        for key, quantity, waiter in self._waiters:
            held = self._positions.get(key)
            if not waiter.done() and (held.quantity if held is not None else ZERO) == quantity:
                waiter.set_result(held or Position.at_mark(key[0], key[1], ZERO, ZERO, ZERO))

    # ------------------------------------------------------------------ the user streams

    def account_update(self, venue: str, positions: Sequence[Position], balances: Sequence[Balance]) -> None:
        """What a stream pushed: newer figures replace older ones (a reordered push never rolls back)."""
        for position in positions:
            key = (position.venue, position.instrument)
            held = self._positions.get(key)
            if held is None or held.updated_at <= position.updated_at:
                self._positions[key] = position
        for balance in balances:
            bkey = (balance.venue, balance.asset)
            old = self._balances.get(bkey)
            if old is None or old.updated_at <= balance.updated_at:
                self._balances[bkey] = balance
        if positions and self._waiters:
            self._wake()

    # ------------------------------------------------------------------ start and the position check

    async def start(self) -> None:
        """With a gate: refuse a hedge-mode account, seed the gate, start the position check (module docstring).

        Without one nothing nets positions (``positions()`` nets a hedge account's legs itself, and
        the venue refuses an order that names no leg), so the start makes no account read at all.
        """
        if self._gate is None:
            return
        venues = list(self._venues.values())
        modes = await asyncio.gather(*(v.position_mode() for v in venues))
        for venue, mode in zip(venues, modes, strict=True):
            if mode is PositionMode.HEDGE:
                raise HedgeModeError(venue.name, venue.switch_to_one_way)
        await asyncio.gather(*(self._seed(v) for v in venues))
        if self._policy is not None:
            self._task = asyncio.create_task(self._loop(self._policy.interval_seconds), name="gateway:position-check")

    async def _seed(self, venue: Venue) -> None:
        gate = self._gate
        assert gate is not None
        as_of_ms = int(utc_now().timestamp() * 1000)
        positions, orders = await asyncio.gather(venue.positions(), venue.account_open_orders())
        self._replace_positions(venue.name, positions)
        for instrument in {p.instrument for p in positions} | {o.instrument for o in orders}:
            venue.watch_reference(instrument)
        # Through the gate's queue, so it lands in order with the stream updates received meanwhile.
        self._gate_queue.put(gate.seed_account, venue.name, positions, orders, as_of_ms)
        await self._gate_queue.join()
        log.info(
            "%s: gate seeded from the venue: %d position(s), %d open order(s)", venue.name, len(positions), len(orders)
        )

    async def gate_positions(self) -> dict[Key, Decimal]:
        """The signed quantities the gate holds, once it has applied every update received so far."""
        if self._gate is None:
            return {}
        await self._gate_queue.join()
        return {key: qty for key, (qty, _) in (await self._gate.held_positions()).items()}

    async def wait_gate_position(
        self, venue: str, instrument: str, quantity: Decimal, timeout: float | None = None
    ) -> None:
        """Return once the gate holds ``quantity`` for the position (woken by each gate job, never polled)."""

        async def reached() -> None:
            while True:
                done = self._gate_queue.done_count
                if (await self.gate_positions()).get((venue, instrument), ZERO) == quantity:
                    return
                await self._gate_queue.done_beyond(done)

        await asyncio.wait_for(reached(), timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed read is retried at the next interval
                log.warning("position check failed: %r", exc)

    async def check(self, venue: str | None = None) -> list[PositionDrift]:
        """Compare each venue's positions with the gate's now; return the drifts proved (and adopted)."""
        gate = self._gate
        if gate is None:
            return []
        chosen = self._chosen(venue)
        reads = await asyncio.gather(*(v.positions() for v in chosen))
        await self._gate_queue.join()  # every update received before the read is in the gate's figure
        held = await gate.held_positions()
        confirmations = self._policy.confirmations if self._policy is not None else 1
        drifts: list[PositionDrift] = []
        for v, found in zip(chosen, reads, strict=True):
            self._replace_positions(v.name, found)
            shown = {p.instrument: p for p in found if not p.is_flat}
            instruments = set(shown) | {i for (name, i), q in held.items() if name == v.name and q}
            for instrument in sorted(instruments):
                key = (v.name, instrument)
                venue_qty = shown[instrument].quantity if instrument in shown else ZERO
                gate_qty = held.get(key, (ZERO, ZERO))[0]
                if venue_qty == gate_qty:
                    self._suspects.pop(key, None)
                    continue
                seen = self._suspects.get(key)
                sightings = seen[2] + 1 if seen is not None and seen[:2] == (venue_qty, gate_qty) else 1
                if sightings < confirmations:
                    self._suspects[key] = (venue_qty, gate_qty, sightings)
                    continue
                self._suspects.pop(key, None)
                drifts.append(await self._drift(v, instrument, shown.get(instrument), gate_qty, held.get(key)))
        return drifts

    async def _drift(
        self,
        venue: Venue,
        instrument: str,
        position: Position | None,
        gate_qty: Decimal,
        held: tuple[Decimal, Decimal] | None,
    ) -> PositionDrift:
        gate = self._gate
        assert gate is not None
        mark = position.mark_price if position is not None else (venue.reference_price(instrument) or ZERO)
        adopted = position or Position.at_mark(venue.name, instrument, ZERO, ZERO, mark)
        event = self._bus.emit(
            None,
            PositionDrift,
            position_command_id(venue.name, instrument),
            venue=venue.name,
            instrument=instrument,
            venue_quantity=adopted.quantity,
            gate_quantity=gate_qty,
            venue_notional=adopted.notional,
            gate_notional=held[1] if held is not None else ZERO,
            mark_price=mark,
        )
        assert isinstance(event, PositionDrift)
        log.warning(
            "position drift on %s %s: the venue shows %s, the gate held %s; adopting the venue's figure",
            venue.name,
            instrument,
            adopted.quantity,
            gate_qty,
        )
        self._gate_queue.put(gate.adopt_position, adopted)
        await self._gate_queue.join()
        self.drifts.append(event)
        return event
