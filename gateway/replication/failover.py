"""Failover drills: a primary process trading on the simulator is SIGKILLed; the standby takes over and settles.

Run as ``python -m gateway.replication.failover primary|standby ...`` this module is the child
process; ``run_drill`` (tests, ``benchmarks/bench_replication.py``, ``gateway demo --failover``)
is the parent. The parent owns the simulator and the nats-server, so both outlive the primary:

1. the primary (``Node`` + ``Gateway`` over ``BinanceUsdm``) takes the lead and sends a seeded
   mix of resting, filling and expiring orders and cancels, printing ``I <id>`` when an intent
   is journaled and ``A <id> <status>`` when it is answered;
2. the parent kills it with SIGKILL after a seeded number of those lines;
3. the standby (in the parent, or its own process with ``standby_process=True``), which was
   following the stream and the heartbeat all along, takes the next epoch once the heartbeat is
   gone, adopts every command without a final outcome, reconciles them (trigger STARTUP) and
   serves two new submits;
4. ``judge`` reads the stream back into a replica and checks every command against the
   simulator's ground truth: 0 wrong, 0 duplicates, 0 sent twice, 0 unresolved. An order the
   venue has but the stream never named is the *window*: in ``tail`` mode, a command whose
   intent had not reached JetStream when the host died (reported, by name); in ``before_send``
   mode there must be none.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.replication.lease import LeaseConfig
from gateway.replication.replicated import IntentMode

__all__ = ["DrillResult", "judge", "run_drill"]

BTC = "BTC/USDT:USDT"
ROOT = Path(__file__).resolve().parents[2]
LEASE = LeaseConfig(ttl=1.5, interval=0.1, margin=0.7)


@dataclass
class DrillResult:
    seed: int
    mode: str
    killed_after_lines: int
    takeover_seconds: float = 0.0  # SIGKILL -> the standby's Gateway serving
    adopted: int = 0
    commands: int = 0
    venue_orders: int = 0
    window: list[str] = field(default_factory=list)  # venue orders the stream never named
    wrong: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    sent_twice: list[str] = field(default_factory=list)
    served: int = 0  # new submits the standby accepted after taking over
    divergences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bad = self.wrong or self.unresolved or self.duplicates or self.sent_twice or self.divergences
        return not bad and self.served == 2 and (self.mode == "tail" or not self.window)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _venue(args: Any) -> Any:
    from venues.binance import BinanceUsdm

    return BinanceUsdm(
        args.api_key, args.api_secret, rest_url=args.rest_url, ws_api_url=args.ws_api_url,
        stream_url=args.stream_url, recv_window_ms=1000, request_timeout=0.3,
    )  # fmt: skip


def _policy() -> Any:
    from reconcile import ReconcilePolicy

    return ReconcilePolicy(grace_seconds=1.0, deadline_seconds=20.0, interval_seconds=0.1, skew_seconds=1.0)


def _request(rng: random.Random, transport: Any) -> Any:
    from gateway import OrderRequest, OrderType, Side, TimeInForce

    kind = rng.random()
    if kind < 0.5:
        price, tif = Decimal("40000.0"), TimeInForce.GTC  # rests
    elif kind < 0.8:
        price, tif = Decimal("60000.0"), TimeInForce.GTC  # crosses the mark: fills
    else:
        price, tif = Decimal("40000.0"), TimeInForce.IOC  # expires at once
    return OrderRequest(
        venue="binance", instrument=BTC, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.001"),
        price=price, time_in_force=tif, transport=transport,
    )  # fmt: skip


# ---------------------------------------------------------------------- children


async def _primary(args: argparse.Namespace) -> None:
    from gateway import CancelRequest, Gateway, TimeInForce, Transport
    from gateway.journal import IntentEntry
    from gateway.replication.link import NatsLink
    from gateway.replication.node import Node

    link = await NatsLink(args.nats, args.gateway_id, replicas=args.replicas, heartbeat_ttl=LEASE.ttl).open()
    node = Node(link, args.node, args.db, intents=args.mode, lease=LEASE)
    journal = await node.take_lead()

    def on_item(item: object) -> None:
        if isinstance(item, IntentEntry) and item.recovered_from is None:
            sys.stdout.write(f"I {item.command_id}\n")
            sys.stdout.flush()

    journal.inner.subscribe(on_item)
    rng = random.Random(args.seed)
    async with Gateway(
        venues=[_venue(args)], journal=journal, reconcile=_policy(), client_id_prefix=f"p{args.gateway_id}"
    ) as gw:
        print("READY", flush=True)
        resting: list[str] = []

        async def one() -> None:
            transport = rng.choice([Transport.REST, Transport.WEBSOCKET])
            if rng.random() < 0.2 and resting:
                cid = resting.pop(rng.randrange(len(resting)))
                handle = await gw.cancel(
                    CancelRequest(venue="binance", instrument=BTC, client_order_id=cid, transport=transport)
                )
            else:
                request = _request(rng, transport)
                handle = await gw.submit(request)
                if request.time_in_force is TimeInForce.GTC and request.price < 50000 and handle.client_order_id:
                    resting.append(handle.client_order_id)
            print(f"A {handle.command_id} {handle.ack.receipt.status.value}", flush=True)

        for _ in range(args.groups):
            await asyncio.gather(*(one() for _ in range(rng.randint(1, 3))))
        print("DONE", flush=True)
        await asyncio.Event().wait()  # the parent kills us: never a clean close


async def standby(args: Any, *, announce: Any = None) -> dict[str, Any]:
    """Follow, take over, settle what was adopted, serve two new submits, close cleanly."""
    from gateway import CommandStatus, Gateway, Transport
    from gateway.replication.link import NatsLink
    from gateway.replication.node import Node

    say = announce or (lambda line: print(line, flush=True))
    link = await NatsLink(args.nats, args.gateway_id, replicas=args.replicas, heartbeat_ttl=LEASE.ttl).open()
    try:
        node = Node(link, args.node, args.db, intents=args.mode, lease=LEASE)
        say("FOLLOWING")
        journal = await node.take_lead()
        async with Gateway(
            venues=[_venue(args)], journal=journal, reconcile=_policy(), client_id_prefix=f"s{args.gateway_id}"
        ) as gw:
            say(f"SERVING {journal.leadership.epoch if journal.leadership else 0}")
            unresolved = 0
            for recovered in journal.adopted:
                handle = gw.handle(recovered.command.command_id)
                try:
                    if handle is not None:
                        await handle.resolved(timeout=25)
                except TimeoutError:
                    unresolved += 1
            rng = random.Random(args.seed + 1)
            served = 0
            for _ in range(2):
                handle = await gw.submit(_request(rng, Transport.REST))
                receipt = await handle.resolved(timeout=25)  # under faults an UNKNOWN ack is settled first
                served += receipt.status is not CommandStatus.UNKNOWN_EXECUTION
        return {"adopted": len(journal.adopted), "served": served, "unresolved_adopted": unresolved}
    finally:
        await link.close()


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gateway.replication.failover")
    p.add_argument("role", choices=["primary", "standby"])
    for name in ("--nats", "--gateway-id", "--db", "--node", "--api-key", "--api-secret", "--rest-url"):
        p.add_argument(name, required=True)
    p.add_argument("--ws-api-url", required=True)
    p.add_argument("--stream-url", required=True)
    p.add_argument("--mode", choices=["tail", "before_send"], default="tail")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--groups", type=int, default=6)
    return p.parse_args(argv)


def _child_main(argv: list[str]) -> None:
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    args = _parse(argv)
    if args.role == "primary":
        asyncio.run(_primary(args))
    else:
        print("RESULT " + json.dumps(asyncio.run(standby(args))), flush=True)


# ---------------------------------------------------------------------- parent


def _child_args(role: str, sim: Any, nats_url: str, gid: str, db: Path, mode: str, seed: int, **kw: Any) -> list[str]:
    b = sim.binance
    args = [
        sys.executable, "-m", "gateway.replication.failover", role, "--nats", nats_url, "--gateway-id", gid,
        "--db", str(db), "--node", role, "--api-key", sim.api_key, "--api-secret", sim.api_secret,
        "--rest-url", b.rest_url, "--ws-api-url", b.ws_api_url, "--stream-url", b.stream_url,
        "--mode", mode, "--seed", str(seed),
    ]  # fmt: skip
    for key, value in kw.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


async def _spawn(args: list[str], stderr_path: Path) -> asyncio.subprocess.Process:
    """A child whose stderr goes to ``stderr_path`` (a failed drill quotes its tail)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with stderr_path.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env, cwd=str(ROOT)
        )


