"""Reservation ledgers: the one atomic check-and-reserve step, behind one interface.

A ledger holds, per command (client order id), the exposure its order may still add, and per
(venue, instrument) the position built from fills (signed notional at fill prices). Every
``check_and_reserve`` is one atomic step: expire stale reservations, assemble positions +
reservations, check every limit, reserve. ``InMemoryLedger`` does it under an asyncio lock;
``risk.redis_ledger.RedisLedger`` in one Lua script, for strategies in several processes.

Fills are applied from *cumulative* quantities, so a duplicate or out-of-order update is a
no-op: conversion is idempotent. A reservation ends when its order is rejected, proved
absent, or terminal; the fills it saw stay in the position.

The limits value a position at its instrument's mark once the ledger knows one (``set_mark``:
|quantity| x mark), else at its cost basis; ``LedgerSnapshot.positions`` stays the cost basis
(a judge can bound it by the fill prices) and ``gross_exposure`` is what the limits see.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

from risk.errors import RiskRejected
from risk.limits import RiskLimits

__all__ = ["InMemoryLedger", "Ledger", "LedgerSnapshot", "ReservationRequest", "VenueOrder"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    command_id: str
    venue: str
    instrument: str
    sign: int  # +1 buy, -1 sell
    quantity: Decimal
    price: Decimal  # the limit price, or the reference price for MARKET
    reduce_only: bool = False
    # Decided by the ledger under its lock from the position it holds: reduce-only and it
    # reduces the current position, so it adds no exposure.
    reduces: bool = False

    @property
    def notional(self) -> Decimal:
        return ZERO if self.reduces else self.price * self.quantity


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """One order as the venue shows it, for the ledger to follow whoever sent it (``Ledger.venue_order``).

    Ours when the ledger knows ``command_id`` (its client order id); otherwise an outside order
    (another client, a manual trade, a liquidation) kept under ``order_key``. An outside order
    still open is reserved at its worst case (price x what is left; nothing for reduce-only)
    without any limit check: it exists whether the gate likes it or not. ``counts`` False: the
    fills an order new to the ledger already shows are in a position the ledger was seeded with.
    """

    command_id: str | None
    order_key: str
    venue: str
    instrument: str
    sign: int
    quantity: Decimal
    price: Decimal
    cumulative_qty: Decimal
    cumulative_notional: Decimal
    is_open: bool
    reduce_only: bool = False
    counts: bool = True


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    gross_exposure: Decimal
    reserved: Decimal
    reservations: dict[str, Decimal]  # command id -> notional still reserved
    positions: dict[tuple[str, str], Decimal]  # (venue, instrument) -> signed notional
    # (venue, instrument) -> signed quantity: unlike the cost basis, it does not depend on the
    # order in which fills were applied, so it can be compared with the venue's exactly.
    quantities: dict[tuple[str, str], Decimal] = field(default_factory=dict)


class Ledger(Protocol):
    async def check_and_reserve(
        self, request: ReservationRequest, limits: RiskLimits, *, now: float, halted: str | None
    ) -> list[str]:
        """Atomically expire, check and reserve; return expired command ids; raise ``RiskRejected``."""

    async def set_halt(self, reason: str | None) -> None:
        """Share the kill switch with every gate using this ledger (None resumes)."""

    async def release(self, command_id: str) -> None: ...

    async def reprice(
        self, command_id: str, price: Decimal, quantity: Decimal, limits: RiskLimits, *, check: bool, halted: str | None
    ) -> bool:
        """An amend's new terms for a reservation (what is left of it: price x unfilled quantity), atomically.

        ``check``: a rise is checked like a new order's exposure (``RiskRejected``, nothing changed);
        otherwise applied as is. False when the command holds no reservation (nothing to change).
        """

    async def apply_fill(self, command_id: str, cumulative_qty: Decimal, cumulative_notional: Decimal) -> None: ...

    async def venue_order(self, order: VenueOrder, *, now: float, ttl: float) -> str:
        """Follow one venue order update atomically (see ``VenueOrder``); returns the key it is kept under."""

    async def set_position(self, venue: str, instrument: str, quantity: Decimal, notional: Decimal) -> None:
        """Replace a position with the venue's figure (seeding at start, an adopted drift)."""

    async def set_mark(self, venue: str, instrument: str, price: Decimal) -> None:
        """The instrument's mark: from now on its position counts at |quantity| x mark in every limit."""

    async def expire(self, now: float) -> list[str]: ...

    async def snapshot(self) -> LedgerSnapshot: ...

    async def close(self) -> None: ...


