"""Shared helpers for the journal tests: requests, a simulated crash, byte flipping."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

from gateway.journal import Journal
from gateway.model import OrderRequest, OrderType, Side
from tests.unit.fakes import BTC


def order(price: str = "50000", **kw: object) -> OrderRequest:
    base: dict[str, object] = dict(
        venue="fake",
        instrument=BTC,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        price=Decimal(price),
    )
    return OrderRequest(**{**base, **kw})


def crash(journal: Journal) -> None:
    """What SIGKILL leaves behind: committed rows and the intent log stay; buffered rows and RunEnded do not."""
    if journal._timer is not None:
        journal._timer.cancel()
        journal._timer = None
    journal._pending.clear()
    if journal._intent_fd is not None:
        os.close(journal._intent_fd)  # what was written stays in the file, as the kernel keeps it
        journal._intent_fd = None
    journal._closed = True
    if journal._conn is not None:
        with contextlib.suppress(Exception):
            journal._conn.close()
        journal._conn = None
    if journal._executor is not None:
        journal._executor.shutdown(wait=True)
        journal._executor = None


def flip_body_byte(path: Path, entry_id: int, offset: int = 10) -> None:
    """Corrupt one stored entry the way a bad disk would: one byte of its body changes."""
    conn = sqlite3.connect(path)
    (body,) = conn.execute("SELECT body FROM entries WHERE id = ?", (entry_id,)).fetchone()
    data = bytearray(body)
    data[offset] ^= 0x01
    conn.execute("UPDATE entries SET body = ? WHERE id = ?", (bytes(data), entry_id))
    conn.commit()
    conn.close()


def flip_file_bytes(path: Path, needle: bytes, replacement: bytes) -> None:
    """Flip bytes in the database file itself (after a checkpoint), not through SQLite."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = bytearray(path.read_bytes())
    at = raw.find(needle)
    assert at >= 0, f"{needle!r} not found in {path}"
    assert raw.find(needle, at + 1) < 0, f"{needle!r} is not unique in {path}"
    raw[at : at + len(replacement)] = replacement
    path.write_bytes(bytes(raw))
