"""What ``gateway demo`` shows: the command rows, the live table, the lines of ``--plain`` and the summary."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from gateway.handle import CommandHandle
from gateway.model import CommandReceipt
from venues.sim.judge import CORRECT, Verdicts

if TYPE_CHECKING:
    from gateway.demo_account import AccountScript
    from venues.sim import SimExchange

__all__ = ["DemoView", "Row", "color", "one_line"]


@dataclass
class Row:
    n: int
    op: str
    venue: str
    transport: str
    instrument: str
    command_id: str
    target: str | None = None  # a cancel's target client order id
    fault: str = ""
    ack: str = "…"
    reconcile: str = ""
    resolved: str = ""
    state: str = ""
    verdict: str = ""
    handle: CommandHandle | None = None
    receipt: CommandReceipt | None = None
    started: float = field(default_factory=time.monotonic)


class DemoView:
    """The demo's output; ``Demo`` supplies the rows, the simulator and the console."""

    args: argparse.Namespace
    console: Console
    rows: list[Row]
    sim: SimExchange | None
    account: AccountScript | None

    # ------------------------------------------------------------------ output

    def log(self, row: Row, what: str) -> None:
        if self.args.plain:
            self.console.print(
                f"#{row.n:<4} {row.op:<6} {row.venue:<7} {row.transport:<9} {row.instrument:<14} {what}",
                highlight=False,
                soft_wrap=True,
            )

    def table(self) -> Group:
        t = Table(expand=True, show_edge=False, pad_edge=False)
        for col in ("#", "op", "venue", "via", "instrument", "fault", "ack", "reconcile", "resolved", "order", "truth"):
            t.add_column(col, no_wrap=True)
        for r in self.rows[-self.args.rows :]:
            t.add_row(
                str(r.n),
                r.op,
                r.venue,
                r.transport,
                r.instrument,
                r.fault,
                color(r.ack),
                r.reconcile,
                color(r.resolved),
                r.state,
                r.verdict,
            )
        counts = self.counts()
        summary = (
            f"commands {len(self.rows)}  accepted {counts['ACCEPTED']}  rejected {counts['REJECTED']}  "
            f"unknown→reconciling {counts['reconciling']}  faults injected {counts['faults']}"
        )
        return Group(t, Panel(summary, title="gateway demo (simulator)", expand=True))

    def counts(self) -> dict[str, int]:
        c = {"ACCEPTED": 0, "REJECTED": 0, "reconciling": 0, "faults": 0}
        for r in self.rows:
            if r.resolved in ("ACCEPTED", "REJECTED"):
                c[r.resolved] += 1
            elif r.ack == "UNKNOWN_EXECUTION":
                c["reconciling"] += 1
            if r.fault:
                c["faults"] += 1
        return c

    def _say(self, live: Live | None, text: str) -> None:
        if live is None:
            self.console.print(text)

    def _summary(self, result: Verdicts, db: Path) -> None:
        c = result.counts
        faulted = sum(1 for r in self.rows if r.fault)
        unknown_acks = sum(1 for r in self.rows if r.ack == "UNKNOWN_EXECUTION")
        table = Table(title="Every command judged by its own ground truth", show_header=True)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for label, value in (
            ("commands (creates / cancels, of which repeated)", f"{c['commands']} ({c['creates']} / "
             f"{c['cancels']}, {c['repeated_cancels']})"),
            ("faults injected on commands", str(faulted)),
            ("acks UNKNOWN_EXECUTION (settled by the reconciler)", str(unknown_acks)),
            ("creates correct / wrong", f"{c['creates_correct']} / {c['creates_wrong']}"),
            ("cancels correct / wrong", f"{c['cancels_correct']} / {c['cancels_wrong']}"),
            ("amends correct / wrong", f"{c['amends_correct']} / {c['amends_wrong']}"),
            ("cancel-alls (kill switch) correct / wrong", f"{c['cancel_alls_correct']} / {c['cancel_alls_wrong']}"),
            ("handles stale (final view differs from the venue)", str(c["stale_handles"])),
            ("unresolved / unjudgeable", f"{c['unresolved']} / {c['unjudgeable']}"),
            ("duplicates / sent twice", f"{c['duplicates']} / {c['sent_twice']}"),
            ("gate exposure mismatches", str(c["exposure_mismatches"])),
            ("trades not ours the gate followed", "; ".join(self.account.done) if self.account else "none"),
        ):  # fmt: skip
            table.add_row(label, value)
        self.console.print(table)
        for finding in result.findings:
            self.console.print(f"[red]{finding.line()}[/]", highlight=False, soft_wrap=True)
        for row in self.rows:
            if row.verdict and row.verdict != CORRECT:
                self.console.print(f"[red]{row.verdict}[/]: {self._explain(row)}", highlight=False, soft_wrap=True)
        self.console.print(f"journal: {db}  (try: gateway journal runs --db {db})", highlight=False)
        self.console.print("[bold green]OK[/]: every command matches the truth" if result.ok else "[bold red]FAILED[/]")

    def _explain(self, row: Row) -> str:
        """One line: what the gateway resolved against what the simulator knows."""
        assert self.sim is not None
        receipt = row.receipt
        said = "nothing" if receipt is None else f"{receipt.status.value} {receipt.order_state or ''}".strip()
        cid = row.command_id if row.op in ("create", "batch") else (row.target or "")
        truth = self.sim.truth.order(cid, row.venue)
        known = "no order" if truth is None else f"order {truth.order_id} {truth.status}"
        attempts = [f"{a.operation}/{a.transport}:{a.outcome}" for a in self.sim.truth.attempts(cid, row.venue)]
        related = [f"#{r.n} {r.op} {r.resolved}" for r in self.rows if cid in (r.target, r.command_id)]
        return (
            f"#{row.n} {row.op} {row.venue} {cid}: resolved {said}; venue has {known}; "
            f"writes received {attempts}; commands on it {related}"
        )


def one_line(text: str, limit: int = 90) -> str:
    """Venue messages can be whole HTML pages (a 504 from a proxy): keep one short line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def color(status: str) -> str:
    return {
        "ACCEPTED": "[green]ACCEPTED[/]",
        "REJECTED": "[yellow]REJECTED[/]",
        "UNKNOWN_EXECUTION": "[magenta]UNKNOWN[/]",
    }.get(status, status)
