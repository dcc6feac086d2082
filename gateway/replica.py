"""StateReplica: rebuilds command and order state from the audit stream.

The audit stream is every item that takes a bus sequence: the journal's intents (``Intent``,
``Recovered``; ``Gateway`` stamps them with ``bus.next_sequence()``) and the lifecycle events
the bus emits. The bus tap alone sees only the events, so a tap-fed replica would see a gap
at every intent; the replica therefore consumes the *journal's* view, which has both:

- offline: ``StateReplica.from_journal(path, run_id)`` replays a run's entries;
- live: ``journal.subscribe(replica.apply)`` feeds it as the journal records them.

Rules: items are applied in sequence order. The first item sets the base (a run starts
where its predecessor stopped). An item whose sequence was already applied is skipped when
it is an exact duplicate (same sequence, same content) and raises ``ReplicaConflict``
otherwise; a sequence beyond the next expected one raises ``SequenceGap``. Each command is
folded by ``gateway.fold.CommandFold``, the fold ``CommandHandle`` and journal recovery use,
so replaying a run yields what its live handles held.

A crashed run's stream may end early or miss buffered events (see ``gateway.journal``);
``strict=False`` tolerates gaps there, counting them instead of raising.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from gateway.account import AUDIT_ONLY_KINDS
from gateway.fold import CommandFold, advances
from gateway.journal import AuditItem, IntentEntry, JournalReader
from gateway.model import (
    Ack,
    AmendRequest,
    CancelAllRequest,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    LifecycleEvent,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderUpdate,
    Receipt,
    RecoveryCompleted,
)

__all__ = ["CommandState", "ReplicaConflict", "ReplicaError", "SequenceGap", "StateReplica"]

_DUPLICATE_WINDOW = 65_536  # how many recent sequences keep a fingerprint for duplicate detection


class ReplicaError(Exception):
    """The audit stream cannot be applied as given."""


class SequenceGap(ReplicaError):
    """Items are missing between the last applied sequence and this one."""

    def __init__(self, expected: int, got: int):
        super().__init__(f"sequence gap: expected {expected}, got {got} ({got - expected} item(s) missing)")
        self.expected = expected
        self.got = got


class ReplicaConflict(ReplicaError):
    """A sequence arrived twice with different content: the stream is not trustworthy."""


@dataclass(slots=True)
class CommandState:
    """What the audit stream proves about one command: the same fold as ``CommandHandle`` (``gateway.fold``)."""

    command_id: str
    operation: CommandOperation | None = None
    venue: str | None = None
    instrument: str | None = None
    client_order_id: str | None = None
    order_id: str | None = None
    request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest | None = None
    receipts: list[CommandReceipt] = field(default_factory=list)
    fold: CommandFold = field(default_factory=CommandFold)
    events: int = 0

    @property
    def ack_receipt(self) -> CommandReceipt | None:
        return self.fold.ack_receipt

    @property
    def resolution(self) -> CommandReceipt | None:
        return self.fold.resolution

    @property
    def last_order(self) -> OrderReport | None:
        return self.fold.last_order

    @property
    def current(self) -> CommandReceipt | None:
        """The resolved receipt, as ``CommandHandle.resolution``."""
        return self.fold.current

    @property
    def status(self) -> CommandStatus | None:
        current = self.current
        if current is not None:
            return current.status
        return self.ack_receipt.status if self.ack_receipt is not None else None

    @property
    def order_state(self) -> OrderState | None:
        return self.fold.order_state

    @property
    def filled_quantity(self) -> Decimal | None:
        return self.fold.filled_quantity

    @property
    def final(self) -> bool:
        return self.fold.final

    def summary(self) -> tuple[object, ...]:
        """A comparable digest: id, status, order id, order state, filled quantity, receipts seen."""
        return (self.command_id, self.status, self.order_id, self.order_state, self.filled_quantity, len(self.receipts))

    def note_order(self, order: OrderReport) -> None:
        self.fold.order(order)


def _fingerprint(item: AuditItem) -> str:
    if isinstance(item, IntentEntry):
        from gateway.journal import encode_intent

        body = b"I" + encode_intent(item.command, recovered_from=item.recovered_from)
    else:
        body = b"E" + item.model_dump_json().encode()
    return hashlib.sha256(body).hexdigest()


class StateReplica:
    """Command and order state rebuilt from the audit stream; see the module docstring."""

    def __init__(self, *, strict: bool = True, start_after: int | None = None):
        self.strict = strict
        self.last_sequence: int | None = start_after
        self.commands: dict[str, CommandState] = {}
        self.orders: dict[tuple[str, str], OrderReport] = {}
        self.duplicates = 0
        self.gaps = 0
        self.applied = 0
        self._seen: OrderedDict[int, str] = OrderedDict()

    @classmethod
    def from_journal(cls, path: str | Path, run_id: str, *, strict: bool = True) -> StateReplica:
        with JournalReader(path) as reader:
            items = reader.audit_items(run_id)
        replica = cls(strict=strict)
        replica.apply_all(items)
        return replica

    # ------------------------------------------------------------------ applying

    def apply_all(self, items: Iterable[AuditItem]) -> None:
        """Apply a batch in sequence order (a stable sort keeps duplicates next to each other)."""
        for item in sorted(items, key=lambda i: i.sequence):
            self.apply(item)

    def apply(self, item: AuditItem) -> bool:
        """Apply one item; returns False when it was an exact duplicate and skipped."""
        seq = item.sequence
        last = self.last_sequence
        if last is not None and seq <= last:
            known = self._seen.get(seq)
            print_ = _fingerprint(item)
            if known == print_:
                self.duplicates += 1
                return False
            if known is None:
                raise ReplicaConflict(
                    f"sequence {seq} arrived after {last} and is outside the duplicate window; cannot verify it"
                )
            raise ReplicaConflict(f"sequence {seq} arrived twice with different content")
        if last is not None and seq != last + 1:
            if self.strict:
                raise SequenceGap(last + 1, seq)
            self.gaps += 1
        self._seen[seq] = _fingerprint(item)
        if len(self._seen) > _DUPLICATE_WINDOW:
            self._seen.popitem(last=False)
        self.last_sequence = seq
        self.applied += 1
        if isinstance(item, IntentEntry):
            self._apply_intent(item)
        else:
            self._apply_event(item)
        return True

    def _state(self, command_id: str) -> CommandState:
        state = self.commands.get(command_id)
        if state is None:
            state = self.commands[command_id] = CommandState(command_id)
        return state

    def _apply_intent(self, item: IntentEntry) -> None:
        cmd = item.command
        state = self._state(cmd.command_id)
        state.operation = cmd.operation
        state.fold.operation = cmd.operation
        state.venue = cmd.venue
        state.instrument = cmd.instrument
        state.client_order_id = cmd.client_order_id
        state.order_id = state.order_id or cmd.order_id
        state.request = cmd.request

    def _apply_event(self, event: LifecycleEvent) -> None:
        if isinstance(event, AUDIT_ONLY_KINDS):
            return  # a position's drift: on the stream (its sequence counts), of no command
        state = self._state(event.command_id)
        state.events += 1
        if isinstance(event, Ack):
            receipt = event.ack.receipt
            state.fold.ack(receipt)
            state.receipts.append(receipt)
            state.order_id = state.order_id or receipt.order_id
            self._fill_identity(state, receipt)
        elif isinstance(event, Receipt):
            state.receipts.append(event.receipt)
            state.fold.receipt(event.receipt)
            state.order_id = state.order_id or event.receipt.order_id
            self._fill_identity(state, event.receipt)
        elif isinstance(event, RecoveryCompleted):
            state.fold.report(event.report)
            if event.report.order is not None:
                state.order_id = state.order_id or event.report.order.order_id
                self._note_venue_order(event.report.order)
        elif isinstance(event, OrderUpdate):
            state.order_id = state.order_id or event.order.order_id
            state.note_order(event.order)
            self._note_venue_order(event.order)

    @staticmethod
    def _fill_identity(state: CommandState, receipt: CommandReceipt) -> None:
        state.operation = state.operation or receipt.operation
        state.venue = state.venue or receipt.venue
        state.instrument = state.instrument or receipt.instrument
        if state.client_order_id is None:
            state.client_order_id = receipt.client_order_id

    def _note_venue_order(self, order: OrderReport) -> None:
        key = (order.venue, order.order_id)
        if advances(self.orders.get(key), order):
            self.orders[key] = order

    # ------------------------------------------------------------------ reading

    def command(self, command_id: str) -> CommandState | None:
        return self.commands.get(command_id)

    def snapshot(self) -> dict[str, tuple[object, ...]]:
        """Every command's ``summary()``, for comparing two replicas or a replica and live handles."""
        return {cid: state.summary() for cid, state in self.commands.items()}