def position_basis(
    basis: Decimal, qty: Decimal, new_qty: Decimal, fill_notional: Decimal, fill_qty: Decimal
) -> Decimal:
    """Signed cost basis of a position after a fill (both fill values signed by side).

    Adding keeps the sum; reducing scales the basis with the quantity left (so a flat position
    has no exposure left, whatever the prices were); a flip starts a new basis at the fill price.
    """
    if new_qty == 0:
        return ZERO
    if qty == 0 or (qty > 0) == (fill_qty > 0):
        return basis + fill_notional
    if (new_qty > 0) == (qty > 0):
        return basis * new_qty / qty
    return fill_notional * new_qty / fill_qty


@dataclass
class _Reservation:
    request: ReservationRequest
    expires_at: float
    reserved: Decimal
    filled_qty: Decimal = ZERO
    filled_notional: Decimal = ZERO


@dataclass
class InMemoryLedger:
    """The default ledger: one process, one asyncio lock."""

    _reservations: dict[str, _Reservation] = field(default_factory=dict)
    _positions: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # signed cost basis
    _position_qty: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # signed quantity
    # Oldest first and evicted from the front: a plain dict's next(iter()) there scans every slot a
    # deletion left, ~38 µs per release once 100,000 are kept (an OrderedDict pops its head in O(1)).
    _fills_after_release: OrderedDict[str, tuple[Decimal, Decimal, ReservationRequest]] = field(
        default_factory=OrderedDict
    )
    _sent_global: deque[float] = field(default_factory=deque)
    _sent_by_venue: dict[str, deque[float]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _halted: str | None = None  # a halt shared by every gate on this ledger
    # Maintained sums, so a check never walks the reservations (the Redis script does the same).
    _reserved_total: Decimal = ZERO
    _reserved_by_key: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    _count_by_key: dict[tuple[str, str], int] = field(default_factory=dict)
    _positions_abs: Decimal = ZERO  # sum of |cost basis| (the limits use _valued_abs)
    _expiries: deque[tuple[float, str]] = field(default_factory=deque)  # in reservation order
    # The limits value each position at its mark once one is known (|qty| x mark), else at |cost basis|.
    _marks: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    _valued: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    _valued_abs: Decimal = ZERO

    async def check_and_reserve(
        self, request: ReservationRequest, limits: RiskLimits, *, now: float, halted: str | None
    ) -> list[str]:
        async with self._lock:
            expired = self._expire(now)
            halted = halted if halted is not None else self._halted
            if request.reduce_only:
                position = self._positions.get((request.venue, request.instrument), ZERO)
                request = replace(request, reduces=position != 0 and (position > 0) != (request.sign > 0))
            notional = request.notional
            self._check(request, notional, limits, now, halted)
            expires_at = now + limits.reservation_ttl_seconds
            self._reservations[request.command_id] = _Reservation(request, expires_at, notional)
            self._expiries.append((expires_at, request.command_id))
            self._adjust_reserved((request.venue, request.instrument), notional, 1)
            self._sent_global.append(now)
            self._sent_by_venue.setdefault(request.venue, deque()).append(now)
            return expired

    def _check(self, r: ReservationRequest, delta: Decimal, limits: RiskLimits, now: float, halted: str | None) -> None:
        if r.command_id in self._reservations:
            raise RiskRejected(f"command {r.command_id} already holds a reservation", limit="duplicate_command")
        if halted is not None and not r.reduces:
            raise RiskRejected(
                f"risk limit kill_switch: trading halted ({halted}); only reduce-only orders pass", limit="kill_switch"
            )
        key = (r.venue, r.instrument)
        if limits.max_notional_per_order is not None and delta > limits.max_notional_per_order:
            raise RiskRejected.for_limit(
                "max_notional_per_order", current=ZERO, requested=delta, cap=limits.max_notional_per_order
            )
        if limits.max_gross_exposure is not None:
            gross = self._valued_abs + self._reserved_total
            if gross + delta > limits.max_gross_exposure:
                raise RiskRejected.for_limit(
                    "max_gross_exposure", current=gross, requested=delta, cap=limits.max_gross_exposure
                )
        if limits.max_position_notional is not None:
            current = self._valued.get(key, ZERO) + self._reserved_by_key.get(key, ZERO)
            if current + delta > limits.max_position_notional:
                raise RiskRejected.for_limit(
                    "max_position_notional", current=current, requested=delta, cap=limits.max_position_notional
                )
        if limits.max_open_orders is not None and len(self._reservations) + 1 > limits.max_open_orders:
            raise RiskRejected.for_limit(
                "max_open_orders", current=len(self._reservations), requested=1, cap=limits.max_open_orders
            )
        if limits.max_concurrent_positions is not None and not r.reduces:
            active = {k for k, p in self._positions.items() if p != 0} | {
                k for k, n in self._count_by_key.items() if n > 0
            }
            if key not in active and len(active) + 1 > limits.max_concurrent_positions:
                raise RiskRejected.for_limit(
                    "max_concurrent_positions", current=len(active), requested=1, cap=limits.max_concurrent_positions
                )
        for limit_name, cap, window in (
            ("max_orders_per_second", limits.max_orders_per_second, self._sent_global),
            (
                "max_orders_per_second_per_venue",
                limits.max_orders_per_second_per_venue,
                self._sent_by_venue.setdefault(r.venue, deque()),
            ),
        ):
            while window and window[0] <= now - 1.0:
                window.popleft()
            if cap is not None and len(window) + 1 > cap:
                raise RiskRejected.for_limit(limit_name, current=len(window), requested=1, cap=cap)

    async def set_halt(self, reason: str | None) -> None:
        self._halted = reason

    async def release(self, command_id: str) -> None:
        async with self._lock:
            self._drop(command_id)

    async def reprice(
        self, command_id: str, price: Decimal, quantity: Decimal, limits: RiskLimits, *, check: bool, halted: str | None
    ) -> bool:
        async with self._lock:
            res = self._reservations.get(command_id)
            if res is None:
                return False
            req = replace(res.request, price=price, quantity=quantity)
            reserved = ZERO if req.reduces else price * max(ZERO, quantity - res.filled_qty)
            delta = reserved - res.reserved
            key = (req.venue, req.instrument)
            if check and delta > 0:
                halted = halted if halted is not None else self._halted
                if halted is not None and not req.reduces:
                    raise RiskRejected(
                        f"risk limit kill_switch: trading halted ({halted}); an amend may not add exposure",
                        limit="kill_switch",
                    )
                whole = ZERO if req.reduces else price * quantity
                if limits.max_notional_per_order is not None and whole > limits.max_notional_per_order:
                    raise RiskRejected.for_limit(
                        "max_notional_per_order", current=ZERO, requested=whole, cap=limits.max_notional_per_order
                    )
                gross = self._valued_abs + self._reserved_total
                if limits.max_gross_exposure is not None and gross + delta > limits.max_gross_exposure:
                    raise RiskRejected.for_limit(
                        "max_gross_exposure", current=gross, requested=delta, cap=limits.max_gross_exposure
                    )
                current = self._valued.get(key, ZERO) + self._reserved_by_key.get(key, ZERO)
                if limits.max_position_notional is not None and current + delta > limits.max_position_notional:
                    raise RiskRejected.for_limit(
                        "max_position_notional", current=current, requested=delta, cap=limits.max_position_notional
                    )
            res.request, res.reserved = req, reserved
            self._adjust_reserved(key, delta, 0)
            return True

    async def apply_fill(self, command_id: str, cumulative_qty: Decimal, cumulative_notional: Decimal) -> None:
        async with self._lock:
            self._apply_fill(command_id, cumulative_qty, cumulative_notional)

    async def venue_order(self, order: VenueOrder, *, now: float, ttl: float) -> str:
        async with self._lock:
            cid = order.command_id
            known = cid is not None and (cid in self._reservations or cid in self._fills_after_release)
            key = cid if known and cid is not None else order.order_key
            if key not in self._reservations and key not in self._fills_after_release:
                self._first_sight(key, order, now, ttl)
            self._apply_fill(key, order.cumulative_qty, order.cumulative_notional)
            if not order.is_open:
                self._drop(key)
            return key

    def _first_sight(self, key: str, order: VenueOrder, now: float, ttl: float) -> None:
        """An order the ledger never saw: reserve it unchecked while open; its fills so far count or not."""
        request = ReservationRequest(
            key,
            order.venue,
            order.instrument,
            order.sign,
            order.quantity,
            order.price,
            reduce_only=order.reduce_only,
            reduces=order.reduce_only,  # an outside reduce-only order adds no exposure, whatever it does
        )
        base_qty, base_notional = (ZERO, ZERO) if order.counts else (order.cumulative_qty, order.cumulative_notional)
        if not order.is_open:
            self._fills_after_release[key] = (base_qty, base_notional, request)
            if len(self._fills_after_release) > 100_000:  # bounded like the releases' record (_drop)
                self._fills_after_release.popitem(last=False)
            return
        left = max(ZERO, order.quantity - base_qty)
        reserved = ZERO if order.reduce_only else order.price * left
        self._reservations[key] = _Reservation(request, now + ttl, reserved, base_qty, base_notional)
        self._expiries.append((now + ttl, key))
        self._adjust_reserved((order.venue, order.instrument), reserved, 1)

    async def set_position(self, venue: str, instrument: str, quantity: Decimal, notional: Decimal) -> None:
        async with self._lock:
            key = (venue, instrument)
            old = self._positions.get(key, ZERO)
            self._positions[key] = notional if quantity else ZERO
            self._position_qty[key] = quantity
            self._positions_abs += abs(self._positions[key]) - abs(old)
            self._revalue(key)

    async def set_mark(self, venue: str, instrument: str, price: Decimal) -> None:
        async with self._lock:
            key = (venue, instrument)
            self._marks[key] = price
            self._revalue(key)

    def _revalue(self, key: tuple[str, str]) -> None:
        mark = self._marks.get(key)
        value = (
            abs(self._position_qty.get(key, ZERO)) * mark if mark is not None else abs(self._positions.get(key, ZERO))
        )
        self._valued_abs += value - self._valued.get(key, ZERO)
        self._valued[key] = value

    def _apply_fill(self, command_id: str, cumulative_qty: Decimal, cumulative_notional: Decimal) -> None:
        res = self._reservations.get(command_id)
        if res is not None:
            if cumulative_qty <= res.filled_qty:
                return
            inc = cumulative_notional - res.filled_notional
            inc_qty = cumulative_qty - res.filled_qty
            res.filled_qty, res.filled_notional = cumulative_qty, cumulative_notional
            req = res.request
            left = max(ZERO, req.quantity - cumulative_qty)
            reserved = ZERO if req.reduces else req.price * left
            self._adjust_reserved((req.venue, req.instrument), reserved - res.reserved, 0)
            res.reserved = reserved
        else:  # a fill reported after its reservation ended (out-of-order delivery)
            seen = self._fills_after_release.get(command_id)
            if seen is None or cumulative_qty <= seen[0]:
                return
            inc = cumulative_notional - seen[1]
            inc_qty = cumulative_qty - seen[0]
            req = seen[2]
            self._fills_after_release[command_id] = (cumulative_qty, cumulative_notional, req)
        key = (req.venue, req.instrument)
        old = self._positions.get(key, ZERO)
        old_qty = self._position_qty.get(key, ZERO)
        new_qty = old_qty + req.sign * inc_qty
        self._position_qty[key] = new_qty
        new = position_basis(old, old_qty, new_qty, req.sign * inc, req.sign * inc_qty)
        self._positions[key] = new
        self._positions_abs += abs(new) - abs(old)
        self._revalue(key)

    async def expire(self, now: float) -> list[str]:
        async with self._lock:
            return self._expire(now)

    def _expire(self, now: float) -> list[str]:
        stale: list[str] = []
        # TTL is fixed per gate, so reservation order is expiry order: only the front can be due.
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, cid = self._expiries.popleft()
            res = self._reservations.get(cid)
            if res is not None and res.expires_at == expires_at:
                self._drop(cid)
                stale.append(cid)
        return stale

    def _drop(self, command_id: str) -> _Reservation | None:
        """End a reservation (released or expired); fills reported later still become position."""
        res = self._reservations.pop(command_id, None)
        if res is not None:
            self._adjust_reserved((res.request.venue, res.request.instrument), -res.reserved, -1)
            self._fills_after_release[command_id] = (res.filled_qty, res.filled_notional, res.request)
            if len(self._fills_after_release) > 100_000:
                self._fills_after_release.popitem(last=False)
            if len(self._expiries) > 2 * len(self._reservations) + 1024:
                self._compact_expiries()
        return res

    def _compact_expiries(self) -> None:
        """Forget the expiry entries of reservations already ended (``_expire`` would skip them anyway).

        Every reservation queues one entry that only its TTL (an hour by default) would otherwise
        pop: released ones piled up by the thousand per second. Rebuilt once it is twice the live
        reservations, so the cost per release stays constant; the order (expiry order) is kept.
        """
        live = self._reservations
        self._expiries = deque(
            (at, cid) for at, cid in self._expiries if (res := live.get(cid)) is not None and res.expires_at == at
        )

    def _adjust_reserved(self, key: tuple[str, str], delta: Decimal, count: int) -> None:
        self._reserved_total += delta
        self._reserved_by_key[key] = self._reserved_by_key.get(key, ZERO) + delta
        if count:
            self._count_by_key[key] = self._count_by_key.get(key, 0) + count

    async def snapshot(self) -> LedgerSnapshot:
        reserved = {cid: r.reserved for cid, r in self._reservations.items()}
        total = sum(reserved.values(), ZERO)
        return LedgerSnapshot(
            gross_exposure=sum(self._valued.values(), ZERO) + total,
            reserved=total,
            reservations=reserved,
            positions=dict(self._positions),
            quantities={k: q for k, q in self._position_qty.items() if q},
        )

    async def close(self) -> None:
        return None
