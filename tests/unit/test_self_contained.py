"""The test suite reads nothing outside the repository: a plain ``git clone`` is enough to run it.

Every ``tests/`` source is scanned for paths that climb out of the checkout: ``.parents[n]`` or a
``.parent`` chain reaching above the repository root, ``..`` path parts, and the team's sibling
``shared`` folder (fixtures and venue sheets live in ``tests/fixtures`` and ``docs/venues`` now).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"

_PARENTS = re.compile(r"\.parents\[(\d+)\]")
_PARENT_CHAIN = re.compile(r"(?:\.parent\b){2,}")
# a quoted path part "..", a "../" or "..\" step, or the sibling shared folder by name
_ESCAPES = re.compile(r"""(["'/\\]\.\.(?:["'/\\]))|(\bshared/(?:fixtures|venues)\b)|(/work/)""")


def escapes(path: Path, text: str) -> list[str]:
    """``"file:line: why"`` for each line of ``text`` (the source of ``path``) that reaches outside ``ROOT``."""
    found: list[str] = []
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for lineno, line in enumerate(text.splitlines(), 1):
        where = f"{rel}:{lineno}"
        for m in _PARENTS.finditer(line):
            n = int(m.group(1))
            if n >= len(path.parents) or not path.parents[n].is_relative_to(ROOT):
                found.append(f"{where}: .parents[{n}] is above the repository root: {line.strip()}")
        for m in _PARENT_CHAIN.finditer(line):
            n = m.group(0).count(".parent") - 1
            if n >= len(path.parents) or not path.parents[n].is_relative_to(ROOT):
                found.append(f"{where}: {m.group(0)} is above the repository root: {line.strip()}")
        for m in _ESCAPES.finditer(line):
            found.append(f"{where}: {m.group(0)!r} points outside the repository: {line.strip()}")
    return found


def test_no_test_source_reads_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    sources = [p for p in sorted(TESTS.rglob("*.py")) if p != this]
    assert len(sources) > 20  # the scan really walked the suite
    found = [hit for p in sources for hit in escapes(p, p.read_text(encoding="utf-8"))]
    assert not found, "tests reach outside the repository:\n" + "\n".join(found)


def test_the_scan_flags_each_way_out_and_passes_paths_inside() -> None:
    here = TESTS / "binance" / "conftest.py"
    bad = [
        'FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"',
        "ROOT = Path(__file__).resolve().parent.parent.parent.parent",
        'data = (HERE / ".." / ".." / "x.json").read_bytes()',
        'p = Path("../shared/fixtures/binance_usdm.json")',
        'p = Path("/work/shared/venues/README.md")',
    ]
    for line in bad:
        assert escapes(here, line), line
    good = [
        "ROOT = Path(__file__).resolve().parents[2]",
        "ROOT = Path(__file__).resolve().parent.parent",
        "for p in here.parents: pass",
        'FIXTURES = ROOT / "tests" / "fixtures"',
        "assert a.shared() == 1.5  # ledger shared by two gates",
        "x = ...",
    ]
    for line in good:
        assert not escapes(here, line), line
