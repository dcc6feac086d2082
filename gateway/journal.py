"""Write-ahead command journal: one SQLite file (plus an intent log), runs with manifests, crash recovery.

The promise: a command is in the journal before it leaves the process, or it was never
sent; after any crash, every command that might have executed is found and reconciled.

Layout
------
Two tables. ``entries`` is append-only: each row is one audit item, in write order (``id``):

- ``RunStarted``   the run's manifest (run id, parent run id, started at, versions, venues,
                   durability, the predecessors this boot sealed or quarantined);
- ``Intent``       a command's full request, client order id, venue and transport, made
                   durable *before* the send (the intent log in ``process`` mode, a
                   fsynced commit in ``power`` mode; see below);
- ``Recovered``    the same, copied into a new run for a command a predecessor left without a
                   final outcome, so a crash during recovery loses nothing either;
- ``Ack`` / ``Receipt`` / ``OrderUpdate`` / ``RecoveryScheduled`` / ``RecoveryCompleted``
                   lifecycle events from the bus tap, after the fact (``model_dump_json``);
- ``RunEnded``     written by a clean ``close()``.

Every entry carries a bus ``sequence`` (run markers carry the last sequence seen, they take
none) and ``checksum = sha256(previous checksum | run, sequence, kind, ids | body)``: one
chain per run, starting from the run id. ``runs`` is the mutable index of runs (status,
whether a successor has taken over its open commands); it is a cache of what the entries
say, never the evidence.

Durability levels
-----------------
``process`` (default): survives the process being killed. An intent is written with one
``write()`` to the *intent log* (``<journal>-intents``, append-only, one CRC-checked line per
intent) before ``record_intent`` returns, so it is in the kernel before the send; the row
reaches SQLite (WAL, ``synchronous=NORMAL``) with the next batched flush, together with the
buffered lifecycle events, within ``flush_interval`` (20 ms) or at once when 512 rows wait.
After each flush the log is truncated; a clean close removes it. On the next start, logged
intents the database lacks (a crash came between the write and the flush) are appended to
their own run, continuing its checksum chain, before recovery scans it; a torn last line or a
damaged one is skipped (its send never started: the write had not returned). The OS may still
lose either file on power failure. ``power``: ``synchronous=FULL``; the commit that holds an
intent is fsynced before ``record_intent`` returns (no intent log).

Group commit (``power``): ``record_intent`` queues its row and waits for *its* commit. One
flusher task writes everything queued in one transaction, one fsync, on a writer thread;
intents arriving meanwhile form the next batch, so N concurrent submitters share about one
fsync per flush instead of paying N. ``group_commit=False`` gives one transaction per intent
in either mode (the benchmark's baseline). Lifecycle events never wait: they are buffered and
ride along with the next commit (or a 20 ms timer), in both modes.

Checkpoints (copying the WAL back into the database file, the only step that fsyncs in
``process`` mode) are switched off on the writing connection and run PASSIVE on a second
connection on their own thread every few thousand rows, so no submit ever waits for one.

Cost (``benchmarks/bench_journal.py``): in ``process`` mode a submit waits for serializing its
intent and one ``write()`` (a few µs); the batched flush (serializing events, chaining, the
SQLite insert and one commit per batch) runs on the loop between sends and costs a few tens
of µs per command in total. ``locking_mode=EXCLUSIVE`` would save more but lock every other
reader (the CLI, a replica) out of a live journal, so it is not used.

That buffering is deliberate and safe: an ack lost in a crash leaves an intent without an
outcome, which recovery hands to the reconciler. Losing an *intent* is what must never
happen, and it cannot: ``record_intent`` returns only after the intent is in the log (or, in
``power`` mode, committed) and raises if that fails, which makes ``Gateway`` halt new submits
instead of sending unjournaled orders; after one failed write (log or database) every later
``record_intent`` raises too.

Recovery (``open_run``)
-----------------------
1. every chain is verified; a run whose entries fail it is QUARANTINED: read-only, reported
   (log, manifest, ``journal.quarantined``), never replayed and never a source of receipts;
2. runs still marked RUNNING are sealed: ENDED if their tail is a ``RunEnded``, otherwise
   CRASHED_RECOVERED;
3. every command a predecessor (any run not yet taken over, crashed or cleanly closed) left
   without a final outcome is copied into the new run as ``Recovered`` and returned, for
   ``Gateway`` to adopt and reconcile with trigger STARTUP.

A *final outcome* is: a create whose latest receipt is REJECTED, or which was proved
ABSENT, or which is proven ACCEPTED (receipt or SYNCHRONIZED report) and whose order reached a
terminal state (in the receipt, an ``OrderUpdate`` or a report); a cancel with a receipt that
is not UNKNOWN_EXECUTION. A terminal stream update after an UNKNOWN ack settles the order,
not the command's receipt: that command is still reconciled so its handle can resolve.
Everything else is returned: intent only (the process died around the
send), UNKNOWN_EXECUTION, and ACCEPTED orders still resting (NEW / PARTIALLY_FILLED): they
may have filled while nobody was listening.

Deliberately not done
---------------------
- No pruning or rotation: the file grows; boot verification is linear in its size.
- The chain proves content and order, not completeness of a crashed tail (a clean end is
  proved by ``RunEnded``); it is an integrity check against corruption, not a signature.
- One live gateway per file: nothing stops two processes from opening the same journal,
  and the second would seal the first's run as crashed.
- ``PendingCommand.extra`` is not journaled (it holds in-memory reconciler state).
- Secrets are never written: requests carry none and venue credentials never reach here.
- A sequence consumed by an intent whose write failed leaves a gap in the audit stream;
  the gateway is halted at that point, and the replica reports the gap.
- Readers (CLI, ``JournalReader``) see a live run's intents once they are flushed (≤ 20 ms);
  a crashed run's logged intents once the next start has restored them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import platform
import secrets
import sqlite3
import sys
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import TypeAdapter

from gateway.model import (
    Ack,
    AnyLifecycleEvent,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    LifecycleEvent,
    OrderRequest,
    OrderState,
    OrderUpdate,
    Receipt,
    ReconcileOutcome,
    RecoveryCompleted,
    Transport,
    utc_now,
)
from gateway.ports import PendingCommand, RecoveredCommand

__all__ = [
    "AuditItem",
    "Durability",
    "IntentEntry",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalReader",
    "JournalWriteError",
    "RunInfo",
    "RunStatus",
    "VerifyResult",
]

log = logging.getLogger("gateway.journal")

Durability = Literal["process", "power"]

_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyLifecycleEvent)
_EVENT_KINDS = frozenset({"Ack", "Receipt", "RecoveryScheduled", "RecoveryCompleted", "OrderUpdate"})
_INTENT_KINDS = frozenset({"Intent", "Recovered"})
_FLUSH_INTERVAL = 0.02  # seconds a buffered lifecycle event may wait for a flush
_FLUSH_BATCH = 512  # buffered events that force a flush at once
_CHECKPOINT_ROWS = 2_000  # rows written between background checkpoints

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id        TEXT PRIMARY KEY,
    parent_run_id TEXT,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    status        TEXT NOT NULL,
    first_id      INTEGER,
    taken_over    INTEGER NOT NULL DEFAULT 0,
    reason        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS entries (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    command_id      TEXT,
    client_order_id TEXT,
    venue           TEXT,
    body            BLOB NOT NULL,
    checksum        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_command ON entries(command_id);
"""


