"""Ledger fixtures: every gate test runs on the in-process ledger (and on Redis, when available)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from risk import InMemoryLedger, Ledger


@pytest_asyncio.fixture(params=["memory"])
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[Ledger]:
    yield InMemoryLedger()
