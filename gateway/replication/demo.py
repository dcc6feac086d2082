"""`gateway demo --failover`: an embedded nats-server, a primary and a standby process, the primary SIGKILLed mid-run.

The simulator runs in this process with a fault campaign; the primary trades through the faults;
after a seeded number of journaled commands it is killed with SIGKILL; the standby process takes
the lead, adopts and reconciles what was in flight and serves new submits; the verdict is every
command on the audit stream judged against the simulator's ground truth (``failover.judge``),
with the takeover time. ``--intents before_send`` runs it on a 3-node cluster. Exit 1 if any
command is wrong, duplicated, sent twice or unresolved (or, in ``before_send``, unknown to the
standby).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gateway.replication.failover import run_drill
from gateway.replication.server import NatsCluster
from venues.sim import FaultCampaign, SimExchange

__all__ = ["run_failover"]


async def run_failover(args: argparse.Namespace, console: Console) -> int:
    directory = Path(tempfile.mkdtemp(prefix="gateway-failover-"))
    mode = args.intents
    size = 3 if mode == "before_send" else 1
    started = time.monotonic()

    def say(line: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.2f}s[/] {line}", highlight=False)

    say(f"starting nats-server ({size} node{'s' if size > 1 else ''}, JetStream in {directory}) and the simulator")
    async with NatsCluster(directory / "nats", size) as cluster, SimExchange(seed=args.seed) as sim:
        sim.faults.start_campaign(
            FaultCampaign(
                seed=args.seed, probability=args.fault_rate, timeout_hold_seconds=0.5, visibility_delay_seconds=0.5
            )
        )
        result = await run_drill(
            args.seed, directory, sim=sim, nats_url=cluster.url, mode=mode, replicas=size,
            groups=max(6, int(args.duration * 2)), standby_process=True, on_line=say,
        )  # fmt: skip
        sim.faults.stop_campaign()
    table = Table(title=f"failover verdict ({mode}): the standby's state against the simulator's truth")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in (
        ("primary SIGKILLed after journal lines", result.killed_after_lines),
        ("takeover time (SIGKILL -> standby serving)", f"{result.takeover_seconds:.3f}s"),
        ("commands on the audit stream", result.commands),
        ("adopted by the standby and reconciled", result.adopted),
        ("new submits served by the standby", result.served),
        ("wrong", len(result.wrong)),
        ("duplicates / sent twice", f"{len(result.duplicates)} / {len(result.sent_twice)}"),
        ("unresolved", len(result.unresolved)),
        ("divergences", len(result.divergences)),
        ("venue orders the stream never named (tail mode's window)", len(result.window)),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for line in result.wrong + result.unresolved + result.duplicates + result.sent_twice + result.divergences:
        console.print(f"[red]{line}[/]", highlight=False)
    if result.window:
        console.print(
            f"known window of intents={mode}: {', '.join(result.window)} reached the venue but not JetStream "
            "before the host died (use --intents before_send to close it)",
            highlight=False,
        )
    console.print("[bold green]OK[/]" if result.ok else "[bold red]FAILED[/]")
    return 0 if result.ok else 1
