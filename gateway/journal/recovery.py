"""Start of a run: restore logged intents, quarantine broken runs, seal predecessors, adopt what they left open.

``unresolved_commands`` is the one place that decides whether a journaled command reached a
final outcome (the rule is in the package docstring, "Recovery"); everything else here is
bookkeeping around it, in one transaction with the new run's ``RunStarted``.
"""

from __future__ import annotations

import logging
import os
import platform
import secrets
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from gateway.fold import CommandFold
from gateway.journal.codec import Row, encode_intent, parse_intent_line
from gateway.journal.reader import scan_chains
from gateway.journal.records import AuditItem, Durability, IntentEntry, RunStatus, VerifyResult
from gateway.journal.store import ENTRY_COLUMNS, insert_chained, rows_to_entries, transaction
from gateway.model import (
    Ack,
    CommandReceipt,
    LifecycleEvent,
    OrderUpdate,
    Receipt,
    ReconcileOutcome,
    RecoveryCompleted,
    utc_now,
)
from gateway.ports import RecoveredCommand

__all__ = ["CommandOutcome", "StartedRun", "replay_intent_log", "start_run", "unresolved_commands"]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- what counts as final


@dataclass(slots=True)
class CommandOutcome:
    """What a predecessor's entries prove about one command, folded as a live handle folds it."""

    intent: IntentEntry
    run_id: str
    last_receipt: CommandReceipt | None = None  # the last receipt journaled, handed to the next run
    fold: CommandFold = field(default_factory=CommandFold)

    def __post_init__(self) -> None:
        self.fold.operation = self.intent.command.operation
        if self.last_receipt is not None:  # a Recovered entry carries what its command last had
            self.fold.ack(self.last_receipt)

    def apply(self, event: LifecycleEvent) -> None:
        command = self.intent.command
        order_id: str | None = None
        if isinstance(event, Ack):
            self.last_receipt = event.ack.receipt
            self.fold.ack(event.ack.receipt)
            order_id = event.ack.receipt.order_id
        elif isinstance(event, Receipt):
            self.last_receipt = event.receipt
            self.fold.receipt(event.receipt)
            order_id = event.receipt.order_id
        elif isinstance(event, OrderUpdate):
            self.fold.order(event.order)
            order_id = event.order.order_id
        elif isinstance(event, RecoveryCompleted):
            self.fold.report(event.report)
            if event.report.order is not None:
                order_id = event.report.order.order_id
            if event.report.outcome is ReconcileOutcome.DIVERGED:
                command.reported_absent = True
        if order_id and command.order_id is None:
            command.order_id = order_id

    def is_final(self) -> bool:
        """``gateway.fold.is_final``: the rule a live gateway applies to the command's handle."""
        return self.fold.final


def unresolved_commands(runs: Iterable[tuple[str, Iterable[AuditItem]]]) -> list[CommandOutcome]:
    """Fold each run's audit items (oldest run first, each in sequence order) into one outcome per command.

    Returns the commands without a final outcome, in intent order. A ``Recovered`` copy of a
    command replaces its earlier outcome but keeps the last receipt it had.
    """
    outcomes: dict[str, CommandOutcome] = {}
    for run_id, items in runs:
        for item in items:
            if isinstance(item, IntentEntry):
                prior = outcomes.get(item.command_id)
                outcome = CommandOutcome(item, run_id, item.last_receipt)
                if prior is not None and item.recovered_from is not None:
                    outcome.last_receipt = outcome.last_receipt or prior.last_receipt
                outcomes[item.command_id] = outcome
                continue
            found = outcomes.get(item.command_id)
            if found is not None:  # refusals before the journal (halt, risk) have no intent: nothing was sent
                found.apply(item)
    return sorted((o for o in outcomes.values() if not o.is_final()), key=lambda o: o.intent.sequence)


def _run_items(conn: sqlite3.Connection, path: Path, run_id: str, first_id: int) -> Iterator[AuditItem]:
    """A run's intents and events, decoded, in sequence order; an undecodable entry is logged and skipped."""
    rows = conn.execute(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id >= ? AND run_id = ?"
        " AND kind != 'RunStarted' AND kind != 'RunEnded'",
        (first_id, run_id),
    )
    for entry in sorted(rows_to_entries(rows), key=lambda e: (e.sequence, e.id)):
        try:
            item = entry.decode()
        except Exception as exc:  # a chained but undecodable entry: keep going, say so
            log.error("journal %s: entry %d of run %s cannot be decoded: %s", path, entry.id, run_id, exc)
            continue
        if isinstance(item, IntentEntry | LifecycleEvent):
            yield item


# ---------------------------------------------------------------------- the intent log


def replay_intent_log(conn: sqlite3.Connection, log_path: Path, path: Path) -> None:
    """Append to their runs the logged intents a crash kept out of SQLite (each run's chain continues)."""
    try:
        data = log_path.read_bytes()
    except FileNotFoundError:
        return
    records: list[tuple[str, Row]] = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines[:-1]):  # the text after the last newline is a torn write, if any
        record = parse_intent_line(line)
        if record is None:
            log.warning("journal %s: intent log line %d is damaged; skipped", path, i + 1)
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
    with transaction(conn, "BEGIN IMMEDIATE"):
        for run_id, row in missing:
            if run_id not in tails:
                last = conn.execute(
                    "SELECT checksum FROM entries WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,)
                ).fetchone()
                tails[run_id] = last[0] if last is not None else run_id
            tails[run_id] = insert_chained(conn, run_id, tails[run_id], [row])
    log.warning(
        "journal %s: %d intent(s) logged before a crash but not yet in the database were restored",
        path,
        len(missing),
    )


