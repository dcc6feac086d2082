"""Check-and-reserve throughput: in-process ledger and Redis (one client, one script call per check).

A regression means the gate costs more per order than the goals: ≥100k/s in-process,
≥5k/s on Redis with one client (sequential, no pipelining: each check is one round trip).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from decimal import Decimal
from typing import Any

from gateway.model import OrderRequest, OrderType, Side
from risk import InMemoryLedger, PortfolioGate, RiskLimits
from risk.redis_ledger import RedisLedger

LIMITS = RiskLimits(
    max_gross_exposure=Decimal("1e12"), max_notional_per_order=Decimal("1e9"), max_position_notional=Decimal("1e12")
)


def _requests(start: int, n: int) -> list[OrderRequest]:
    return [
        OrderRequest(
            venue="v",
            instrument="BTC/USDT:USDT",
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal("0.001"),
            price=Decimal("50000"),
            client_order_id=f"b{i}",
        )
        for i in range(start, start + n)
    ]


async def _rate(gate: PortfolioGate, total: int, batch: int) -> float:
    """Time only the checks. Each batch's requests are built before its clock starts and released
    after it stops (keeping ~``batch`` live reservations), so the figure is the gate's work, not
    the garbage collector walking a pre-built list of ``total`` requests."""
    spent = 0.0
    perf = time.perf_counter
    for start in range(0, total, batch):
        chunk = _requests(start, batch)
        t0 = perf()
        for request in chunk:
            await gate.check_and_reserve(request, None)
        spent += perf() - t0
        for request in chunk:
            await gate.ledger.release(request.client_order_id or "")
    return total / spent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(quick: bool = False) -> dict[str, Any]:
    n_mem, n_redis = (20_000, 2_000) if quick else (100_000, 10_000)
    out: dict[str, Any] = {}
    out["in_process_checks_per_s"] = round(await _rate(PortfolioGate(LIMITS, InMemoryLedger()), n_mem, 50))
    binary = shutil.which("redis-server")
    if binary is None:
        out["redis"] = "redis-server not installed (make bench installs it)"
        return out
    port = _free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - setup, outside any timed region
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ledger = RedisLedger(f"redis://127.0.0.1:{port}/0", namespace=f"bench:{uuid.uuid4().hex}")
        for _ in range(100):
            try:
                await ledger.snapshot()
                break
            except Exception:
                await asyncio.sleep(0.05)
        gate = PortfolioGate(LIMITS, ledger)
        out["redis_checks_per_s_one_client"] = round(await _rate(gate, n_redis, 50))
        await ledger.close()
    finally:
        proc.terminate()
        proc.wait(5)
    out["goals"] = {"in_process_checks_per_s": ">= 100000", "redis_checks_per_s_one_client": ">= 5000"}
    return out


if __name__ == "__main__":
    print(asyncio.run(main(quick=True)))
