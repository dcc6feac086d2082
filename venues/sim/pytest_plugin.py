"""pytest plugin (entry point ``pytest11``): the ``gateway_sim`` fixture and a fault-scripting helper.

A strategy team can write::

    async def test_my_strategy(gateway_sim, sim_faults):
        sim_faults.add(Fault(FaultKind.ACCEPT_THEN_TIMEOUT, venue="binance"))
        venue = BinanceUsdm(gateway_sim.api_key, gateway_sim.api_secret,
                            rest_url=gateway_sim.binance.rest_url, ...)

``gateway_sim`` is an async fixture and needs pytest-asyncio (``pip install "order-gateway[pytest]"``)
with ``asyncio_mode = "auto"`` or ``@pytest.mark.asyncio`` on each test.

pytest loads this module in every run of every environment the package is installed in, also
without pytest-asyncio and in suites that never touch the simulator. So pytest-asyncio is optional
here: without it ``gateway_sim`` still exists but errors the test that asks for it, naming the
missing extra, and every other test runs as if the plugin were not there.

Markers: ``sim`` (needs the simulator), ``slow`` (long-running), ``redis`` (needs redis-server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from venues.sim.faults import FaultPlan
from venues.sim.server import SimExchange

try:
    import pytest_asyncio
except ImportError:
    pytest_asyncio = None  # type: ignore[assignment]

MISSING_PYTEST_ASYNCIO = (
    "the gateway_sim fixture is async and needs pytest-asyncio, which is not installed: "
    'pip install "order-gateway[pytest]" (then set asyncio_mode = "auto" or mark the test @pytest.mark.asyncio)'
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sim: the test runs against the embedded venue simulator")
    config.addinivalue_line("markers", "slow: a long-running test (fault campaigns, crash drills)")
    config.addinivalue_line("markers", "redis: the test needs a real redis-server")


async def _running_sim() -> AsyncIterator[SimExchange]:
    """A running ``SimExchange`` on 127.0.0.1 (free port), closed after the test."""
    async with SimExchange(seed=1234) as sim:
        yield sim


def _without_pytest_asyncio() -> SimExchange:
    """Stands in for ``gateway_sim`` when pytest-asyncio is missing: errors (at setup) only the tests that use it."""
    pytest.fail(MISSING_PYTEST_ASYNCIO, pytrace=False)


if pytest_asyncio is not None:
    gateway_sim = pytest_asyncio.fixture(_running_sim, name="gateway_sim")
else:
    gateway_sim = pytest.fixture(_without_pytest_asyncio, name="gateway_sim")


@pytest.fixture
def sim_faults(gateway_sim: SimExchange) -> FaultPlan:
    """The running simulator's ``FaultPlan``: ``add(Fault(...))``, ``start_campaign(...)``."""
    return gateway_sim.faults
