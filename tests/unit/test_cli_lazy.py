"""`gateway` imports a subcommand's module only when that subcommand is parsed or run.

Each case runs the CLI in a fresh interpreter and reads back which modules it loaded: the
test process itself has imported everything long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import SUBCOMMANDS
from gateway.journal import Journal

_PROBE = """
import json, sys
from gateway.cli import main
try:
    rc = main(sys.argv[2:])
except SystemExit as exc:
    rc = exc.code
with open(sys.argv[1], "w") as out:
    json.dump({"rc": rc, "modules": sorted(sys.modules)}, out)
"""

# ``gateway.core`` is not here: ``gateway`` re-exports it eagerly (issue 18's bottom layer makes
# that safe), and it loads neither a venue nor aiohttp.
_HEAVY = ("venues", "aiohttp", "websockets", "gateway.demo", "benchmarks")


@pytest.fixture
async def journal_file(tmp_path: Path) -> Path:
    path = tmp_path / "g.db"
    journal = Journal(path)
    await journal.open_run(["fake"])
    await journal.close()
    return path


def _run(tmp_path: Path, *argv: str, cwd: Path | None = None) -> tuple[int, set[str], str]:
    """Exit code, loaded modules and stdout + stderr of ``gateway *argv`` in a fresh interpreter."""
    report = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(report), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )
    assert report.exists(), proc.stderr
    data = json.loads(report.read_text())
    return data["rc"], set(data["modules"]), proc.stdout + proc.stderr


def _loaded(modules: set[str], prefix: str) -> list[str]:
    return sorted(m for m in modules if m == prefix or m.startswith(prefix + "."))


@pytest.mark.parametrize(
    "argv",
    [("journal", "runs"), ("journal", "verify"), ("journal", "verify", "--help")],
    ids=["runs", "verify", "verify-help"],
)
def test_journal_subcommands_load_neither_the_simulator_nor_aiohttp(
    journal_file: Path, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    rc, modules, out = _run(tmp_path, *argv, "--db", str(journal_file))
    assert rc == 0, out
    assert "gateway.journal.cli" in modules
    for heavy in _HEAVY:
        assert _loaded(modules, heavy) == [], f"`gateway {' '.join(argv)}` imported {heavy}"


def test_top_level_help_lists_every_subcommand_and_imports_none(tmp_path: Path) -> None:
    rc, modules, out = _run(tmp_path, "--help")
    assert rc == 0
    for command in SUBCOMMANDS:
        # argparse wraps long help texts: compare with whitespace folded
        assert command.name in out and " ".join(command.help.split()) in " ".join(out.split())
        module = command.add_arguments.partition(":")[0]
        assert module not in modules, f"`gateway --help` imported {module}"
    assert {m.name for m in SUBCOMMANDS} == {"demo", "sim", "journal", "replica", "bench"}


def test_the_chosen_subcommand_is_the_one_imported(tmp_path: Path) -> None:
    rc, modules, out = _run(tmp_path, "sim", "--help")
    assert rc == 0 and "--seed" in out
    assert "venues.sim.cli" in modules
    assert _loaded(modules, "gateway.journal") == []
    assert "gateway.demo" not in modules and _loaded(modules, "benchmarks") == []


def test_a_subcommand_whose_module_is_missing_says_so(tmp_path: Path) -> None:
    # Outside the source checkout `benchmarks` is not importable; the other subcommands still are.
    rc, modules, out = _run(tmp_path, "bench", "--quick", cwd=tmp_path)
    assert rc == 2
    assert "`gateway bench` is not available here: No module named 'benchmarks'" in out
    assert _loaded(modules, "venues.sim") == []
