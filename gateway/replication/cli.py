"""`gateway replica --nats URL --gateway-id ID [--json] [--follow]`: a replica of a gateway's state, anywhere.

Without ``--follow`` it reads the audit stream to its current end, prints the state (commands by
status, unknowns open, last sequence, and any divergence) and exits 0; 1 on an unrecoverable gap
or a divergence. ``--json`` prints one object (``AuditConsumer.state``). ``--follow`` keeps a live
table until interrupted. ``--from-seq N`` starts at stream sequence N; ``--snapshot PATH`` seeds
the replica from a copy of the gateway's journal and reads only what it lacks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nats", required=True, help="NATS server URL(s), comma-separated")
    parser.add_argument("--gateway-id", required=True, help="the gateway id whose audit stream to read")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--follow", action="store_true", help="keep following with a live table")
    parser.add_argument("--from-seq", type=int, default=1, help="start at this stream sequence (default: its start)")
    parser.add_argument("--snapshot", default=None, help="seed from a copy of the gateway's journal file")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to read to the end (default 30)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.CRITICAL)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0


async def _run(args: argparse.Namespace) -> int:
    from gateway.replication.consumer import AuditConsumer
    from gateway.replication.errors import UnrecoverableGap
    from gateway.replication.link import NatsLink

    link = NatsLink(args.nats, args.gateway_id, name=f"replica-{args.gateway_id}")
    await link.open()
    consumer = AuditConsumer(link, node="cli-replica", start_seq=args.from_seq)
    try:
        if args.snapshot:
            consumer.seed_from_journal(args.snapshot)
        try:
            await consumer.catch_up(timeout=args.timeout)
        except UnrecoverableGap as exc:
            _print(args, consumer, error=str(exc))
            return 1
        if args.follow:
            return await _follow(args, consumer)
        _print(args, consumer)
        return 1 if consumer.divergences else 0
    finally:
        await consumer.close()
        await link.close()


def _print(args: argparse.Namespace, consumer: object, error: str | None = None) -> None:
    from gateway.replication.consumer import AuditConsumer

    assert isinstance(consumer, AuditConsumer)
    state = consumer.state()
    if error is not None:
        state["error"] = error
    if args.json:
        print(json.dumps(state, sort_keys=True))
        return
    print(_text(state))
    if error is not None:
        print(f"ERROR: {error}", file=sys.stderr)


def _text(state: dict[str, object]) -> str:
    by_status = state["by_status"]
    assert isinstance(by_status, dict)
    lines = [
        f"gateway {state['gateway_id']}: {state['commands']} commands, last sequence {state['last_sequence']} "
        f"(stream {state['last_stream_seq']}), epoch {state['epoch']} led by {state['leader'] or '-'}",
        "by status: " + (", ".join(f"{k} {v}" for k, v in by_status.items()) or "none"),
        f"unknown open: {state['unknown_open']}",
        f"digests checked: {state['digests_checked']}, duplicates skipped: {state['duplicates_skipped']}, "
        f"refetched: {state['refetched']}",
    ]
    divergences = state["divergences"]
    assert isinstance(divergences, list)
    lines += [str(d) for d in divergences]
    return "\n".join(lines)


async def _follow(args: argparse.Namespace, consumer: object) -> int:
    from rich.live import Live
    from rich.table import Table

    from gateway.replication.consumer import AuditConsumer
    from gateway.replication.errors import UnrecoverableGap

    assert isinstance(consumer, AuditConsumer)

    def table() -> Table:
        state = consumer.state()
        t = Table(title=f"gateway {state['gateway_id']} (epoch {state['epoch']}, leader {state['leader'] or '-'})")
        t.add_column("what")
        t.add_column("value", justify="right")
        t.add_row("commands", str(state["commands"]))
        for status, count in dict(state["by_status"]).items():
            t.add_row(f"  {status}", str(count))
        t.add_row("unknown open", str(state["unknown_open"]))
        t.add_row("last sequence", f"{state['last_sequence']} (stream {state['last_stream_seq']})")
        t.add_row("digests checked", str(state["digests_checked"]))
        for line in consumer.state()["divergences"]:
            t.add_row("[red]DIVERGED[/]", f"[red]{line}[/]")
        return t

    with Live(table(), refresh_per_second=4) as live:
        while True:
            try:
                with contextlib.suppress(TimeoutError):
                    await consumer.step(timeout=0.25)
            except UnrecoverableGap as exc:
                live.update(table())
                print(f"ERROR: {exc}", file=sys.stderr)
                return 1
            live.update(table())
