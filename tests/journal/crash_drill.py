"""Crash drill: a child process submits orders through a journaled Gateway and is SIGKILLed.

Run as a script, this file is the child: it connects ``BinanceUsdm`` to a simulator whose
URLs and credentials come on the command line, opens ``Gateway(journal=--db)`` and submits
orders in small concurrent groups, printing ``I <cid>`` when an intent is journaled (before
its send) and ``A <cid> <status>`` when the ack is in. The parent (``run_seed``, used by the
test suite and by ``benchmarks/bench_journal.py``) owns the simulator, kills the child with
SIGKILL after a seeded number of those lines, then recovers in-process with the same journal
and checks the promise against the simulator's ground truth:

- every order that exists at the venue has an ``Intent`` entry (0 lost);
- no client order id was created twice (0 duplicated);
- every journaled create resolves to the truth: REJECTED iff the venue never had it,
  otherwise ACCEPTED with the venue's order id and state.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import random
import signal
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve()

BTC = "BTC/USDT:USDT"


@dataclass
class SeedResult:
    seed: int
    killed_after_lines: int
    intents: int = 0
    venue_orders: int = 0
    recovered: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.mismatched or self.unresolved)


# ---------------------------------------------------------------------- child


async def child_main(args: argparse.Namespace) -> None:
    from gateway import Gateway, OrderRequest, OrderType, Side, TimeInForce, Transport
    from gateway.journal import IntentEntry, Journal

    BinanceUsdm = importlib.import_module("venues.binance").BinanceUsdm

    rng = random.Random(args.seed)
    venue = BinanceUsdm(
        args.api_key,
        args.api_secret,
        rest_url=args.rest_url,
        ws_api_url=args.ws_api_url,
        stream_url=args.stream_url,
        recv_window_ms=1000,
        request_timeout=5.0,
    )
    journal = Journal(args.db)

    def on_item(item: object) -> None:
        if isinstance(item, IntentEntry):
            sys.stdout.write(f"I {item.command_id}\n")
            sys.stdout.flush()

    journal.subscribe(on_item)
    async with Gateway(venues=[venue], journal=journal, reconcile=None, client_id_prefix=f"s{args.seed}") as gw:
        print("ready", flush=True)
        resting: list[str] = []

        async def one() -> None:
            kind = rng.random()
            transport = rng.choice([Transport.REST, Transport.WEBSOCKET])
            if kind < 0.15 and resting:
                from gateway import CancelRequest

                cid = resting.pop(rng.randrange(len(resting)))
                handle = await gw.cancel(
                    CancelRequest(venue="binance", instrument=BTC, client_order_id=cid, transport=transport)
                )
            else:
                if kind < 0.55:
                    price, tif = Decimal("40000.0"), TimeInForce.GTC  # rests
                elif kind < 0.8:
                    price, tif = Decimal("60000.0"), TimeInForce.GTC  # crosses the mark: fills
                else:
                    price, tif = Decimal("40000.0"), TimeInForce.IOC  # expires at once
                request = OrderRequest(
                    venue="binance",
                    instrument=BTC,
                    side=Side.BUY,
                    type=OrderType.LIMIT,
                    quantity=Decimal("0.001"),
                    price=price,
                    time_in_force=tif,
                    transport=transport,
                )
                handle = await gw.submit(request)
                if tif is TimeInForce.GTC and price < 50000 and handle.client_order_id:
                    resting.append(handle.client_order_id)
            print(f"A {handle.command_id} {handle.ack.receipt.status.value}", flush=True)

        for _ in range(args.groups):
            await asyncio.gather(*(one() for _ in range(rng.randint(1, 3))))
        print("done", flush=True)
        await asyncio.Event().wait()  # the parent kills us; never a clean close


# ---------------------------------------------------------------------- parent


async def run_seed(seed: int, directory: Path, *, groups: int = 4, timeout: float = 30.0) -> SeedResult:
    """One drill: start the simulator, run and kill the child, recover, check against the truth."""
    from venues.sim import Fault, FaultKind, SimExchange

    rng = random.Random(seed)
    db = directory / f"crash-{seed}.db"
    async with SimExchange(seed=seed) as sim:
        for _ in range(rng.randint(0, 2)):
            kind = rng.choice([FaultKind.ACCEPT_THEN_5XX, FaultKind.REJECT_THEN_5XX, FaultKind.ACCEPT_THEN_RESET])
            sim.faults.add(Fault(kind, venue="binance", times=1))
        b = sim.binance
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), "--db", str(db), "--seed", str(seed), "--groups", str(groups),
            "--api-key", sim.api_key, "--api-secret", sim.api_secret,
            "--rest-url", b.rest_url, "--ws-api-url", b.ws_api_url, "--stream-url", b.stream_url,
            stdout=asyncio.subprocess.PIPE, env=env, cwd=str(ROOT),
        )  # fmt: skip
        kill_at = rng.randint(0, groups * 2 * 3)
        lines = 0
        assert proc.stdout is not None
        try:
            while True:
                raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
                if not raw:
                    raise AssertionError(f"seed {seed}: the child exited on its own (rc={await proc.wait()})")
                if raw.startswith((b"I ", b"A ")):
                    lines += 1
                if raw.startswith(b"done") or (lines >= kill_at and not raw.startswith(b"ready")):
                    break
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert proc.returncode == -signal.SIGKILL, f"seed {seed}: child rc {proc.returncode}"
        result = SeedResult(seed, lines)
        await _recover_and_check(sim, db, result)
    return result


async def _recover_and_check(sim: Any, db: Path, result: SeedResult) -> None:
    from gateway import CommandStatus, Gateway
    from gateway.journal import JournalReader
    from gateway.replica import StateReplica
    from reconcile import ReconcilePolicy

    BinanceUsdm = importlib.import_module("venues.binance").BinanceUsdm

    b = sim.binance
    venue = BinanceUsdm(
        sim.api_key, sim.api_secret, rest_url=b.rest_url, ws_api_url=b.ws_api_url, stream_url=b.stream_url,
        recv_window_ms=1000,
    )  # fmt: skip
    policy = ReconcilePolicy(grace_seconds=1.0, deadline_seconds=20.0, interval_seconds=0.1, skew_seconds=2.0)
    async with Gateway(venues=[venue], journal=db, reconcile=policy) as gw:
        with JournalReader(db) as reader:
            intents = [e for e in reader.entries() if e.kind == "Intent"]
            result.recovered = sum(1 for e in reader.entries() if e.kind == "Recovered")
        result.intents = len(intents)
        for entry in intents:
            cid = entry.command_id or ""
            handle = gw.handle(cid)
            if handle is None:
                result.unresolved.append(f"{cid}: no handle")
                continue
            # Returns at once for a settled one; a recovered one waits for its reconciliation.
            try:
                await handle.resolved(timeout=25)
            except TimeoutError:
                result.unresolved.append(f"{cid}: still unknown")
    # Everything the journal says, all runs, against the venue's truth.
    replica = StateReplica(strict=False)
    with JournalReader(db) as reader:
        for run in reader.runs():
            replica.apply_all(reader.audit_items(run.run_id))
    creates = {e.command_id for e in intents if e.command_id and not e.command_id.startswith("cx-")}
    truth = sim.truth.orders("binance")
    result.venue_orders = len(truth)
    result.lost = sorted(o.client_order_id for o in truth if o.client_order_id not in creates)
    result.duplicated = sim.truth.duplicates("binance")
    for cid in sorted(creates):
        state = replica.command(cid)
        order = sim.truth.order(cid, "binance")
        status = state.status if state is not None else None
        if order is None:
            if status is not CommandStatus.REJECTED:
                result.mismatched.append(f"{cid}: journal {status}, venue has no order")
            continue
        assert state is not None
        if status is not CommandStatus.ACCEPTED or state.order_id != order.order_id:
            result.mismatched.append(f"{cid}: journal {status} order {state.order_id}, venue {order.order_id}")
        elif state.order_state is None or state.order_state.value != order.status:
            result.mismatched.append(f"{cid}: journal state {state.order_state}, venue {order.status}")


FAKE_CHILD = Path(__file__).resolve().parent / "fake_crash_child.py"


async def fake_venue_drill(seed: int, directory: Path) -> dict[str, int]:
    """The venue-independent drill: a fake venue whose truth is an append-only file (see fake_crash_child)."""
    from gateway.journal import Journal, JournalReader, RunStatus

    rng = random.Random(seed)
    db, truth = directory / f"j-{seed}.db", directory / f"truth-{seed}.txt"
    orders = rng.randint(3, 12)
    durability = "power" if seed % 5 == 0 else "process"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(FAKE_CHILD), str(db), str(truth), str(seed), str(orders), durability,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT),
    )  # fmt: skip
    kill_at = rng.randint(0, 2 * orders)
    lines = 0
    assert proc.stdout is not None
    try:
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert raw, f"seed {seed}: child exited by itself (rc {await proc.wait()})"
            if raw.startswith((b"I ", b"A ")):
                lines += 1
            if raw.startswith(b"done") or (lines >= kill_at and not raw.startswith(b"ready")):
                break
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    sent = truth.read_text().split() if truth.exists() else []
    journal = Journal(db)
    recovered = await journal.open_run(["fake"])
    await journal.close()
    with JournalReader(db) as reader:
        intents = {e.command_id for e in reader.entries() if e.kind == "Intent"}
        runs = reader.runs()
        chains_ok = all(r.ok for r in reader.verify())
    lost = [cid for cid in sent if cid not in intents]
    assert lost == [], f"seed {seed}: orders at the venue without an intent: {lost}"
    assert len(sent) == len(set(sent)), f"seed {seed}: an order reached the venue twice"
    recovered_ids = {r.command.command_id for r in recovered}
    assert set(sent) <= recovered_ids, f"seed {seed}: not handed to the reconciler: {set(sent) - recovered_ids}"
    assert recovered_ids <= intents
    assert runs[0].status is RunStatus.CRASHED_RECOVERED
    assert chains_ok
    return {"sent": len(sent), "intents": len(intents), "recovered": len(recovered_ids), "lines": lines}


async def campaign(seeds: list[int], directory: Path, *, parallel: int = 2, sim: bool = False) -> list[Any]:
    """Run drills in parallel batches; ``sim=True`` uses the simulator + BinanceUsdm drill."""
    out: list[Any] = []
    for i in range(0, len(seeds), parallel):
        batch = seeds[i : i + parallel]
        if sim:
            out += await asyncio.gather(*(run_seed(seed, directory) for seed in batch))
        else:
            out += await asyncio.gather(*(fake_venue_drill(seed, directory) for seed in batch))
    return out


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    for name in ("--db", "--api-key", "--api-secret", "--rest-url", "--ws-api-url", "--stream-url"):
        p.add_argument(name, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--groups", type=int, default=4)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(child_main(_parse(sys.argv[1:])))
