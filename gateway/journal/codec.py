"""Bytes of the journal: intents and lifecycle events to rows and back, the checksum chain, intent-log lines.

A *row* is an entry before it is chained: ``(seq, kind, command_id, client_order_id, venue, body)``.
Everything here is pure: no file, no connection, no state.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter

from gateway.account import AnyAuditEvent
from gateway.journal.records import AuditItem, IntentEntry
from gateway.model import (
    Ack,
    AmendRequest,
    CancelAllRequest,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    LifecycleEvent,
    OrderReport,
    OrderRequest,
    OrderUpdate,
    Receipt,
    RecoveryCompleted,
    Transport,
)
from gateway.ports import PendingCommand

__all__ = [
    "EVENT_KINDS",
    "INTENT_KINDS",
    "JournalEntry",
    "Row",
    "chain",
    "decode_event",
    "decode_intent",
    "encode_intent",
    "event_row",
    "intent_line",
    "intent_row",
    "parse_intent_line",
]

# PositionDrift (gateway/account.py) takes a bus sequence but belongs to no command.
EVENT_KINDS = frozenset({"Ack", "Receipt", "RecoveryScheduled", "RecoveryCompleted", "OrderUpdate", "PositionDrift",
                         "DeadMansSwitch"})  # fmt: skip
INTENT_KINDS = frozenset({"Intent", "Recovered"})
_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyAuditEvent)

Row = tuple[int, str, str | None, str | None, str | None, bytes]


def chain(
    prev: str, run_id: str, seq: int, kind: str, cmd: str | None, cid: str | None, venue: str | None, body: bytes
) -> str:
    """The checksum of one entry: sha256 of the previous checksum, the entry's header fields and its body."""
    head = f"{prev}\x1f{run_id}\x1f{seq}\x1f{kind}\x1f{cmd or ''}\x1f{cid or ''}\x1f{venue or ''}\x1f"
    return hashlib.sha256(head.encode() + body).hexdigest()[:32]


_REQUEST_TYPES: dict[type, str] = {
    OrderRequest: "order",
    CancelRequest: "cancel",
    AmendRequest: "amend",
    CancelAllRequest: "cancel_all",
}


def encode_intent(
    command: PendingCommand, *, recovered_from: str | None = None, last_receipt: CommandReceipt | None = None
) -> bytes:
    head: dict[str, Any] = {
        "command_id": command.command_id,
        "operation": command.operation.value,
        "venue": command.venue,
        "instrument": command.instrument,
        "client_order_id": command.client_order_id,
        "order_id": command.order_id,
        "sent_at": command.sent_at,
        "recv_window_ms": command.recv_window_ms,
        "transport": command.transport.value if command.transport is not None else None,
        "reported_absent": command.reported_absent,
        "attempts": command.attempts,
        "request_type": _REQUEST_TYPES[type(command.request)],
        "request": orjson.Fragment(command.request.model_dump_json()),
    }
    if command.previous is not None:  # an amend's target as the gateway knew it (its evidence baseline)
        head["previous"] = orjson.Fragment(command.previous.model_dump_json())
    if command.targets:  # a cancel-all's targets: the orders believed open at its send
        head["targets"] = [orjson.Fragment(target.model_dump_json()) for target in command.targets]
    if recovered_from is not None:
        head["recovered_from"] = recovered_from
    if last_receipt is not None:
        head["last_receipt"] = orjson.Fragment(last_receipt.model_dump_json())
    return orjson.dumps(head)


def decode_intent(sequence: int, body: bytes) -> IntentEntry:
    data = orjson.loads(body)
    request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest
    if data["request_type"] == "order":
        request = OrderRequest.model_validate(data["request"])
    elif data["request_type"] == "amend":
        request = AmendRequest.model_validate(data["request"])
    elif data["request_type"] == "cancel_all":
        request = CancelAllRequest.model_validate(data["request"])
    else:
        request = CancelRequest.model_validate(data["request"])
    previous = OrderReport.model_validate(data["previous"]) if data.get("previous") else None
    command = PendingCommand(
        command_id=data["command_id"],
        operation=CommandOperation(data["operation"]),
        venue=data["venue"],
        instrument=data["instrument"],
        client_order_id=data["client_order_id"],
        order_id=data["order_id"],
        sent_at=datetime.fromisoformat(data["sent_at"]),
        recv_window_ms=int(data["recv_window_ms"]),
        request=request,
        transport=Transport(data["transport"]) if data["transport"] else None,
        reported_absent=bool(data.get("reported_absent", False)),
        attempts=int(data.get("attempts", 0)),
        previous=previous,
        targets=tuple(OrderReport.model_validate(target) for target in data.get("targets", ())),
    )
    last = data.get("last_receipt")
    return IntentEntry(
        sequence=sequence,
        command=command,
        recovered_from=data.get("recovered_from"),
        last_receipt=CommandReceipt.model_validate(last) if last else None,
    )


def decode_event(body: bytes) -> LifecycleEvent:
    event: LifecycleEvent = _EVENT_ADAPTER.validate_json(body)
    return event


def intent_row(
    command: PendingCommand,
    sequence: int,
    *,
    recovered_from: str | None = None,
    last_receipt: CommandReceipt | None = None,
) -> Row:
    """An ``Intent`` row, or a ``Recovered`` one for a command adopted from ``recovered_from``."""
    kind = "Intent" if recovered_from is None else "Recovered"
    body = encode_intent(command, recovered_from=recovered_from, last_receipt=last_receipt)
    return (sequence, kind, command.command_id, command.client_order_id, command.venue, body)


def event_row(event: LifecycleEvent) -> Row:
    cid: str | None = None
    venue: str | None = None
    if isinstance(event, Ack):
        cid, venue = event.ack.receipt.client_order_id, event.ack.receipt.venue
    elif isinstance(event, Receipt):
        cid, venue = event.receipt.client_order_id, event.receipt.venue
    elif isinstance(event, OrderUpdate):
        cid, venue = event.order.client_order_id, event.order.venue
    elif isinstance(event, RecoveryCompleted):
        cid, venue = event.report.client_order_id, event.report.venue
    kind = getattr(event, "kind", type(event).__name__)
    return (event.sequence, kind, event.command_id, cid, venue, event.model_dump_json().encode())


def intent_line(run_id: str, row: Row) -> bytes:
    """One intent-log line: the row as JSON, a space, its CRC32 (hex), a newline."""
    seq, kind, cmd, cid, venue, body = row
    payload = orjson.dumps([run_id, seq, kind, cmd, cid, venue, body.decode()])
    return payload + b" %08x\n" % zlib.crc32(payload)


def parse_intent_line(line: bytes) -> tuple[str, Row] | None:
    """``(run_id, row)`` of an intact intent-log line, or None for a damaged one."""
    payload, _, crc = line.rpartition(b" ")
    if not payload or crc != b"%08x" % zlib.crc32(payload):
        return None
    try:
        run_id, seq, kind, cmd, cid, venue, body = orjson.loads(payload)
        return str(run_id), (int(seq), str(kind), cmd, cid, venue, str(body).encode())
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One stored row, undecoded."""

    id: int
    run_id: str
    sequence: int
    kind: str
    command_id: str | None
    client_order_id: str | None
    venue: str | None
    body: bytes
    checksum: str

    def decode(self) -> AuditItem | dict[str, Any]:
        """An ``IntentEntry``, a ``LifecycleEvent``, or the JSON dict of a run marker."""
        if self.kind in INTENT_KINDS:
            return decode_intent(self.sequence, self.body)
        if self.kind in EVENT_KINDS:
            return decode_event(self.body)
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed
