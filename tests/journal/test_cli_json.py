"""`gateway journal runs|show|verify --json`: one object per line matching the journal; whole tables when piped."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway import Gateway
from gateway.cli import main
from gateway.journal import JournalReader
from tests.journal.helpers import flip_body_byte, order
from tests.unit.fakes import ScriptedVenue


@pytest.fixture
async def journal_file(tmp_path: Path) -> Path:
    path = tmp_path / "g.db"
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None) as gw:
        await gw.submit(order(client_order_id="json-1"))
        await gw.submit(order(client_order_id="json-2"))
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None) as gw:
        await gw.submit(order(client_order_id="json-3"))
    return path


def json_lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [orjson.loads(line) for line in text.splitlines()]


def test_runs_json_matches_the_journal(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "runs", "--json", "--db", str(journal_file)]) == 0
    rows = json_lines(capsys.readouterr().out)
    runs = JournalReader(journal_file).runs()
    assert [r["run_id"] for r in rows] == [r.run_id for r in runs]
    for row, info in zip(rows, runs, strict=True):
        assert row["status"] == info.status.value == "ENDED"
        assert (row["entries"], row["commands"], row["parent_run_id"]) == (
            info.entries,
            info.commands,
            info.parent_run_id,
        )
        assert row["venues"] == ["fake"] and row["manifest"]["run_id"] == info.run_id
    assert len(rows) == 2 and rows[1]["parent_run_id"] == rows[0]["run_id"]


def test_show_json_matches_the_entries(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reader = JournalReader(journal_file)
    run_id = reader.runs()[0].run_id
    assert main(["journal", "show", run_id, "--json", "--db", str(journal_file)]) == 0
    rows = json_lines(capsys.readouterr().out)
    entries = reader.entries(run_id)
    assert [(r["id"], r["sequence"], r["kind"], r["command_id"], r["checksum"]) for r in rows] == [
        (e.id, e.sequence, e.kind, e.command_id, e.checksum) for e in entries
    ]
    assert [r["body"] for r in rows] == [orjson.loads(e.body) for e in entries]
    assert rows[0]["kind"] == "RunStarted" and rows[-1]["kind"] == "RunEnded"
    assert main(["journal", "show", "json-2", "--json", "--db", str(journal_file)]) == 0
    kinds = [(r["kind"], r["client_order_id"]) for r in json_lines(capsys.readouterr().out)]
    assert ("Intent", "json-2") in kinds and all(cid == "json-2" for _, cid in kinds)
    assert main(["journal", "show", "no-such-thing", "--json", "--db", str(journal_file)]) == 1
    assert capsys.readouterr().out == ""


def test_verify_json_reports_each_chain(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "verify", "--json", "--db", str(journal_file)]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert len(rows) == 2 and all(r["ok"] and r["broken_at"] is None for r in rows)
    flip_body_byte(journal_file, 3)
    assert main(["journal", "verify", "--json", "--db", str(journal_file)]) == 1
    rows = json_lines(capsys.readouterr().out)
    assert [r["ok"] for r in rows] == [False, True] and rows[0]["broken_at"] == 3 and rows[0]["detail"]


def test_tables_are_not_cut_when_piped(
    journal_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # piped: rich alone would cut to 80 columns
    assert main(["journal", "show", "json-1", "--db", str(journal_file)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) > 80
    intent = next(line for line in out.splitlines() if "Intent" in line)
    assert "json-1" in intent and "CREATE_ORDER BUY LIMIT" in intent  # one row, one line