# ---------------------------------------------------------------------- the new run


@dataclass(frozen=True, slots=True)
class StartedRun:
    """The run ``start_run`` committed, and what it found on the way."""

    run_id: str
    parent_run_id: str | None
    last_sequence: int  # the highest sequence in the file, the new run's markers included
    tail: str  # the new run's last checksum: where its chain continues
    quarantined: list[VerifyResult]
    sealed: dict[str, RunStatus]
    recovered: list[RecoveredCommand]


def start_run(conn: sqlite3.Connection, *, path: Path, venues: list[str], durability: Durability) -> StartedRun:
    """Verify every chain, seal and quarantine predecessors, and open a new run holding their open commands."""
    runs = conn.execute("SELECT run_id, status, taken_over FROM runs ORDER BY rowid").fetchall()
    quarantined: list[VerifyResult] = []
    healthy: list[tuple[str, str, int]] = []
    chains = scan_chains(conn)
    for run_id, status, taken_over in runs:
        if status == RunStatus.QUARANTINED:
            continue
        result = chains[run_id].result()
        if result.ok:
            healthy.append((run_id, status, taken_over))
        else:
            quarantined.append(result)
            log.error("journal %s: run %s QUARANTINED: %s", path, run_id, result.detail)
    # Seal predecessors still marked running.
    sealed: dict[str, RunStatus] = {}
    for run_id, status, _ in healthy:
        if status == RunStatus.RUNNING:
            clean = chains[run_id].last_kind == "RunEnded"
            sealed[run_id] = RunStatus.ENDED if clean else RunStatus.CRASHED_RECOVERED
    # Commands left without a final outcome by runs nobody has taken over yet.
    open_runs = [run_id for run_id, _, taken_over in healthy if not taken_over]
    unresolved = unresolved_commands(
        (run_id, _run_items(conn, path, run_id, chains[run_id].first_id or 0)) for run_id in open_runs
    )

    last_sequence = max((c.max_seq for c in chains.values()), default=0)
    max_id_before = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0])
    parent = conn.execute("SELECT run_id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
    parent_run_id: str | None = parent[0] if parent else None
    run_id = f"run-{utc_now().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    started = utc_now()
    manifest = {
        "run_id": run_id,
        "parent_run_id": parent_run_id,
        "started_at": started,
        "venues": list(venues),
        "durability": durability,
        "pid": os.getpid(),
        "host": platform.node(),
        "versions": _versions(),
        "sealed": {k: v.value for k, v in sealed.items()},
        "quarantined": [q.run_id for q in quarantined],
        "recovered": len(unresolved),
    }
    rows: list[Row] = [(last_sequence, "RunStarted", None, None, None, orjson.dumps(manifest))]
    recovered: list[RecoveredCommand] = []
    for outcome in unresolved:
        last_sequence += 1
        cmd = outcome.intent.command
        body = encode_intent(cmd, recovered_from=outcome.run_id, last_receipt=outcome.last_receipt)
        rows.append((last_sequence, "Recovered", cmd.command_id, cmd.client_order_id, cmd.venue, body))
        recovered.append(RecoveredCommand(command=cmd, run_id=outcome.run_id, last_receipt=outcome.last_receipt))
    with transaction(conn, "BEGIN IMMEDIATE"):
        for q in quarantined:
            conn.execute(
                "UPDATE runs SET status = ?, reason = ? WHERE run_id = ?",
                (RunStatus.QUARANTINED.value, q.detail, q.run_id),
            )
        for sealed_id, status in sealed.items():
            conn.execute(
                "UPDATE runs SET status = ?, ended_at = COALESCE(ended_at, ?), reason = ? WHERE run_id = ?",
                (status.value, started.isoformat(), f"sealed by {run_id}", sealed_id),
            )
        for open_id in open_runs:
            conn.execute("UPDATE runs SET taken_over = 1 WHERE run_id = ?", (open_id,))
        conn.execute(
            "INSERT INTO runs (run_id, parent_run_id, started_at, status) VALUES (?, ?, ?, ?)",
            (run_id, parent_run_id, started.isoformat(), RunStatus.RUNNING.value),
        )
        tail = insert_chained(conn, run_id, run_id, rows)
        conn.execute(
            "UPDATE runs SET first_id = (SELECT MIN(id) FROM entries WHERE id > ? AND run_id = ?) WHERE run_id = ?",
            (max_id_before, run_id, run_id),
        )
    if unresolved:
        log.warning("journal %s: %d command(s) from earlier runs need reconciling", path, len(unresolved))
    return StartedRun(run_id, parent_run_id, last_sequence, tail, quarantined, sealed, recovered)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for dist in ("order-gateway", "pydantic", "aiohttp"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out
