"""The `gateway` command's event loop (gateway/loop.py): uvloop when installed, asyncio's on request or without it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from gateway import loop

_PROBE = """
import asyncio, json, sys
from gateway.loop import install
picked = install()
async def which():
    return type(asyncio.get_running_loop()).__module__
print(json.dumps([picked, asyncio.run(which())]))
"""


def _run(env: dict[str, str]) -> list[str]:
    """(what install() picked, the module of the loop asyncio.run then made), in a fresh interpreter."""
    command = [sys.executable, "-c", _PROBE]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_uvloop_runs_every_asyncio_run_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv("GATEWAY_LOOP", raising=False)
    assert loop.choice() == "uvloop"
    picked, module = _run({k: v for k, v in os.environ.items() if k != "GATEWAY_LOOP"})
    assert picked == "uvloop" and module.startswith("uvloop")


def test_gateway_loop_asyncio_keeps_asyncio_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_LOOP", "asyncio")
    assert loop.choice() == "asyncio"
    picked, module = _run({**os.environ, "GATEWAY_LOOP": "asyncio"})
    assert picked == "asyncio" and module.startswith("asyncio")


def test_without_uvloop_the_choice_is_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_LOOP", raising=False)
    monkeypatch.setattr(loop.importlib.util, "find_spec", lambda name: None)
    before = asyncio.get_event_loop_policy()
    assert loop.install() == "asyncio"
    assert asyncio.get_event_loop_policy() is before  # nothing installed
