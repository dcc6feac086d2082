"""The SQLite file: its schema, connections to it, and the one chained insert every write goes through."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gateway.journal.codec import JournalEntry, Row, chain
from gateway.journal.records import JournalError

__all__ = ["ENTRY_COLUMNS", "SCHEMA", "connect", "first_id", "insert_chained", "rows_to_entries", "transaction"]

SCHEMA = """
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

ENTRY_COLUMNS = "id, run_id, seq, kind, command_id, client_order_id, venue, body, checksum"


def connect(path: str | Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        if not Path(path).exists():
            raise JournalError(f"no journal at {path}")
        uri = f"file:{Path(path).resolve().as_posix()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    return conn


def rows_to_entries(rows: Iterable[tuple[Any, ...]]) -> Iterator[JournalEntry]:
    for r in rows:
        body = r[7] if isinstance(r[7], bytes) else str(r[7]).encode()
        yield JournalEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], body, r[8])


def first_id(conn: sqlite3.Connection, run_id: str) -> int:
    """The id of a run's first entry (0 if unknown): lets a run's reads skip the rows before it."""
    row = conn.execute("SELECT first_id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
    """``begin`` ... COMMIT, or ROLLBACK and re-raise (a failing ROLLBACK does not hide the first error)."""
    conn.execute(begin)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        raise


def insert_chained(conn: sqlite3.Connection, run_id: str, prev: str, rows: Iterable[Row]) -> str:
    """Chain ``rows`` onto a run whose last checksum is ``prev`` and insert them; return the new last checksum.

    Runs inside the caller's transaction: the caller keeps the returned tail only once it commits.
    """
    chained = []
    for seq, kind, cmd, cid, venue, body in rows:
        prev = chain(prev, run_id, seq, kind, cmd, cid, venue, body)
        chained.append((run_id, seq, kind, cmd, cid, venue, body, prev))
    conn.executemany(
        "INSERT INTO entries (run_id, seq, kind, command_id, client_order_id, venue, body, checksum)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        chained,
    )
    return prev
