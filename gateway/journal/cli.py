"""`gateway journal runs | show <run|client_order_id> | verify`: inspect a command journal (read-only).

Tables by default (full width when piped: nothing is cut at 80 columns); ``--json`` prints one JSON
object per line instead, with stable field names (README "Monitoring"):

- ``runs``: ``run_id, parent_run_id, status, started_at, ended_at, entries, commands, venues,
  taken_over, reason, manifest``;
- ``show``: ``id, sequence, run_id, kind, command_id, client_order_id, venue, checksum, body``
  (the entry's stored JSON, decoded; ``null`` if it is not JSON);
- ``verify``: ``run_id, entries, ok, broken_at, detail``.

Exit codes are the same either way: ``show`` 1 when nothing matches, ``verify`` 1 when a chain is
broken, 2 when the journal cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

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
        p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
        if name == "show":
            p.add_argument("target", help="a run id, a command id or a client order id")
            p.add_argument("--limit", type=int, default=200, help="show at most this many entries (default 200)")


def cli_console() -> Console:
    """A console for tables: the terminal's width, or unbounded when piped (a script reads every column)."""
    return Console() if sys.stdout.isatty() else Console(width=100_000, soft_wrap=True)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "json", False):
        return _run_json(args)
    console = cli_console()
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


def _line(obj: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(obj, default=str).decode() + "\n")


def _run_json(args: argparse.Namespace) -> int:
    try:
        with JournalReader(args.db) as reader:
            if args.journal_command == "runs":
                for info in reader.runs():
                    _line(
                        {
                            "run_id": info.run_id,
                            "parent_run_id": info.parent_run_id,
                            "status": info.status.value,
                            "started_at": info.started_at,
                            "ended_at": info.ended_at,
                            "entries": info.entries,
                            "commands": info.commands,
                            "venues": list(info.manifest.get("venues", [])),
                            "taken_over": bool(info.taken_over),
                            "reason": info.reason,
                            "manifest": info.manifest,
                        }
                    )
                return 0
            if args.journal_command == "show":
                runs = {info.run_id for info in reader.runs()}
                entries = reader.entries(args.target) if args.target in runs else reader.command_entries(args.target)
                for entry in entries[: args.limit]:
                    _line(_entry_json(entry))
                if not entries:
                    sys.stderr.write(f"nothing in {reader.path} matches {args.target!r}: neither a run nor a command\n")
                return 0 if entries else 1
            broken = 0
            for result in reader.verify():
                broken += not result.ok
                _line(
                    {
                        "run_id": result.run_id,
                        "entries": result.entries,
                        "ok": result.ok,
                        "broken_at": result.broken_at,
                        "detail": result.detail,
                    }
                )
            return 1 if broken else 0
    except JournalError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2


def _entry_json(entry: JournalEntry) -> dict[str, Any]:
    try:
        body: Any = orjson.loads(entry.body)
    except orjson.JSONDecodeError:
        body = None
    return {
        "id": entry.id,
        "sequence": entry.sequence,
        "run_id": entry.run_id,
        "kind": entry.kind,
        "command_id": entry.command_id,
        "client_order_id": entry.client_order_id,
        "venue": entry.venue,
        "checksum": entry.checksum,
        "body": body,
    }


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
