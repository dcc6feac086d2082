"""The audit stream on NATS JetStream (gateway/replication): publish throughput, `before_send` cost, takeover time.

- publish throughput: 50 concurrent tasks record commands (an intent and its ack, as ``Gateway``
  does) through ``ReplicatedJournal`` (``intents="tail"``) on a single nats-server as fast as the
  loop allows; audit items per second from the first intent until JetStream acknowledged the last.
- submit cost: one command's journal work, sequential (what a send waits for), in the default
  mode and in ``before_send`` on a 3-node loopback cluster with a replicated stream (R3): median
  and p99 µs; and 50 concurrent submitters' commands per second in ``before_send``.
- takeover: ``failover.run_drill`` over seeds, in both modes: the primary process SIGKILLed at a
  seeded point, the standby serving (median and max seconds); every drill judged against the
  simulator's truth, and the tail mode's window (commands whose intent had not reached JetStream).

Everything runs on loopback on this machine; the servers' JetStream stores are in $TMPDIR.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.journal import Journal
from gateway.model import (
    Ack,
    CommandAck,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderRequest,
    OrderType,
    Side,
    utc_now,
)
from gateway.ports import PendingCommand
from gateway.replication.failover import run_drill
from gateway.replication.link import NatsLink
from gateway.replication.replicated import IntentMode, ReplicatedJournal
from gateway.replication.server import NatsCluster
from venues.sim import SimExchange

BTC = "BTC/USDT:USDT"


def _command(i: int) -> PendingCommand:
    cid = f"b-{i}"
    request = OrderRequest(
        venue="binance", instrument=BTC, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.001"),
        price=Decimal("40000"), client_order_id=cid,
    )  # fmt: skip
    return PendingCommand(cid, CommandOperation.CREATE_ORDER, "binance", BTC, cid, None, utc_now(), 5000, request)


def _ack(seq: int, cid: str) -> Ack:
    receipt = CommandReceipt(
        operation=CommandOperation.CREATE_ORDER, status=CommandStatus.ACCEPTED, venue="binance", instrument=BTC,
        client_order_id=cid, order_id=cid,
    )  # fmt: skip
    return Ack(sequence=seq, command_id=cid, ack=CommandAck(receipt=receipt, transport=None, acknowledged_at=utc_now()))


class _Seq:
    def __init__(self, start: int) -> None:
        self.value = start

    def next(self) -> int:
        self.value += 1
        return self.value


async def _one(journal: ReplicatedJournal, seq: _Seq, i: int) -> None:
    command = _command(i)
    await journal.record_intent(command, seq.next())
    journal.record_event(_ack(seq.next(), command.command_id))


async def _open(directory: Path, url: str, gid: str, mode: IntentMode, replicas: int) -> ReplicatedJournal:
    link = await NatsLink(url, gid, replicas=replicas).open()
    journal = ReplicatedJournal(Journal(directory / f"{gid}.db"), link, intents=mode, digest_every=10_000)
    await journal.open_run(["binance"])
    return journal


async def throughput(directory: Path, url: str, commands: int) -> dict[str, Any]:
    journal = await _open(directory, url, "tput", "tail", 1)
    seq = _Seq(journal.last_sequence)
    started = time.perf_counter()
    for first in range(0, commands, 50):
        await asyncio.gather(*(_one(journal, seq, i) for i in range(first, min(first + 50, commands))))
    submitted = time.perf_counter() - started
    await journal.inner.flush()
    assert journal.publisher is not None and await journal.publisher.drain(120)
    elapsed = time.perf_counter() - started
    items = journal.publisher.published
    await journal.close()
    await journal.link.close()
    return {
        "commands": commands,
        "audit_items_published": items,
        "audit_items_per_s": round(items / elapsed),
        "submit_side_commands_per_s": round(commands / submitted),
        "publisher_lag_at_end_ms": round((elapsed - submitted) * 1000, 1),
    }


async def submit_cost(directory: Path, url: str, mode: IntentMode, replicas: int, n: int) -> dict[str, Any]:
    journal = await _open(directory, url, f"cost{mode[0]}{replicas}", mode, replicas)
    seq = _Seq(journal.last_sequence)
    samples = []
    for i in range(n):
        command = _command(i)
        t = time.perf_counter()
        await journal.record_intent(command, seq.next())
        samples.append(time.perf_counter() - t)
        journal.record_event(_ack(seq.next(), command.command_id))
    concurrent = 0.0
    if mode == "before_send":
        started = time.perf_counter()
        total = n
        for first in range(n, n + total, 50):
            await asyncio.gather(*(_one(journal, seq, i) for i in range(first, first + 50)))
        concurrent = total / (time.perf_counter() - started)
    await journal.close()
    await journal.link.close()
    samples.sort()
    out = {
        "median_us": round(statistics.median(samples) * 1e6, 1),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1] * 1e6, 1),
    }
    if concurrent:
        out["concurrent_50_commands_per_s"] = round(concurrent)
    return out


async def takeovers(directory: Path, url: str, seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with SimExchange(seed=31) as sim:
        for mode in ("tail", "before_send"):
            results = []
            for first in range(1, seeds + 1, 2):
                batch = range(first, min(first + 2, seeds + 1))
                results += await asyncio.gather(
                    *(run_drill(s, directory / "drills", sim=sim, nats_url=url, mode=mode) for s in batch)  # type: ignore[arg-type]
                )
            times = sorted(r.takeover_seconds for r in results)
            out[mode] = {
                "kills": len(results),
                "ok": sum(r.ok for r in results),
                "takeover_median_s": times[len(times) // 2],
                "takeover_max_s": times[-1],
                "adopted": sum(r.adopted for r in results),
                "window_commands": sum(len(r.window) for r in results),
                "window_kills": sum(1 for r in results if r.window),
                "failed": [r.as_dict() for r in results if not r.ok][:3],
            }
    return out


async def main(quick: bool = False) -> dict[str, Any]:
    n = 200 if quick else 2_000
    with tempfile.TemporaryDirectory(prefix="bench-replication-") as tmp:
        directory = Path(tmp)
        async with NatsCluster(directory / "single", 1) as single:
            results: dict[str, Any] = {"publish": await throughput(directory, single.url, 2_000 if quick else 20_000)}
            results["submit_tail_single_node"] = await submit_cost(directory, single.url, "tail", 1, n)
            results["takeover"] = await takeovers(directory, single.url, 6 if quick else 50)
        async with NatsCluster(directory / "three", 3) as three:
            results["submit_tail_3_nodes"] = await submit_cost(directory, three.url, "tail", 3, n)
            results["submit_before_send_3_nodes"] = await submit_cost(directory, three.url, "before_send", 3, n)
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(main(quick=True)), indent=2))
