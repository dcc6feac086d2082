"""Child process for the multi-process race: 250 concurrent check-and-reserves on a shared Redis ledger."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

from gateway.model import OrderRequest, OrderType, Side
from risk import PortfolioGate, RiskLimits, RiskRejected
from risk.redis_ledger import RedisLedger


async def main(url: str, namespace: str, worker: int, cap: str) -> int:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal(cap)), RedisLedger(url, namespace=namespace))

    async def attempt(i: int) -> bool:
        request = OrderRequest(
            venue="v",
            instrument="BTC/USDT:USDT",
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal("0.01"),
            price=Decimal("50000"),
            client_order_id=f"w{worker}-{i}",
        )
        try:
            await gate.check_and_reserve(request, None)
            return True
        except RiskRejected:
            return False

    admitted = sum(await asyncio.gather(*(attempt(i) for i in range(250))))
    await gate.close()
    return admitted


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])))
