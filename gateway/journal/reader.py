"""Reading a journal: ``JournalReader`` (CLI, tests, ``StateReplica``) and the pass that checks every run's chain."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.journal.codec import EVENT_KINDS, INTENT_KINDS, JournalEntry, chain
from gateway.journal.records import AuditItem, RunInfo, RunStatus, VerifyResult
from gateway.journal.store import ENTRY_COLUMNS, connect, first_id, rows_to_entries

__all__ = ["JournalReader", "RunScan", "scan_chains"]


@dataclass(slots=True)
class RunScan:
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


def scan_chains(conn: sqlite3.Connection) -> dict[str, RunScan]:
    """Walk every entry once, in write order, checking each run's chain (runs need no index)."""
    scans: dict[str, RunScan] = {
        r[0]: RunScan(r[0], r[0]) for r in conn.execute("SELECT run_id FROM runs ORDER BY rowid")
    }
    rows = conn.execute(f"SELECT {ENTRY_COLUMNS} FROM entries ORDER BY id")
    for e in rows_to_entries(rows):
        scan = scans.get(e.run_id)
        if scan is None:
            scan = scans[e.run_id] = RunScan(e.run_id, e.run_id)
        scan.entries += 1
        if scan.first_id is None:
            scan.first_id = e.id
        scan.last_kind = e.kind
        scan.max_seq = max(scan.max_seq, e.sequence)
        if scan.broken is not None:
            continue
        expected = chain(scan.prev, e.run_id, e.sequence, e.kind, e.command_id, e.client_order_id, e.venue, e.body)
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


class JournalReader:
    """Read-only access for the CLI, tests and ``StateReplica``; never writes, never seals."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn = connect(self.path, read_only=True)

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
                (first_id(self._conn, r[0]), r[0]),
            ).fetchone()
            if first is not None:
                with contextlib.suppress(orjson.JSONDecodeError):
                    manifest = orjson.loads(first[0])
            n, cmds = counts.get(r[0], (0, 0))
            out.append(RunInfo(r[0], r[1], r[2], r[3], RunStatus(r[4]), bool(r[5]), r[6], n, cmds, manifest))
        return out

    def entries(self, run_id: str | None = None) -> list[JournalEntry]:
        if run_id is None:
            rows = self._conn.execute(f"SELECT {ENTRY_COLUMNS} FROM entries ORDER BY id")
        else:
            rows = self._conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id >= ? AND run_id = ? ORDER BY id",
                (first_id(self._conn, run_id), run_id),
            )
        return list(rows_to_entries(rows))

    def command_entries(self, ident: str) -> list[JournalEntry]:
        """Entries of the command ``ident`` names (command id or client order id), any run."""
        rows = self._conn.execute(
            f"SELECT {ENTRY_COLUMNS} FROM entries WHERE command_id = ? OR client_order_id = ? ORDER BY id",
            (ident, ident),
        )
        return list(rows_to_entries(rows))

    def verify(self) -> list[VerifyResult]:
        return [scan.result() for scan in scan_chains(self._conn).values()]

    def audit_items(self, run_id: str) -> list[AuditItem]:
        """A run's intents and lifecycle events, decoded, in sequence order."""
        items: list[AuditItem] = []
        for e in self.entries(run_id):
            if e.kind in INTENT_KINDS or e.kind in EVENT_KINDS:
                decoded = e.decode()
                assert not isinstance(decoded, dict)
                items.append(decoded)
        items.sort(key=lambda item: item.sequence)
        return items
