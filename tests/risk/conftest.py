"""Ledger fixtures: every gate test runs on the in-process ledger and on a real redis-server.

``redis_url`` starts ``redis-server`` on a free loopback port for the session (``make test``
installs the binary when it is missing).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from risk import InMemoryLedger, Ledger
from risk.redis_ledger import RedisLedger


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test`, which installs it")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.02)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def ledger_namespace() -> str:
    """The Redis namespace of this test's ``ledger`` (a second client on it shares its state)."""
    return f"test:{uuid.uuid4().hex}"


@pytest_asyncio.fixture(params=["memory", "redis"])
async def ledger(request: pytest.FixtureRequest, ledger_namespace: str) -> AsyncIterator[Ledger]:
    if request.param == "memory":
        yield InMemoryLedger()
        return
    url = request.getfixturevalue("redis_url")
    ledger = RedisLedger(url, namespace=ledger_namespace)
    yield ledger
    await ledger.clear()
    await ledger.close()
