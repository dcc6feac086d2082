"""pytest plugin (entry point ``pytest11``): the ``gateway_sim`` fixture and a fault-scripting helper.

A strategy team can write::

    async def test_my_strategy(gateway_sim, sim_faults):
        sim_faults.add(Fault(FaultKind.ACCEPT_THEN_TIMEOUT, venue="binance"))
        venue = BinanceUsdm(gateway_sim.api_key, gateway_sim.api_secret,
                            rest_url=gateway_sim.binance.rest_url, ...)

Markers: ``sim`` (needs the simulator), ``slow`` (long-running), ``redis`` (needs redis-server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from venues.sim.faults import FaultPlan
from venues.sim.server import SimExchange


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sim: the test runs against the embedded venue simulator")
    config.addinivalue_line("markers", "slow: a long-running test (fault campaigns, crash drills)")
    config.addinivalue_line("markers", "redis: the test needs a real redis-server")


@pytest_asyncio.fixture
async def gateway_sim() -> AsyncIterator[SimExchange]:
    """A running ``SimExchange`` on 127.0.0.1 (free port), closed after the test."""
    async with SimExchange(seed=1234) as sim:
        yield sim


@pytest.fixture
def sim_faults(gateway_sim: SimExchange) -> FaultPlan:
    """The running simulator's ``FaultPlan``: ``add(Fault(...))``, ``start_campaign(...)``."""
    return gateway_sim.faults
