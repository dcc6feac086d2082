"""Journal cost: per-command overhead in `process` mode, and `power`-mode throughput with group commit.

- process overhead (sequential): one command's journal work as `Gateway` does it:
  `await record_intent(...)` (serialized and written to the intent log) plus `record_event(ack)`
  (buffered). The submit path (median per command: what a send waits for) has the goal
  ≤ 20 µs/command; the total per command also counts the batched flushes (serializing,
  chaining, inserting, one commit per batch) that run on the loop between sends.
  A regression in the first means every submit pays more before its bytes can leave.
- process, 50 concurrent: the same work from 50 tasks; intents recorded in one loop
  iteration share one commit, so the per-command cost is the elapsed time / commands.
- power throughput: 50 concurrent submitters each `await record_intent` (fsynced before it
  returns) then `record_event(ack)`; commands per second with group commit, and the same
  with one transaction + fsync per command (`group_commit=False`) as the baseline.
  Goal: ≥ 5,000 commands/s with group commit. A regression means concurrent strategies
  queue behind each other's fsyncs.

- crash campaign: ≥ 200 seeded SIGKILL drills with real child processes
  (``tests/journal/crash_drill.py``): orders lost and duplicated must both be 0. The fake-venue
  drill always runs; the simulator drill (BinanceUsdm + reconciler) runs when those exist.

Setup (requests, events, files) happens outside the timed regions; each figure is the
median of a few repeats on a fresh file in a temporary directory (the disk of $TMPDIR).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.journal import Durability, Journal
from gateway.model import (
    Ack,
    CommandAck,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    Transport,
    utc_now,
)
from gateway.ports import PendingCommand

_INSTRUMENT = "BTC/USDT:USDT"


def _commands(n: int, tag: str, first_sequence: int) -> list[tuple[PendingCommand, int, Ack]]:
    out = []
    seq = first_sequence
    for i in range(n):
        cid = f"bench-{tag}-{i}"
        request = OrderRequest(
            venue="binance",
            instrument=_INSTRUMENT,
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal("0.010"),
            price=Decimal("50000.1"),
            client_order_id=cid,
            transport=Transport.WEBSOCKET,
        )
        pending = PendingCommand(
            command_id=cid,
            operation=CommandOperation.CREATE_ORDER,
            venue="binance",
            instrument=_INSTRUMENT,
            client_order_id=cid,
            order_id=None,
            sent_at=utc_now(),
            recv_window_ms=5000,
            request=request,
            transport=Transport.WEBSOCKET,
        )
        receipt = CommandReceipt(
            operation=CommandOperation.CREATE_ORDER,
            status=CommandStatus.ACCEPTED,
            venue="binance",
            instrument=_INSTRUMENT,
            order_id=str(1_000_000 + i),
            client_order_id=cid,
            order_state=OrderState.NEW,
            filled_quantity=Decimal(0),
            transport=Transport.WEBSOCKET,
            sent_at=utc_now(),
            received_at=utc_now(),
        )
        ack = Ack(
            sequence=seq + 1,
            command_id=cid,
            ack=CommandAck(receipt=receipt, transport=Transport.WEBSOCKET, acknowledged_at=utc_now()),
        )
        out.append((pending, seq, ack))
        seq += 2
    return out


async def process_overhead_us(n: int, directory: Path, repeat: int) -> tuple[float, float, float]:
    """µs per command for record_intent + record_event(ack): (submit path median, p99, total with flushes).

    The submit path is what a send waits for (the intent serialized and written to the intent
    log, the ack buffered); the total adds the batched flushes (events serialized, rows chained
    and inserted, one commit per batch) that run on the loop between sends.
    """
    medians, p99s, totals = [], [], []
    perf = time.perf_counter
    for r in range(repeat):
        journal = Journal(directory / f"process-{r}.db", durability="process")
        await journal.open_run(["binance"])
        work = _commands(n, f"p{r}", journal.last_sequence + 1)
        each: list[float] = []
        start = perf()
        for pending, seq, ack in work:
            t0 = perf()
            await journal.record_intent(pending, seq)
            journal.record_event(ack)
            each.append(perf() - t0)
        await journal.flush()
        elapsed = perf() - start
        await journal.close()
        each.sort()
        medians.append(each[len(each) // 2] * 1e6)
        p99s.append(each[int(len(each) * 0.99)] * 1e6)
        totals.append(elapsed / n * 1e6)
    return statistics.median(medians), statistics.median(p99s), statistics.median(totals)


async def concurrent_throughput(
    total: int,
    submitters: int,
    directory: Path,
    *,
    group_commit: bool,
    repeat: int,
    tag: str,
    durability: Durability = "power",
) -> tuple[float, float]:
    """Median commands/s and commands per flush with ``submitters`` concurrent tasks."""
    rates, per_flush = [], []
    for r in range(repeat):
        journal = Journal(directory / f"{durability}-{tag}-{r}.db", durability=durability, group_commit=group_commit)
        await journal.open_run(["binance"])
        work = _commands(total, f"{tag}{r}", journal.last_sequence + 1)
        shares = [work[i::submitters] for i in range(submitters)]
        flushes_before = journal.flushes

        async def submitter(items: list[tuple[PendingCommand, int, Ack]], journal: Journal = journal) -> None:
            for pending, seq, ack in items:
                await journal.record_intent(pending, seq)
                journal.record_event(ack)

        start = time.perf_counter()
        await asyncio.gather(*(submitter(share) for share in shares))
        await journal.flush()
        elapsed = time.perf_counter() - start
        per_flush.append(total / max(1, journal.flushes - flushes_before))
        await journal.close()
        rates.append(total / elapsed)
    return statistics.median(rates), statistics.median(per_flush)


async def crash_campaign(seeds: int, directory: Path) -> dict[str, Any]:
    """SIGKILL drills; returns counts. A failed drill raises (it is a broken promise, not a figure)."""
    import importlib

    from tests.journal.crash_drill import SeedResult, campaign

    start = time.perf_counter()
    fake = await campaign(list(range(seeds)), directory)
    out: dict[str, Any] = {
        "crash_seeds_fake_venue": len(fake),
        "crash_orders_at_venue_fake": sum(s["sent"] for s in fake),
        "crash_lost_fake": 0,  # campaign() asserts none lost / duplicated / unrecovered
        "crash_seconds_fake": round(time.perf_counter() - start, 1),
    }
    try:
        importlib.import_module("venues.binance").BinanceUsdm  # noqa: B018 - probing
        importlib.import_module("reconcile.reconciler").Reconciler  # noqa: B018
    except (ImportError, AttributeError) as exc:
        out["crash_sim"] = f"skipped: {exc}"
        return out
    start = time.perf_counter()
    sim: list[SeedResult] = await campaign(list(range(seeds)), directory, sim=True)
    out.update(
        {
            "crash_seeds_sim": len(sim),
            "crash_orders_at_venue_sim": sum(r.venue_orders for r in sim),
            "crash_recovered_sim": sum(r.recovered for r in sim),
            "crash_lost_sim": sum(len(r.lost) for r in sim),
            "crash_duplicated_sim": sum(len(r.duplicated) for r in sim),
            "crash_mismatched_sim": sum(len(r.mismatched) + len(r.unresolved) for r in sim),
            "crash_seconds_sim": round(time.perf_counter() - start, 1),
        }
    )
    # Keep what went wrong, seed by seed, so a rare case can be replayed with run_seed(seed, ...).
    failures = [
        {
            "seed": r.seed,
            "killed_after_lines": r.killed_after_lines,
            "lost": r.lost,
            "duplicated": r.duplicated,
            "mismatched": r.mismatched,
            "unresolved": r.unresolved,
        }
        for r in sim
        if not r.ok
    ]
    if failures:
        out["crash_failures_sim"] = failures
    return out


async def main(quick: bool = False) -> dict[str, Any]:
    n = 2_000 if quick else 20_000
    total = 2_000 if quick else 10_000
    baseline_total = 500 if quick else 2_000
    repeat = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        directory = Path(tmp)
        submit_path, submit_p99, overhead = await process_overhead_us(n, directory, repeat)
        grouped, per_flush = await concurrent_throughput(
            total, 50, directory, group_commit=True, repeat=repeat, tag="g"
        )
        single, _ = await concurrent_throughput(
            baseline_total, 50, directory, group_commit=False, repeat=repeat, tag="s"
        )
        process_rate, _ = await concurrent_throughput(
            total, 50, directory, group_commit=True, repeat=repeat, tag="pc", durability="process"
        )
        crash = await crash_campaign(20 if quick else 200, directory)
    return {
        "process_submit_path_us_median": round(submit_path, 2),
        "process_submit_path_us_p99": round(submit_p99, 2),
        "process_overhead_us_per_command": round(overhead, 2),
        "process_commands": n,
        "process_50_concurrent_us_per_command": round(1e6 / process_rate, 2),
        "power_group_commit_commands_per_s": round(grouped),
        "power_commands_per_flush": round(per_flush, 1),
        "power_one_fsync_per_command_commands_per_s": round(single),
        "power_concurrent_submitters": 50,
        **crash,
        "goals": {"process_submit_path_us_median": "<= 20", "power_group_commit_commands_per_s": ">= 5000"},
    }


if __name__ == "__main__":
    import logging
    import sys

    logging.getLogger("gateway.journal").setLevel(logging.ERROR)
    results = asyncio.run(main(quick="--quick" in sys.argv))
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