class RunStatus(StrEnum):
    RUNNING = "RUNNING"  # open now, or its process died and no successor has booted yet
    ENDED = "ENDED"  # closed cleanly (its tail is a RunEnded entry)
    CRASHED_RECOVERED = "CRASHED_RECOVERED"  # died; a successor sealed it and took over its commands
    QUARANTINED = "QUARANTINED"  # its checksum chain is broken: read-only, never replayed


class JournalError(Exception):
    """The journal cannot be used as asked."""


class JournalWriteError(JournalError):
    """A write failed: nothing may be sent that is not journaled, so the gateway halts."""


@dataclass(frozen=True, slots=True)
class IntentEntry:
    """A command written before its send (``Intent``) or adopted by a new run (``Recovered``)."""

    sequence: int
    command: PendingCommand
    recovered_from: str | None = None  # the run that left it unresolved, for ``Recovered``
    last_receipt: CommandReceipt | None = None

    @property
    def command_id(self) -> str:
        return self.command.command_id


AuditItem = IntentEntry | LifecycleEvent
"""What the audit stream carries: every item takes one bus sequence."""


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
        if self.kind in _INTENT_KINDS:
            return decode_intent(self.sequence, self.body)
        if self.kind in _EVENT_KINDS:
            event: LifecycleEvent = _EVENT_ADAPTER.validate_json(self.body)
            return event
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    parent_run_id: str | None
    started_at: str
    ended_at: str | None
    status: RunStatus
    taken_over: bool
    reason: str
    entries: int = 0
    commands: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    run_id: str
    entries: int
    ok: bool
    broken_at: int | None = None  # entry id where the chain first fails
    detail: str = ""


# ---------------------------------------------------------------------- encoding


def _chain(
    prev: str, run_id: str, seq: int, kind: str, cmd: str | None, cid: str | None, venue: str | None, body: bytes
) -> str:
    head = f"{prev}\x1f{run_id}\x1f{seq}\x1f{kind}\x1f{cmd or ''}\x1f{cid or ''}\x1f{venue or ''}\x1f"
    return hashlib.sha256(head.encode() + body).hexdigest()[:32]


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
        "request_type": "order" if isinstance(command.request, OrderRequest) else "cancel",
        "request": orjson.Fragment(command.request.model_dump_json()),
    }
    if recovered_from is not None:
        head["recovered_from"] = recovered_from
    if last_receipt is not None:
        head["last_receipt"] = orjson.Fragment(last_receipt.model_dump_json())
    return orjson.dumps(head)


