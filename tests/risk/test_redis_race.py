"""Four OS processes, 1,000 concurrent submits, one redis-server: the gate admits exactly N."""

from __future__ import annotations

import subprocess
import sys
import uuid
from decimal import Decimal

import pytest

from risk import PortfolioGate, RiskLimits, RiskRejected
from risk.redis_ledger import RedisLedger
from tests.risk.test_gate import order


def test_processes_sharing_redis_admit_exactly_n(redis_url: str) -> None:
    namespace = f"race:{uuid.uuid4().hex}"
    cap = "18500"  # 37 orders of 500 fit; the 38th would exceed it
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.risk.race_worker", redis_url, namespace, str(w), cap],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    admitted = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    print(f"admitted per process: {admitted}")
    assert sum(admitted) == 37


async def test_unreachable_redis_fails_closed() -> None:
    gate = PortfolioGate(
        RiskLimits(max_gross_exposure=Decimal("1000")), RedisLedger("redis://127.0.0.1:1/0", namespace="nowhere")
    )
    with pytest.raises(RiskRejected, match=r"portfolio gate unavailable \(Redis"):
        await gate.check_and_reserve(order("a"), None)
    await gate.close()
