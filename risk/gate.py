"""PortfolioGate: turns gateway events into ledger operations, and owns the kill switch.

``Gateway`` calls ``check_and_reserve`` before every send (raising ``RiskRejected`` refuses the
order) and then, in order on one task, ``on_receipt`` / ``on_order_update`` / ``on_reconciled``:

- REJECTED receipt, or ABSENT proved -> release the reservation;
- fills (cumulative, so duplicates are harmless) -> converted into position exposure;
- terminal order state -> release what was not filled;
- UNKNOWN_EXECUTION -> the reservation stays until the reconciler proves the outcome;
- TTL -> the safety net, logged at WARNING because the command may still be unknown.

It follows every order of the account, not only its own (``on_order_update``: an outside order
still open counts like a reservation, every fill moves the position once), starts from the venue
(``seed_account``), takes the venue's figure on a proved drift (``adopt_position``) and values
positions at the venue's mark (``on_mark``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

from gateway.account import Position
from gateway.model import (
    CommandReceipt,
    CommandStatus,
    OrderReport,
    OrderRequest,
    ReconcileOutcome,
    ReconcileReport,
    Side,
)
from risk.errors import RiskRejected
from risk.ledger import InMemoryLedger, Ledger, LedgerSnapshot, ReservationRequest, VenueOrder
from risk.limits import RiskLimits

__all__ = ["PortfolioGate"]

log = logging.getLogger("risk")

ZERO = Decimal(0)
# A mark that moved less than this fraction since the last one written is not written (1 bp): the
# venues push marks every 100 ms to 1 s, and a position's value needs no finer grain than that.
MARK_TOLERANCE = Decimal("0.0001")


class PortfolioGate:
    """Check-and-reserve for every order; see the module docstring."""

    def __init__(self, limits: RiskLimits, ledger: Ledger | None = None, *, clock: Callable[[], float] = time.time):
        self.limits = limits
        self.ledger: Ledger = ledger if ledger is not None else InMemoryLedger()
        self._clock = clock
        self._halted: str | None = None
        self._sharing: asyncio.Task[None] | None = None
        self._unshared = False  # a halt()/resume() made without a running loop, not yet written
        self._prices: dict[str, Decimal] = {}  # command id -> reservation price, for fills without a price
        self._seeded_at: dict[str, int] = {}  # venue -> when its seed read was made (ms, our clock)
        # Marks (on_mark) reach the ledger for the instruments this gate deals in, and only when they
        # moved by more than MARK_TOLERANCE since the last one written: the ledger values positions at them.
        self._marks: dict[tuple[str, str], Decimal] = {}
        self._valued: set[tuple[str, str]] = set()
        self._written: dict[tuple[str, str], Decimal] = {}
        # refusals so far by the limit that refused ("gate_error": the gate failed closed); read by metrics
        self.refusals: dict[str, int] = {}

    # ------------------------------------------------------------------ kill switch

    @property
    def halted(self) -> str | None:
        return self._halted

    def halt(self, reason: str) -> None:
        """Refuse new exposure; reduce-only orders that reduce a position still pass.

        Takes effect here at once; it is also written to the ledger, so every gate sharing it
        (a Redis ledger: every process on the namespace) refuses new exposure too.
        ``await gate.shared()`` waits for that write.
        """
        log.warning("kill switch: halting new exposure (%s)", reason)
        self._halted = reason
        self._share()

    def resume(self) -> None:
        self._halted = None
        self._share()

    async def shared(self) -> None:
        """Wait until the last halt()/resume() has reached the ledger (raises if it could not)."""
        if self._unshared:
            self._unshared = False
            await self._write_halt(self._halted)
        elif self._sharing is not None:
            task, self._sharing = self._sharing, None
            await task

    def _share(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a sync caller): shared at the next check or shared()
            self._sharing = None
            self._unshared = True
            return
        self._unshared = False
        self._sharing = loop.create_task(self._write_halt(self._halted))

    async def _write_halt(self, reason: str | None) -> None:
        try:
            await self.ledger.set_halt(reason)
        except RiskRejected as exc:
            log.error("kill switch: could not share with the ledger: %s", exc)
            raise

    # ------------------------------------------------------------------ GatePort

    def reference_age_limit(self) -> float | None:
        return self.limits.max_reference_age_seconds if self.limits.needs_price else None

    async def check_and_reserve(
        self, request: OrderRequest, reference_price: Decimal | None, reference_age: float | None = None
    ) -> None:
        try:
            await self._check_and_reserve(request, reference_price, reference_age)
        except RiskRejected as exc:
            self._refused(exc.limit or "unnamed")
            raise
        except Exception:
            self._refused("gate_error")
            raise

    def _refused(self, limit: str) -> None:
        self.refusals[limit] = self.refusals.get(limit, 0) + 1

    async def _check_and_reserve(
        self, request: OrderRequest, reference_price: Decimal | None, reference_age: float | None
    ) -> None:
        cid = request.client_order_id
        if cid is None:
            raise RiskRejected("the gate needs the command's client order id", limit="client_order_id")
        limit = self.reference_age_limit()
        if request.price is None and reference_price is not None and limit is not None and reference_age is not None:
            if reference_age > limit:
                raise RiskRejected(
                    f"risk limit max_reference_age_seconds: the reference price of {request.instrument} is "
                    f"{reference_age:.1f}s old, over the {limit:g}s limit; a MARKET order is not checked against a "
                    "stale mark (refusing: the gate fails closed)",
                    limit="max_reference_age_seconds",
                )
        price = request.price if request.price is not None else reference_price
        if price is None:
            if self.limits.needs_price:
                raise RiskRejected(
                    f"no price for {request.instrument}: a MARKET order needs a reference price while notional "
                    "limits apply (refusing: the gate fails closed)",
                    limit="reference_price",
                )
            price = Decimal(0)
        if self._unshared or self._sharing is not None:
            await self.shared()  # this gate's own halt()/resume() apply before its next check
        await self._follow((request.venue, request.instrument))
        sign = 1 if request.side is Side.BUY else -1
        # Whether a reduce-only order really reduces is decided by the ledger, under its lock,
        # from the position it holds at that moment.
        expired = await self.ledger.check_and_reserve(
            ReservationRequest(
                cid, request.venue, request.instrument, sign, request.quantity, price, reduce_only=request.reduce_only
            ),
            self.limits,
            now=self._clock(),
            halted=self._halted,
        )
        self._prices[cid] = price
        self._warn_expired(expired)

    async def on_receipt(self, request: OrderRequest, receipt: CommandReceipt) -> None:
        cid = request.client_order_id or ""
        if receipt.status is CommandStatus.REJECTED:
            await self._release(cid)
            return
        if receipt.status is CommandStatus.ACCEPTED:
            if receipt.filled_quantity:
                await self._fill(cid, receipt.filled_quantity, receipt.average_price)
            if receipt.order_state is not None and receipt.order_state.is_terminal:
                await self._release(cid)

    async def on_order_update(self, order: OrderReport) -> None:
        """Any order of the account: ours by client order id, anyone else's (a manual trade, another bot, a
        liquidation or ADL) by venue order id. Fills are cumulative, so a duplicate or a reordered update
        changes nothing; an outside order still open counts like a reservation."""
        cid = order.client_order_id
        if order.side is None:
            # No side, no direction: only our own orders (whose side the reservation holds) can be followed.
            if cid:
                if order.filled_quantity:
                    await self._fill(cid, order.filled_quantity, order.average_price)
                if order.state.is_terminal:
                    await self._release(cid)
            return
        seeded = self._seeded_at.get(order.venue)
        await self._follow((order.venue, order.instrument))
        price = order.price or order.average_price or (self._prices.get(cid, ZERO) if cid else ZERO)
        fill_price = order.average_price or price
        key = await self.ledger.venue_order(
            VenueOrder(
                command_id=cid,
                order_key=f"{order.venue}|{order.order_id}",
                venue=order.venue,
                instrument=order.instrument,
                sign=order.side.sign,
                quantity=order.quantity if order.quantity is not None else order.filled_quantity,
                price=price,
                cumulative_qty=order.filled_quantity,
                cumulative_notional=order.filled_quantity * fill_price,
                is_open=order.state.is_open,
                reduce_only=order.reduce_only,
                # An outside order stamped before the seed read: its fills are in the seeded position.
                counts=seeded is None or order.updated_at_ms is None or order.updated_at_ms > seeded,
            ),
            now=self._clock(),
            ttl=self.limits.reservation_ttl_seconds,
        )
        if order.state.is_terminal:
            self._prices.pop(key, None)

    async def seed_account(
        self, venue: str, positions: Sequence[Position], open_orders: Sequence[OrderReport], as_of_ms: int
    ) -> None:
        """The venue's state at start: its positions replace the gate's (valued at the mark), and every
        open order the gate does not hold counts like a reservation, its fills so far already in them."""
        self._seeded_at[venue] = as_of_ms
        shown = {p.instrument: p for p in positions if not p.is_flat}
        held = await self.held_positions()
        for (name, instrument), (qty, _) in held.items():
            if name == venue and qty and instrument not in shown:
                await self.ledger.set_position(venue, instrument, ZERO, ZERO)
        for position in shown.values():
            await self.adopt_position(position)
        for order in open_orders:
            await self.on_order_update(order)

    async def adopt_position(self, position: Position) -> None:
        await self.ledger.set_position(position.venue, position.instrument, position.quantity, position.notional)
        key = (position.venue, position.instrument)
        self._marks.setdefault(key, position.mark_price)
        await self._follow(key)

    async def on_mark(self, venue: str, instrument: str, price: Decimal) -> None:
        """The instrument's mark: positions count at it in every limit (see ``MARK_TOLERANCE``)."""
        key = (venue, instrument)
        self._marks[key] = price
        if key in self._valued:
            await self._write_mark(key)

    async def _follow(self, key: tuple[str, str]) -> None:
        """From now on the ledger values this instrument's position at its mark."""
        if key not in self._valued:
            self._valued.add(key)
            await self._write_mark(key)

    async def _write_mark(self, key: tuple[str, str]) -> None:
        price = self._marks.get(key)
        last = self._written.get(key)
        if price is None or (last is not None and abs(price - last) <= last * MARK_TOLERANCE):
            return
        self._written[key] = price
        await self.ledger.set_mark(key[0], key[1], price)

    async def held_positions(self) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        snap = await self.ledger.snapshot()
        return {key: (qty, snap.positions.get(key, ZERO)) for key, qty in snap.quantities.items() if qty}

    async def on_reconciled(self, request: OrderRequest, report: ReconcileReport) -> None:
        if report.outcome is ReconcileOutcome.ABSENT:
            await self._release(request.client_order_id or "")
        elif report.outcome is ReconcileOutcome.SYNCHRONIZED and report.order is not None:
            await self.on_order_update(report.order)

    # ------------------------------------------------------------------ amends

    async def amend_reserve(self, target: str, current: OrderReport, price: Decimal, quantity: Decimal) -> None:
        """Before an amend of ``target`` (a create's client order id) is sent: a rise is checked like a new order.

        Under the ledger's lock: what the amend would leave (new price x unfilled quantity) replaces the
        reservation when it is more, or ``RiskRejected`` changes nothing; a fall waits for proof
        (``amend_settled``), so the exposure stays reserved while the amend may not have taken effect.
        """
        if _left(price, quantity, current) > _left(current.price, current.quantity, current):
            await self.ledger.reprice(target, price, quantity, self.limits, check=True, halted=self._halted)
            self._prices[target] = price

    async def amend_settled(
        self, target: str, current: OrderReport, price: Decimal, quantity: Decimal, took_effect: bool
    ) -> None:
        """The amend's outcome is proved: a fall is released now; a rise that did not take effect is undone."""
        old_price, old_quantity = current.price, current.quantity
        if old_price is None or old_quantity is None:
            return
        rise = _left(price, quantity, current) > _left(old_price, old_quantity, current)
        if took_effect and not rise:
            await self.ledger.reprice(target, price, quantity, self.limits, check=False, halted=None)
            self._prices[target] = price
        elif not took_effect and rise:
            await self.ledger.reprice(target, old_price, old_quantity, self.limits, check=False, halted=None)
            self._prices[target] = old_price

    async def expire(self) -> list[str]:
        expired = await self.ledger.expire(self._clock())
        self._warn_expired(expired)
        return expired

    async def snapshot(self) -> LedgerSnapshot:
        return await self.ledger.snapshot()

    async def close(self) -> None:
        await self.ledger.close()

    # ------------------------------------------------------------------ internals

    async def _fill(self, cid: str, cumulative_qty: Decimal, average_price: Decimal | None) -> None:
        price = average_price if average_price else self._prices.get(cid, Decimal(0))
        await self.ledger.apply_fill(cid, cumulative_qty, cumulative_qty * price)

    async def _release(self, cid: str) -> None:
        await self.ledger.release(cid)
        self._prices.pop(cid, None)

    def _warn_expired(self, expired: list[str]) -> None:
        for cid in expired:
            self._prices.pop(cid, None)
            log.warning(
                "reservation of %s expired by TTL; its command may still be unknown",
                cid,
                extra={"command_id": cid, "client_order_id": cid, "operation": "CREATE_ORDER"},
            )


def _left(price: Decimal | None, quantity: Decimal | None, current: OrderReport) -> Decimal:
    """An order's exposure still to come: price x unfilled quantity (unknown terms count as none)."""
    if price is None or quantity is None:
        return Decimal(0)
    return price * max(Decimal(0), quantity - current.filled_quantity)
