"""Background checkpoints: copying the WAL back into the database file without a submit ever waiting for it.

The writing connection runs with ``wal_autocheckpoint=0``; this runs PASSIVE checkpoints on a
second connection and its own thread every ``CHECKPOINT_ROWS`` rows, so the only step that
fsyncs in ``process`` mode stays off the send path.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gateway.journal.store import connect

__all__ = ["CHECKPOINT_ROWS", "Checkpointer"]

log = logging.getLogger(__name__)

CHECKPOINT_ROWS = 2_000  # rows written between background checkpoints


class Checkpointer:
    """Counts written rows and starts a PASSIVE checkpoint when enough have accumulated."""

    def __init__(self, path: Path):
        self.path = path
        self._rows = 0
        self._running = False
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    def rows_written(self, rows: int) -> None:
        """Called by the writer after each commit; at most one checkpoint runs at a time."""
        self._rows += rows
        if self._rows < CHECKPOINT_ROWS or self._running:
            return
        self._rows = 0
        self._running = True
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-checkpoint")
        self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """Never blocks the writer (busy_timeout=0), never waits for readers (PASSIVE)."""
        try:
            if self._conn is None:
                self._conn = connect(self.path, read_only=False)
                self._conn.execute("PRAGMA busy_timeout=0")
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # a skipped checkpoint only lets the WAL grow; the next one catches up
            log.warning("journal %s: background checkpoint skipped: %s", self.path, exc)
        finally:
            self._running = False

    def close(self) -> None:
        """Wait for a running checkpoint, then close its connection."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
