"""`gateway journal runs | show <run|client_order_id> | verify`: inspect a command journal (read-only)."""

from __future__ import annotations

import argparse

import orjson
from rich.console import Console
from rich.table import Table

from gateway.journal.codec import JournalEntry
from gateway.journal.reader import JournalReader
from gateway.journal.records import JournalError, RunStatus

__all__ = ["add_arguments", "run"]

_STATUS_STYLE = {
    RunStatus.RUNNING: "yellow",
    RunStatus.ENDED: "green",
    RunStatus.CRASHED_RECOVERED: "magenta",
    RunStatus.QUARANTINED: "bold red",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="journal_command", required=True)
    for name, help_text in (
        ("runs", "List runs: status, parent, entries, commands, venues."),
        ("show", "Show a run's entries, or one command's entries across runs."),
        ("verify", "Walk every run's checksum chain; exit 1 if any is broken."),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--db", default="gateway.db", help="journal file (default: gateway.db)")
        if name == "show":
            p.add_argument("target", help="a run id, a command id or a client order id")
            p.add_argument("--limit", type=int, default=200, help="show at most this many entries (default 200)")


def run(args: argparse.Namespace) -> int:
    console = Console()
    try:
        with JournalReader(args.db) as reader:
            if args.journal_command == "runs":
                return _runs(console, reader)
            if args.journal_command == "show":
                return _show(console, reader, args.target, args.limit)
            return _verify(console, reader)
    except JournalError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2


def _runs(console: Console, reader: JournalReader) -> int:
    table = Table(title=f"runs in {reader.path}")
    for col in ("run", "parent", "status", "started", "ended", "entries", "commands", "venues", "note"):
        table.add_column(col, no_wrap=col in ("run", "status"))
    for info in reader.runs():
        style = _STATUS_STYLE.get(info.status, "")
        venues = ", ".join(info.manifest.get("venues", []))
        table.add_row(
            info.run_id,
            info.parent_run_id or "-",
            f"[{style}]{info.status.value}[/{style}]" if style else info.status.value,
            info.started_at[:23],
            (info.ended_at or "-")[:23],
            str(info.entries),
            str(info.commands),
            venues,
            info.reason,
        )
    console.print(table)
    return 0


def _summary(entry: JournalEntry) -> str:
    try:
        data = orjson.loads(entry.body)
    except orjson.JSONDecodeError:
        return "<undecodable>"
    kind = entry.kind
    if kind in ("Intent", "Recovered"):
        req = data.get("request", {})
        text = " ".join(
            str(req[k]) for k in ("side", "type", "quantity", "instrument", "price") if req.get(k) is not None
        )
        text = f"{data.get('operation')} {text} via {data.get('transport')}"
        if kind == "Recovered":
            text += f" (from {data.get('recovered_from')})"
        return text
    if kind in ("Ack", "Receipt"):
        r = data["ack"]["receipt"] if kind == "Ack" else data["receipt"]
        return f"{r['status']} order={r.get('order_id')} state={r.get('order_state')} {r.get('message', '')}".strip()
    if kind == "OrderUpdate":
        o = data["order"]
        return f"{o['state']} filled={o.get('filled_quantity')} ({data.get('source')})"
    if kind == "RecoveryScheduled":
        return f"trigger={data.get('trigger')} attempt={data.get('attempt')}"
    if kind == "RecoveryCompleted":
        rep = data["report"]
        return f"{rep['outcome']} via {rep.get('evidence')} ({rep.get('trigger')}) {rep.get('reason', '')}".strip()
    if kind == "RunStarted":
        return f"venues={data.get('venues')} durability={data.get('durability')} sealed={data.get('sealed')}"
    return ""


def _show(console: Console, reader: JournalReader, target: str, limit: int) -> int:
    runs = {info.run_id: info for info in reader.runs()}
    if target in runs:
        entries = reader.entries(target)
        title = f"run {target} ({runs[target].status.value})"
    else:
        entries = reader.command_entries(target)
        title = f"command {target}"
    if not entries:
        console.print(f"[red]nothing in {reader.path} matches {target!r} (neither a run nor a command)[/red]")
        return 1
    table = Table(title=title)
    for col in ("id", "seq", "run", "kind", "command", "venue", "summary"):
        table.add_column(col, no_wrap=col in ("kind", "command"))
    for entry in entries[:limit]:
        table.add_row(
            str(entry.id),
            str(entry.sequence),
            entry.run_id,
            entry.kind,
            entry.command_id or "-",
            entry.venue or "-",
            _summary(entry),
        )
    console.print(table)
    if len(entries) > limit:
        console.print(f"... {len(entries) - limit} more (use --limit)")
    return 0


def _verify(console: Console, reader: JournalReader) -> int:
    table = Table(title=f"checksum chains in {reader.path}")
    for col in ("run", "entries", "chain", "detail"):
        table.add_column(col)
    broken = 0
    for result in reader.verify():
        if not result.ok:
            broken += 1
        table.add_row(
            result.run_id, str(result.entries), "[green]OK[/green]" if result.ok else "[red]BROKEN[/red]", result.detail
        )
    console.print(table)
    console.print(f"{broken} broken run(s)" if broken else "every chain verifies")
    return 1 if broken else 0
