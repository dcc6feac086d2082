"""Shared helpers for the journal tests: requests and byte flipping (a crash is ``Journal.abandon()``)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

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
