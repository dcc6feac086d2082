"""The intent log (process mode): an intent reaches the kernel before its send, SQLite with the next flush.

After a crash the next start restores logged intents the database lacks into their own run,
continuing its checksum chain; torn or damaged lines are skipped; nothing is restored twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.journal import Journal, JournalReader
from gateway.model import CommandOperation, utc_now
from gateway.ports import PendingCommand
from tests.journal.helpers import order
from tests.unit.fakes import BTC


def pending(cid: str) -> PendingCommand:
    return PendingCommand(
        command_id=cid,
        operation=CommandOperation.CREATE_ORDER,
        venue="fake",
        instrument=BTC,
        client_order_id=cid,
        order_id=None,
        sent_at=utc_now(),
        recv_window_ms=5000,
        request=order(client_order_id=cid),
    )


def log_exists(path: Path) -> bool:
    return Path(f"{path}-intents").exists()


def read_log(path: Path) -> bytes:
    return Path(f"{path}-intents").read_bytes()


def write_log(path: Path, data: bytes) -> None:
    Path(f"{path}-intents").write_bytes(data)


def intents_in_db(path: Path) -> list[str]:
    with JournalReader(path) as reader:
        return [e.command_id or "" for e in reader.entries() if e.kind == "Intent"]


async def crashed_journal(path: Path, flushed: list[str], logged: list[str]) -> str:
    journal = Journal(path)
    await journal.open_run(["fake"])
    seq = 1
    for cid in flushed:
        await journal.record_intent(pending(cid), seq)
        seq += 1
    await journal.flush()
    for cid in logged:
        await journal.record_intent(pending(cid), seq)
        seq += 1
    journal.abandon()
    assert journal.run_id is not None
    return journal.run_id


async def test_logged_intents_are_restored_into_their_run_with_a_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    run_id = await crashed_journal(path, ["a-1"], ["a-2", "a-3"])
    assert intents_in_db(path) == ["a-1"]  # the crash kept two intents out of the database
    journal = Journal(path)
    recovered = await journal.open_run(["fake"])
    await journal.close()
    assert sorted(r.command.command_id for r in recovered) == ["a-1", "a-2", "a-3"]
    with JournalReader(path) as reader:
        restored = [e for e in reader.entries(run_id) if e.kind == "Intent"]
        assert [e.command_id for e in restored] == ["a-1", "a-2", "a-3"]
        assert all(v.ok for v in reader.verify()), reader.verify()
    assert not log_exists(path)  # a clean close leaves no log behind


async def test_an_intent_both_logged_and_committed_is_not_restored_twice(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = Journal(path)
    await journal.open_run(["fake"])
    await journal.record_intent(pending("b-1"), 1)
    log_bytes = read_log(path)
    await journal.flush()  # committed, and the log truncated ...
    journal.abandon()
    write_log(path, log_bytes)  # ... unless the crash came between the two
    again = Journal(path)
    await again.open_run(["fake"])
    await again.close()
    assert intents_in_db(path) == ["b-1"]


async def test_torn_and_damaged_lines_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j.db"
    await crashed_journal(path, [], ["c-1", "c-2", "c-3"])
    lines = read_log(path).split(b"\n")
    damaged = bytearray(lines[1])
    damaged[20] ^= 0x01
    lines[1] = bytes(damaged)
    lines[2] = lines[2][: len(lines[2]) // 2]  # a write cut short by the crash: no newline
    write_log(path, b"\n".join(lines[:2]) + b"\n" + lines[2])
    caplog.set_level(logging.WARNING, "gateway.journal")
    journal = Journal(path)
    await journal.open_run(["fake"])
    await journal.close()
    assert intents_in_db(path) == ["c-1"]
    assert "intent log line 2 is damaged" in caplog.text


async def test_power_mode_commits_before_the_send_and_keeps_no_log(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = Journal(path, durability="power")
    await journal.open_run(["fake"])
    await journal.record_intent(pending("d-1"), 1)
    assert intents_in_db(path) == ["d-1"]
    assert not log_exists(path)
    await journal.close()