def decode_intent(sequence: int, body: bytes) -> IntentEntry:
    data = orjson.loads(body)
    request: OrderRequest | CancelRequest
    if data["request_type"] == "order":
        request = OrderRequest.model_validate(data["request"])
    else:
        request = CancelRequest.model_validate(data["request"])
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
    )
    last = data.get("last_receipt")
    return IntentEntry(
        sequence=sequence,
        command=command,
        recovered_from=data.get("recovered_from"),
        last_receipt=CommandReceipt.model_validate(last) if last else None,
    )


# A row before it is chained: (seq, kind, command_id, client_order_id, venue, body)
_Row = tuple[int, str, str | None, str | None, str | None, bytes]


def _event_row(event: LifecycleEvent) -> _Row:
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


# ---------------------------------------------------------------------- reading


def _connect(path: str | Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        if not Path(path).exists():
            raise JournalError(f"no journal at {path}")
        uri = f"file:{Path(path).resolve().as_posix()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    return conn


def _rows_to_entries(rows: Iterator[tuple[Any, ...]]) -> Iterator[JournalEntry]:
    for r in rows:
        body = r[7] if isinstance(r[7], bytes) else str(r[7]).encode()
        yield JournalEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], body, r[8])


_ENTRY_COLUMNS = "id, run_id, seq, kind, command_id, client_order_id, venue, body, checksum"


@dataclass(slots=True)
class _RunScan:
    """One pass over a run's chain: its verdict, its first entry and its tail."""

    run_id: str
    prev: str
    entries: int = 0
    first_id: int | None = None
    last_kind: str | None = None
    max_seq: int = 0
    broken: VerifyResult | None = None

    def result(self) -> VerifyResult:
        if self.broken is not None:
            return self.broken
        if self.entries == 0:
            return VerifyResult(self.run_id, 0, False, None, "run has no entries (its manifest is missing)")
        return VerifyResult(self.run_id, self.entries, True)


def _scan_chains(conn: sqlite3.Connection) -> dict[str, _RunScan]:
    """Walk every entry once, in write order, checking each run's chain (runs need no index)."""
    scans: dict[str, _RunScan] = {
        r[0]: _RunScan(r[0], r[0]) for r in conn.execute("SELECT run_id FROM runs ORDER BY rowid")
    }
    rows = conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries ORDER BY id")
    for e in _rows_to_entries(rows):
        scan = scans.get(e.run_id)
        if scan is None:
            scan = scans[e.run_id] = _RunScan(e.run_id, e.run_id)
        scan.entries += 1
        if scan.first_id is None:
            scan.first_id = e.id
        scan.last_kind = e.kind
        scan.max_seq = max(scan.max_seq, e.sequence)
        if scan.broken is not None:
            continue
        expected = _chain(scan.prev, e.run_id, e.sequence, e.kind, e.command_id, e.client_order_id, e.venue, e.body)
        if expected != e.checksum:
            scan.broken = VerifyResult(
                e.run_id,
                scan.entries,
                False,
                e.id,
                f"entry {e.id} (seq {e.sequence}, {e.kind}) fails the checksum chain",
            )
        scan.prev = e.checksum
    return scans