async def run_drill(
    seed: int,
    directory: Path,
    *,
    sim: Any,
    nats_url: str,
    mode: IntentMode = "tail",
    replicas: int = 1,
    groups: int = 6,
    standby_process: bool = False,
    on_line: Any = None,
) -> DrillResult:
    """One drill (module docstring) on a running simulator and nats-server; a fresh gateway id per seed."""
    rng = random.Random(seed)
    gid = f"drill{seed}{mode[0]}"
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once per drill, before any child starts
    common = dict(sim=sim, nats_url=nats_url, gid=gid, mode=mode, seed=seed)
    primary_err = directory / f"primary-{gid}.err"
    primary = await _spawn(
        _child_args("primary", db=directory / f"primary-{gid}.db", groups=groups, replicas=replicas, **common),
        primary_err,
    )
    kill_at = rng.randint(0, groups * 2 * 2)
    result = DrillResult(seed, mode, kill_at)
    say = on_line or (lambda line: None)
    standby_args = argparse.Namespace(
        nats=nats_url, gateway_id=gid, db=str(directory / f"standby-{gid}.db"), node="standby", mode=mode,
        replicas=replicas, seed=seed, api_key=sim.api_key, api_secret=sim.api_secret,
        rest_url=sim.binance.rest_url, ws_api_url=sim.binance.ws_api_url, stream_url=sim.binance.stream_url,
    )  # fmt: skip
    serving = asyncio.Event()
    following = asyncio.Event()
    serving_at: list[float] = []

    def announce(line: str) -> None:
        say(f"standby: {line}")
        if line.startswith("FOLLOWING"):
            following.set()
        if line.startswith("SERVING"):
            serving_at.append(time.monotonic())
            serving.set()

    assert primary.stdout is not None
    lines = 0
    standby_task: asyncio.Task[Any] | None = None
    try:
        while True:
            raw = await asyncio.wait_for(primary.stdout.readline(), 30)
            if not raw:
                tail = primary_err.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"seed {seed}: the primary exited on its own (rc={await primary.wait()}):\n{tail}")
            text = raw.decode().strip()
            if text == "READY":
                say("primary: took the lead, trading")
                standby_task = asyncio.create_task(
                    _standby_process(standby_args, announce)
                    if standby_process
                    else standby(standby_args, announce=announce)
                )
                continue
            if text.startswith(("I ", "A ")):
                lines += 1
            if text == "DONE" or (lines >= kill_at and standby_task is not None):
                break
        await asyncio.wait_for(following.wait(), 60)  # a standby process must be up before the kill
    finally:
        if primary.returncode is None:
            primary.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await primary.wait()
    say(f"primary: SIGKILL after {lines} journal lines")
    assert standby_task is not None
    outcome = await asyncio.wait_for(standby_task, 90)
    result.takeover_seconds = round(serving_at[0] - killed_at, 3) if serving_at else -1.0
    result.adopted = int(outcome.get("adopted", 0))
    result.served = int(outcome.get("served", 0))
    await judge(result, sim, nats_url, gid)
    return result


