"""The pytest11 plugin never breaks a pytest run in an environment without pytest-asyncio.

Installed without extras, the package still registers ``venues.sim.pytest_plugin`` with every pytest
in that environment. Each check runs a fresh interpreter in which a ``sys.meta_path`` finder makes
``pytest_asyncio`` unimportable, as if it were not installed (no network, nothing installed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_PYTEST_ASYNCIO = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name == "pytest_asyncio" or name.startswith("pytest_asyncio."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = os.environ | env
    # the checkout under test comes first, also when the venv's editable install points elsewhere
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-c", BLOCK_PYTEST_ASYNCIO + code],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_entry_point_names_this_plugin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"order_gateway": "venues.sim.pytest_plugin"}


def test_the_plugin_imports_without_pytest_asyncio(tmp_path: Path) -> None:
    done = run_python(
        "import venues.sim.pytest_plugin as p\n"
        "assert p.pytest_asyncio is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('pytest_asyncio')))\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_pytest_run_without_pytest_asyncio_passes_and_only_gateway_sim_errors(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_unrelated.py").write_text(
        "def test_unrelated():\n    assert 1 + 1 == 2\n\n\ndef test_wants_the_sim(gateway_sim):\n    pass\n"
    )
    done = run_python(
        "import pytest\n"
        "sys.exit(pytest.main(['-p', 'venues.sim.pytest_plugin', '-p', 'no:cacheprovider', '-rE', '-q',"
        " '-c', 'pytest.ini', 'test_unrelated.py']))\n",
        tmp_path,
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",  # loads only the plugin named by -p, as if nothing else were installed
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out  # tests failed; 3 would be an internal error, 4 a usage error
    assert "1 passed, 1 error" in out, out
    assert "ERROR test_unrelated.py::test_wants_the_sim" in out, out
    assert 'pip install "order-gateway[pytest]"' in out, out
    assert "Traceback" not in out, out