def _first_id(conn: sqlite3.Connection, run_id: str) -> int:
    row = conn.execute("SELECT first_id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


class JournalReader:
    """Read-only access for the CLI, tests and ``StateReplica``; never writes, never seals."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn = _connect(self.path, read_only=True)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def runs(self) -> list[RunInfo]:
        counts = {
            r[0]: (r[1], r[2])
            for r in self._conn.execute(
                "SELECT run_id, COUNT(*), COUNT(DISTINCT CASE WHEN kind IN ('Intent','Recovered') THEN command_id END)"
                " FROM entries GROUP BY run_id"
            )
        }
        out = []
        for r in self._conn.execute(
            "SELECT run_id, parent_run_id, started_at, ended_at, status, taken_over, reason FROM runs ORDER BY rowid"
        ):
            manifest: dict[str, Any] = {}
            first = self._conn.execute(
                "SELECT body FROM entries WHERE id >= ? AND run_id = ? AND kind = 'RunStarted' ORDER BY id LIMIT 1",
                (_first_id(self._conn, r[0]), r[0]),
            ).fetchone()
            if first is not None:
                with contextlib.suppress(orjson.JSONDecodeError):
                    manifest = orjson.loads(first[0])
            n, cmds = counts.get(r[0], (0, 0))
            out.append(RunInfo(r[0], r[1], r[2], r[3], RunStatus(r[4]), bool(r[5]), r[6], n, cmds, manifest))
        return out

    def entries(self, run_id: str | None = None) -> list[JournalEntry]:
        if run_id is None:
            rows = self._conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries ORDER BY id")
        else:
            rows = self._conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id >= ? AND run_id = ? ORDER BY id",
                (_first_id(self._conn, run_id), run_id),
            )
        return list(_rows_to_entries(rows))

    def command_entries(self, ident: str) -> list[JournalEntry]:
        """Entries of the command ``ident`` names (command id or client order id), any run."""
        rows = self._conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE command_id = ? OR client_order_id = ? ORDER BY id",
            (ident, ident),
        )
        return list(_rows_to_entries(rows))

    def verify(self) -> list[VerifyResult]:
        return [scan.result() for scan in _scan_chains(self._conn).values()]

    def audit_items(self, run_id: str) -> list[AuditItem]:
        """A run's intents and lifecycle events, decoded, in sequence order."""
        items: list[AuditItem] = []
        for e in self.entries(run_id):
            if e.kind in _INTENT_KINDS or e.kind in _EVENT_KINDS:
                decoded = e.decode()
                assert not isinstance(decoded, dict)
                items.append(decoded)
        items.sort(key=lambda item: item.sequence)
        return items


# ---------------------------------------------------------------------- recovery scan


@dataclass(slots=True)
class _CommandScan:
    intent: IntentEntry
    run_id: str
    last_receipt: CommandReceipt | None = None
    order_terminal: bool = False
    absent: bool = False
    synchronized: bool = False

    def is_final(self) -> bool:
        if self.absent:
            return True
        receipt = self.last_receipt
        if self.intent.command.operation is CommandOperation.CANCEL_ORDER:
            return receipt is not None and receipt.status is not CommandStatus.UNKNOWN_EXECUTION
        if receipt is not None and receipt.status is CommandStatus.REJECTED:
            return True
        # A terminal order state settles the order, but the *command* is settled only by an
        # ACCEPTED receipt or a SYNCHRONIZED report: an UNKNOWN ack followed by a FILLED stream
        # update is still reconciled (cheaply) so its handle can resolve.
        accepted = receipt is not None and receipt.status is CommandStatus.ACCEPTED
        if not (accepted or self.synchronized):
            return False
        return self.order_terminal or (receipt is not None and _terminal(receipt.order_state))


def _terminal(state: OrderState | None) -> bool:
    return state is not None and state.is_terminal


# ---------------------------------------------------------------------- the journal


class Journal:
    """The write-ahead journal (``JournalPort``); see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "process",
        group_commit: bool = True,
        flush_interval: float = _FLUSH_INTERVAL,
    ):
        if durability not in ("process", "power"):
            raise ValueError(f"durability must be 'process' or 'power', got {durability!r}")
        self.path = Path(path)
        self.durability: Durability = durability
        self.group_commit = group_commit
        self.flush_interval = flush_interval
        self.run_id: str | None = None
        self.parent_run_id: str | None = None
        self.last_sequence = 0
        self.quarantined: list[VerifyResult] = []
        self.sealed: dict[str, RunStatus] = {}
        self.flushes = 0  # transactions committed (benchmarks read it)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._prev = ""
        self._pending: list[_Row | LifecycleEvent] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._failed: str | None = None
        self._max_id_before = 0
        self._rows_since_checkpoint = 0
        self._checkpointing = False
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._closed = False
        self._listeners: list[Callable[[AuditItem], object]] = []
        # process mode: intents reach the kernel through an append-only log before the send and
        # SQLite with the next batched flush (see "Intent log" in the module docstring).
        self.intent_log_path = Path(f"{self.path}-intents")
        self._intent_fd: int | None = None

    def __repr__(self) -> str:
        return f"<Journal {self.path} {self.durability} run={self.run_id}>"

    # ------------------------------------------------------------------ listeners

    def subscribe(self, listener: Callable[[AuditItem], object]) -> None:
        """Receive every intent and lifecycle event as it is recorded (a live ``StateReplica``)."""
        self._listeners.append(listener)

    def _notify(self, item: AuditItem) -> None:
        for listener in self._listeners:
            try:
                listener(item)
            except Exception:
                log.exception("journal listener failed on sequence %s", item.sequence)

    # ------------------------------------------------------------------ open / recovery

    async def open_run(self, venues: Sequence[str]) -> list[RecoveredCommand]:
        if self.run_id is not None:
            raise JournalError(f"journal {self.path} already has an open run {self.run_id}")
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        try:
            return await loop.run_in_executor(self._executor, self._open_run_sync, list(venues))
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc

    def _open_run_sync(self, venues: list[str]) -> list[RecoveredCommand]:
        conn = _connect(self.path, read_only=False)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"journal {self.path} could not switch to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.durability == 'power' else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout=5000")
        # Checkpoints (copying the WAL back into the database, with fsyncs) never run inside a
        # submit: a separate connection does them on its own thread (see _maybe_checkpoint).
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.executescript(_SCHEMA)
        self._conn = conn
        with self._lock:
            self._replay_intent_log(conn)
            recovered = self._recover_and_start(conn, venues)
        if self.durability == "process" and self.group_commit:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
            self._intent_fd = os.open(self.intent_log_path, flags, 0o600)
        return recovered

    def _replay_intent_log(self, conn: sqlite3.Connection) -> None:
        """Append to their runs the logged intents a crash kept out of SQLite (each run's chain continues)."""
        try:
            data = self.intent_log_path.read_bytes()
        except FileNotFoundError:
            return
        records: list[tuple[str, _Row]] = []
        lines = data.split(b"\n")
        for i, line in enumerate(lines[:-1]):  # the text after the last newline is a torn write, if any
            record = _parse_intent_line(line)
            if record is None:
                log.warning("journal %s: intent log line %d is damaged; skipped", self.path, i + 1)
                continue
            records.append(record)
        missing = [
            (run_id, row)
            for run_id, row in records
            if conn.execute(
                "SELECT 1 FROM entries WHERE command_id = ? AND run_id = ? AND kind = ? AND seq = ? LIMIT 1",
                (row[2], run_id, row[1], row[0]),
            ).fetchone()
            is None
        ]
        if not missing:
            return
        tails: dict[str, str] = {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            for run_id, (seq, kind, cmd, cid, venue, body) in missing:
                if run_id not in tails:
                    last = conn.execute(
                        "SELECT checksum FROM entries WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,)
                    ).fetchone()
                    tails[run_id] = last[0] if last is not None else run_id
                checksum = _chain(tails[run_id], run_id, seq, kind, cmd, cid, venue, body)
                conn.execute(
                    "INSERT INTO entries (run_id, seq, kind, command_id, client_order_id, venue, body, checksum)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, seq, kind, cmd, cid, venue, body, checksum),
                )
                tails[run_id] = checksum
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.warning(
            "journal %s: %d intent(s) logged before a crash but not yet in the database were restored",
            self.path,
            len(missing),
        )

    def _recover_and_start(self, conn: sqlite3.Connection, venues: list[str]) -> list[RecoveredCommand]:
        runs = conn.execute("SELECT run_id, status, taken_over FROM runs ORDER BY rowid").fetchall()
        quarantined: list[VerifyResult] = []
        healthy: list[tuple[str, str, int]] = []
        chains = _scan_chains(conn)
        for run_id, status, taken_over in runs:
            if status == RunStatus.QUARANTINED:
                continue
            result = chains[run_id].result()
            if result.ok:
                healthy.append((run_id, status, taken_over))
            else:
                quarantined.append(result)
                log.error("journal %s: run %s QUARANTINED: %s", self.path, run_id, result.detail)
        # Seal predecessors still marked running.
        sealed: dict[str, RunStatus] = {}
        for run_id, status, _ in healthy:
            if status == RunStatus.RUNNING:
                clean = chains[run_id].last_kind == "RunEnded"
                sealed[run_id] = RunStatus.ENDED if clean else RunStatus.CRASHED_RECOVERED
        # Commands left without a final outcome by runs nobody has taken over yet.
        open_runs = [run_id for run_id, _, taken_over in healthy if not taken_over]
        scans: dict[str, _CommandScan] = {}
        for run_id in open_runs:
            self._scan_run(conn, run_id, chains[run_id].first_id or 0, scans)
        unresolved = sorted((s for s in scans.values() if not s.is_final()), key=lambda s: s.intent.sequence)

        self.last_sequence = max((c.max_seq for c in chains.values()), default=0)
        self._max_id_before = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0])
        parent = conn.execute("SELECT run_id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        self.parent_run_id = parent[0] if parent else None
        self.run_id = f"run-{utc_now().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        self._prev = self.run_id
        started = utc_now()
        manifest = {
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            "started_at": started,
            "venues": list(venues),
            "durability": self.durability,
            "pid": os.getpid(),
            "host": platform.node(),
            "versions": _versions(),
            "sealed": {k: v.value for k, v in sealed.items()},
            "quarantined": [q.run_id for q in quarantined],
            "recovered": len(unresolved),
        }
        rows: list[_Row] = [(self.last_sequence, "RunStarted", None, None, None, orjson.dumps(manifest))]
        recovered: list[RecoveredCommand] = []
        for scan in unresolved:
            self.last_sequence += 1
            cmd = scan.intent.command
            body = encode_intent(cmd, recovered_from=scan.run_id, last_receipt=scan.last_receipt)
            rows.append((self.last_sequence, "Recovered", cmd.command_id, cmd.client_order_id, cmd.venue, body))
            recovered.append(RecoveredCommand(command=cmd, run_id=scan.run_id, last_receipt=scan.last_receipt))
        conn.execute("BEGIN IMMEDIATE")
        try:
            for q in quarantined:
                conn.execute(
                    "UPDATE runs SET status = ?, reason = ? WHERE run_id = ?",
                    (RunStatus.QUARANTINED.value, q.detail, q.run_id),
                )
            for run_id, status in sealed.items():
                conn.execute(
                    "UPDATE runs SET status = ?, ended_at = COALESCE(ended_at, ?), reason = ? WHERE run_id = ?",
                    (status.value, started.isoformat(), f"sealed by {self.run_id}", run_id),
                )
            for run_id in open_runs:
                conn.execute("UPDATE runs SET taken_over = 1 WHERE run_id = ?", (run_id,))
            conn.execute(
                "INSERT INTO runs (run_id, parent_run_id, started_at, status) VALUES (?, ?, ?, ?)",
                (self.run_id, self.parent_run_id, started.isoformat(), RunStatus.RUNNING.value),
            )
            self._insert(conn, rows)
            conn.execute(
                "UPDATE runs SET first_id = (SELECT MIN(id) FROM entries WHERE id > ? AND run_id = ?) WHERE run_id = ?",
                (self._max_id_before, self.run_id, self.run_id),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._prev = self.run_id
            raise
        self.quarantined = quarantined
        self.sealed = sealed
        if unresolved:
            log.warning("journal %s: %d command(s) from earlier runs need reconciling", self.path, len(unresolved))
        return recovered

    def _scan_run(self, conn: sqlite3.Connection, run_id: str, first_id: int, scans: dict[str, _CommandScan]) -> None:
        rows = conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id >= ? AND run_id = ?"
            " AND kind != 'RunStarted' AND kind != 'RunEnded'",
            (first_id, run_id),
        )
        entries = sorted(_rows_to_entries(rows), key=lambda e: (e.sequence, e.id))
        for entry in entries:
            try:
                item = entry.decode()
            except Exception as exc:  # a chained but undecodable entry: keep going, say so
                log.error("journal %s: entry %d of run %s cannot be decoded: %s", self.path, entry.id, run_id, exc)
                continue
            if isinstance(item, IntentEntry):
                prior = scans.get(item.command_id)
                scan = _CommandScan(item, run_id, item.last_receipt)
                if prior is not None and item.recovered_from is not None:
                    scan.last_receipt = scan.last_receipt or prior.last_receipt
                scans[item.command_id] = scan
                continue
            if not isinstance(item, LifecycleEvent):
                continue
            found = scans.get(item.command_id)
            if found is None:
                continue  # refusals before the journal (halt, risk) have no intent: nothing was sent
            if isinstance(item, Ack):
                found.last_receipt = item.ack.receipt
                if item.ack.receipt.order_id and found.intent.command.order_id is None:
                    found.intent.command.order_id = item.ack.receipt.order_id
            elif isinstance(item, Receipt):
                found.last_receipt = item.receipt
                if item.receipt.order_id and found.intent.command.order_id is None:
                    found.intent.command.order_id = item.receipt.order_id
            elif isinstance(item, OrderUpdate):
                found.order_terminal = found.order_terminal or _terminal(item.order.state)
                if found.intent.command.order_id is None:
                    found.intent.command.order_id = item.order.order_id
            elif isinstance(item, RecoveryCompleted):
                report = item.report
                if report.outcome is ReconcileOutcome.ABSENT:
                    found.absent = True
                elif report.outcome is ReconcileOutcome.SYNCHRONIZED:
                    found.absent = False
                    found.synchronized = True
                    if report.order is not None:
                        found.order_terminal = found.order_terminal or _terminal(report.order.state)
                        if found.intent.command.order_id is None:
                            found.intent.command.order_id = report.order.order_id
                    if found.intent.command.operation is CommandOperation.CANCEL_ORDER:
                        found.absent = True  # the cancel's effect is proved: final either way
                elif report.outcome is ReconcileOutcome.DIVERGED:
                    found.absent = False
                    found.intent.command.reported_absent = True

    # ------------------------------------------------------------------ writing

    def _insert(self, conn: sqlite3.Connection, rows: Sequence[_Row]) -> None:
        """Chain and insert inside the caller's transaction; ``self._prev`` moves only on success."""
        assert self.run_id is not None
        prev = self._prev
        chained = []
        for seq, kind, cmd, cid, venue, body in rows:
            prev = _chain(prev, self.run_id, seq, kind, cmd, cid, venue, body)
            chained.append((self.run_id, seq, kind, cmd, cid, venue, body, prev))
        conn.executemany(
            "INSERT INTO entries (run_id, seq, kind, command_id, client_order_id, venue, body, checksum)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            chained,
        )
        self._prev = prev

    def _write(
        self, items: Sequence[_Row | LifecycleEvent], extra_sql: Callable[[sqlite3.Connection], None] | None = None
    ) -> None:
        """One transaction: every item, chained in order. Thread-safe; raises on failure."""
        rows = [item if isinstance(item, tuple) else _event_row(item) for item in items]
        with self._lock:
            conn = self._conn
            if conn is None:
                raise JournalWriteError(f"journal {self.path} is not open")
            prev = self._prev
            try:
                conn.execute("BEGIN")
                self._insert(conn, rows)
                if extra_sql is not None:
                    extra_sql(conn)
                conn.execute("COMMIT")
            except BaseException:
                self._prev = prev
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            self.flushes += 1
            self._maybe_checkpoint(len(rows))

    def _maybe_checkpoint(self, rows: int) -> None:
        self._rows_since_checkpoint += rows
        if self._rows_since_checkpoint < _CHECKPOINT_ROWS or self._checkpointing or self._closed:
            return
        self._rows_since_checkpoint = 0
        self._checkpointing = True
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-checkpoint")
        self._checkpointer.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """PASSIVE checkpoint on its own connection: never blocks the writer, never waits for readers."""
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = _connect(self.path, read_only=False)
                self._checkpoint_conn.execute("PRAGMA busy_timeout=0")
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # a skipped checkpoint only lets the WAL grow; the next one catches up
            log.warning("journal %s: background checkpoint skipped: %s", self.path, exc)
        finally:
            self._checkpointing = False

    def _fail(self, exc: BaseException) -> JournalWriteError:
        self._failed = f"{exc.__class__.__name__}: {exc}"
        log.error("journal %s: write failed, refusing further intents: %s", self.path, self._failed)
        return JournalWriteError(f"journal {self.path} write failed: {self._failed}")

    def _check_writable(self) -> None:
        if self._closed:
            raise JournalWriteError(f"journal {self.path} is closed")
        if self.run_id is None:
            raise JournalWriteError(f"journal {self.path} has no open run: call open_run() first")
        if self._failed is not None:
            raise JournalWriteError(f"journal {self.path} failed earlier and is read-only now: {self._failed}")

    async def record_intent(self, command: PendingCommand, sequence: int) -> None:
        """Durable before return (per the durability level), or raises ``JournalWriteError``."""
        self._check_writable()
        row: _Row = (
            sequence,
            "Intent",
            command.command_id,
            command.client_order_id,
            command.venue,
            encode_intent(command),
        )
        if sequence > self.last_sequence:
            self.last_sequence = sequence
        self._notify(IntentEntry(sequence=sequence, command=command))
        if self.durability == "process":
            if self._intent_fd is None:  # group_commit=False: one transaction per intent
                self._pending.append(row)
                self._flush_sync(raise_errors=True)
                return
            # In the kernel (the intent log) before the send; in SQLite with the next flush.
            assert self.run_id is not None
            line = _intent_line(self.run_id, row)
            try:
                if os.write(self._intent_fd, line) != len(line):
                    raise OSError("short write to the intent log")
            except OSError as exc:
                raise self._fail(exc) from exc
            self._pending.append(row)
            self._after_append()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(row)
        self._waiters.append(fut)
        if not self.group_commit:
            await self._flush_batch()
        else:
            self._kick()
        await fut

    def record_event(self, event: LifecycleEvent) -> None:
        """Buffer a lifecycle event; it is written with the next flush (see the module docstring)."""
        if self._closed or self.run_id is None or self._failed is not None:
            return  # after a failed write nothing more is buffered: the gateway is halted
        if event.sequence > self.last_sequence:
            self.last_sequence = event.sequence
        self._notify(event)
        self._pending.append(event)
        self._after_append()

    def _after_append(self) -> None:
        """A full batch is written now; otherwise the timer writes it within ``flush_interval``."""
        if len(self._pending) >= _FLUSH_BATCH:
            if self.durability == "process":
                self._flush_sync(raise_errors=False)
            else:
                with contextlib.suppress(RuntimeError):  # no running loop: the next flush() writes it
                    self._kick()
        elif self._timer is None:
            self._flush_soon(self.flush_interval)

    def _flush_soon(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed or self._failed is not None or not self._pending:
            return
        if self.durability == "process":
            self._flush_sync(raise_errors=False)
        else:
            self._kick()

    def _flush_sync(self, *, raise_errors: bool) -> None:
        """``process`` mode: write everything pending now, on the loop thread; wake its waiters."""
        items, self._pending = self._pending, []
        waiters, self._waiters = self._waiters, []
        if not items:
            return
        try:
            if self._failed is not None:
                raise JournalWriteError(f"journal {self.path} failed earlier and is read-only now: {self._failed}")
            self._write(items)
        except Exception as exc:
            error = exc if isinstance(exc, JournalWriteError) else self._fail(exc)
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(error)
            if raise_errors:
                raise error from exc
            return
        if self._intent_fd is not None:
            try:  # every logged intent is in SQLite now; a failed truncate only costs a dedup at boot
                os.ftruncate(self._intent_fd, 0)
            except OSError as exc:
                log.warning("journal %s: could not truncate the intent log: %s", self.path, exc)
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="journal:group-commit")

    async def _flush_loop(self) -> None:
        while self._pending:
            await self._flush_batch()

    async def _flush_batch(self) -> None:
        """Write everything queued as one transaction on the writer thread; wake its waiters."""
        items, self._pending = self._pending, []
        waiters, self._waiters = self._waiters, []
        if not items:
            return
        loop = asyncio.get_running_loop()
        try:
            if self._failed is not None:
                raise JournalWriteError(f"journal {self.path} failed earlier and is read-only now: {self._failed}")
            await loop.run_in_executor(self._executor, self._write, items)
        except Exception as exc:
            error = exc if isinstance(exc, JournalWriteError) else self._fail(exc)
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(error)
            return
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def flush(self) -> None:
        """Write every buffered event now (tests and ``close`` use it)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.durability == "power":
            if self._flusher is not None:
                with contextlib.suppress(Exception):
                    await self._flusher
            while self._pending:
                await self._flush_batch()
            return
        self._flush_sync(raise_errors=True)

    # ------------------------------------------------------------------ reading

    def settled_receipt(self, command_id: str) -> CommandReceipt | None:
        for item in reversed(self._pending):
            if isinstance(item, Ack) and item.command_id == command_id:
                return item.ack.receipt
            if isinstance(item, Receipt) and item.command_id == command_id:
                return item.receipt
        if self._conn is None:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT e.body FROM entries e JOIN runs r ON r.run_id = e.run_id"
                " WHERE e.command_id = ? AND e.kind IN ('Ack', 'Receipt') AND r.status != ?"
                " ORDER BY e.id DESC LIMIT 1",
                (command_id, RunStatus.QUARANTINED.value),
            ).fetchone()
        if row is None:
            return None
        event = _EVENT_ADAPTER.validate_json(row[0])
        if isinstance(event, Ack):
            return event.ack.receipt
        if isinstance(event, Receipt):
            return event.receipt
        return None

    # ------------------------------------------------------------------ close

    async def close(self) -> None:
        if self._closed:
            return
        if self._conn is None:
            self._closed = True
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            return
        try:
            await self.flush()
        except Exception as exc:
            log.error("journal %s: final flush failed: %s", self.path, exc)
        self._closed = True
        run_id = self.run_id
        if self._failed is None and run_id is not None:
            ended = utc_now()
            marker: _Row = (self.last_sequence, "RunEnded", None, None, None, orjson.dumps({"ended_at": ended}))

            def seal(conn: sqlite3.Connection) -> None:
                conn.execute(
                    "UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?",
                    (RunStatus.ENDED.value, ended.isoformat(), run_id),
                )

            try:
                if self._executor is not None:
                    await asyncio.get_running_loop().run_in_executor(self._executor, self._write, [marker], seal)
                else:
                    self._write([marker], seal)
            except Exception as exc:
                log.error("journal %s: could not write RunEnded: %s", self.path, exc)
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
            self._checkpointer = None
        if self._checkpoint_conn is not None:
            with contextlib.suppress(Exception):
                self._checkpoint_conn.close()
            self._checkpoint_conn = None
        with self._lock:
            with contextlib.suppress(Exception):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._intent_fd is not None:
            os.close(self._intent_fd)
            self._intent_fd = None
            if self._failed is None:  # after a failure the log may hold intents SQLite lacks
                with contextlib.suppress(OSError):
                    self.intent_log_path.unlink()


def _intent_line(run_id: str, row: _Row) -> bytes:
    """One intent-log line: the row as JSON, a space, its CRC32 (hex), a newline."""
    seq, kind, cmd, cid, venue, body = row
    payload = orjson.dumps([run_id, seq, kind, cmd, cid, venue, body.decode()])
    return payload + b" %08x\n" % zlib.crc32(payload)


def _parse_intent_line(line: bytes) -> tuple[str, _Row] | None:
    payload, _, crc = line.rpartition(b" ")
    if not payload or crc != b"%08x" % zlib.crc32(payload):
        return None
    try:
        run_id, seq, kind, cmd, cid, venue, body = orjson.loads(payload)
        return str(run_id), (int(seq), str(kind), cmd, cid, venue, str(body).encode())
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for dist in ("order-gateway", "pydantic", "aiohttp"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out
