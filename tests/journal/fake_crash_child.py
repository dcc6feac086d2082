"""Child for the venue-independent crash test: a journaled Gateway over a fake venue, then SIGKILL.

The fake venue's ground truth is an append-only file: ``submit`` writes the client order id
there with ``os.write`` (in the kernel at once, so it survives SIGKILL) before answering, so
the parent knows exactly which orders "reached the venue". Answers are seeded: ACCEPTED
(order rests), UNKNOWN_EXECUTION (written, answer lost) or REJECTED (never written).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from decimal import Decimal

from gateway import CommandStatus, Gateway, OrderRequest, OrderType, Side
from gateway.journal import IntentEntry, Journal
from gateway.model import CommandReceipt
from tests.unit.fakes import BTC, ScriptedVenue


class TruthFileVenue(ScriptedVenue):
    def __init__(self, truth_path: str, rng: random.Random) -> None:
        super().__init__()
        self.fd = os.open(truth_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.rng = rng

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        await asyncio.sleep(0)  # let other submitters interleave, as a network send would
        roll = self.rng.random()
        status = CommandStatus.REJECTED if roll < 0.15 else CommandStatus.UNKNOWN_EXECUTION if roll < 0.3 else None
        if status is not CommandStatus.REJECTED:
            os.write(self.fd, f"{request.client_order_id}\n".encode())
        await asyncio.sleep(0)
        self.script.append(status or CommandStatus.ACCEPTED)
        return await super().submit(request)


async def main(db: str, truth: str, seed: int, orders: int, durability: str) -> None:
    rng = random.Random(seed)
    journal = Journal(db, durability=durability)  # type: ignore[arg-type]

    def on_item(item: object) -> None:
        if isinstance(item, IntentEntry):
            sys.stdout.write(f"I {item.command_id}\n")
            sys.stdout.flush()

    journal.subscribe(on_item)
    venue = TruthFileVenue(truth, rng)
    async with Gateway(venues=[venue], journal=journal, reconcile=None, client_id_prefix=f"s{seed}") as gw:
        print("ready", flush=True)

        async def one() -> None:
            request = OrderRequest(
                venue="fake",
                instrument=BTC,
                side=Side.BUY,
                type=OrderType.LIMIT,
                quantity=Decimal("0.01"),
                price=Decimal("50000"),
            )
            handle = await gw.submit(request)
            print(f"A {handle.command_id} {handle.ack.receipt.status.value}", flush=True)

        sent = 0
        while sent < orders:
            n = min(orders - sent, rng.randint(1, 4))
            await asyncio.gather(*(one() for _ in range(n)))
            sent += n
        print("done", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    db, truth, seed, orders, durability = sys.argv[1:6]
    asyncio.run(main(db, truth, int(seed), int(orders), durability))
