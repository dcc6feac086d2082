"""Accounts: what the gateway knows of each venue account, and the gate kept true to it.

Owned by ``Gateway`` (this module holds the work; ``core`` only delegates):

- ``positions()`` / ``balances()``: fresh reads from the venues (every venue at once), which also
  refresh the book the user streams keep between reads (``account_update``).
- ``start()``: before the first submit is accepted, each venue's position mode is read and a
  hedge-mode account refused (``HedgeModeError``: the gateway nets one position per
  instrument); with a gate, its positions and every open order of the account seed the gate
  (positions become position exposure; resting orders it did not send count like reservations).
- the position check: every ``PositionCheckPolicy.interval_seconds`` (off the submit path), each
  venue's positions are read and compared with the gate's, after the gate has applied every
  update received so far. A difference seen on ``confirmations`` consecutive checks with the
  same figures (a fill in flight shows on the venue a moment before its stream update arrives,
  so one sighting proves nothing) emits a ``PositionDrift`` on the audit stream, logs at WARNING
  and makes the gate adopt the venue's figure.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from gateway.account import Balance, Position, PositionDrift
from gateway.bus import EventBus
from gateway.gate_queue import GateQueue
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
