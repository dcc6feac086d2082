"""`gateway journal runs | show | verify` against real journal files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import Gateway
from gateway.cli import main
from gateway.journal import JournalReader
from tests.journal.helpers import flip_body_byte, order
from tests.unit.fakes import ScriptedVenue


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")


@pytest.fixture
async def journal_file(tmp_path: Path) -> Path:
    path = tmp_path / "g.db"
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None) as gw:
        await gw.submit(order(client_order_id="cli-1"))
        await gw.submit(order(client_order_id="cli-2"))
    return path


def test_runs_lists_the_run(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "runs", "--db", str(journal_file)]) == 0
    out = capsys.readouterr().out
    run_id = JournalReader(journal_file).runs()[0].run_id
    assert run_id[:12] in out and "ENDED" in out and "fake" in out


def test_show_a_command_and_a_run(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "show", "cli-2", "--db", str(journal_file)]) == 0
    out = capsys.readouterr().out
    assert "Intent" in out and "Ack" in out and "cli-1" not in out
    run_id = JournalReader(journal_file).runs()[0].run_id
    assert main(["journal", "show", run_id, "--db", str(journal_file)]) == 0
    out = capsys.readouterr().out
    assert "RunStarted" in out and "RunEnded" in out
    assert main(["journal", "show", "nothing-like-this", "--db", str(journal_file)]) == 1


def test_verify_passes_then_fails_after_a_flipped_byte(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "verify", "--db", str(journal_file)]) == 0
    assert "every chain verifies" in capsys.readouterr().out
    flip_body_byte(journal_file, 3)
    assert main(["journal", "verify", "--db", str(journal_file)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and "1 broken run(s)" in out


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "runs", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no journal at" in capsys.readouterr().out