async def _standby_process(args: argparse.Namespace, announce: Any) -> dict[str, Any]:
    b = argparse.Namespace(**vars(args))
    cmd = [
        sys.executable, "-m", "gateway.replication.failover", "standby", "--nats", b.nats, "--gateway-id", b.gateway_id,
        "--db", b.db, "--node", "standby", "--api-key", b.api_key, "--api-secret", b.api_secret,
        "--rest-url", b.rest_url, "--ws-api-url", b.ws_api_url, "--stream-url", b.stream_url, "--mode", b.mode,
        "--seed", str(b.seed), "--replicas", str(b.replicas),
    ]  # fmt: skip
    proc = await _spawn(cmd, Path(b.db).with_suffix(".err"))
    assert proc.stdout is not None
    result: dict[str, Any] = {}
    try:
        async for raw in proc.stdout:
            text = raw.decode().strip()
            if text.startswith("RESULT "):
                result = json.loads(text[7:])
            elif text:
                announce(text)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 30)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return result


async def judge(result: DrillResult, sim: Any, nats_url: str, gid: str, venue: str = "binance") -> None:
    """Every command the stream names, as the standby left it, against the simulator's truth."""
    from gateway.model import CommandOperation, CommandStatus
    from gateway.replication.consumer import AuditConsumer
    from gateway.replication.link import NatsLink

    link = await NatsLink(nats_url, gid).open()
    try:
        consumer = AuditConsumer(link, alerts=False)
        await consumer.catch_up()
        await consumer.close()
    finally:
        await link.close()
    replica = consumer.replica
    result.divergences = [d.line() for d in consumer.divergences]
    result.commands = len(replica.commands)
    truth = sim.truth
    ours = (f"p{gid}-", f"s{gid}-")
    orders = [o for o in truth.orders(venue) if o.client_order_id.startswith(ours)]
    result.venue_orders = len(orders)
    named = {s.client_order_id for s in replica.commands.values() if s.operation is CommandOperation.CREATE_ORDER}
    result.window = sorted(o.client_order_id for o in orders if o.client_order_id not in named)
    result.duplicates = [cid for cid in truth.duplicates(venue) if str(cid).startswith(ours)]
    for state in replica.commands.values():
        status = state.status if state.current is not None else None
        if state.operation is CommandOperation.CREATE_ORDER:
            cid = state.client_order_id or state.command_id
            order = truth.order(cid, venue)
            creates = [a for a in truth.attempts(cid, venue) if a.operation == "create"]
            if len(creates) > 1:
                result.sent_twice.append(cid)
            if status is None or status is CommandStatus.UNKNOWN_EXECUTION:
                result.unresolved.append(cid)
            elif (status is CommandStatus.ACCEPTED) != (order is not None):
                result.wrong.append(f"{cid}: {status.value}, venue {'has' if order else 'has no'} order")
            elif order is not None and (state.order_state is None or state.order_state.value != order.status):
                result.wrong.append(f"{cid}: state {state.order_state}, venue {order.status}")
        elif state.operation is CommandOperation.CANCEL_ORDER:
            target = truth.order(state.client_order_id or "", venue)
            canceled = target is not None and target.status == "CANCELED"
            if status is None or status is CommandStatus.UNKNOWN_EXECUTION:
                result.unresolved.append(state.command_id)
            elif (status is CommandStatus.ACCEPTED) != canceled:
                result.wrong.append(f"{state.command_id}: cancel {status.value}, target canceled={canceled}")


if __name__ == "__main__":
    _child_main(sys.argv[1:])
