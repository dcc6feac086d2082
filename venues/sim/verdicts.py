"""The judge's verdicts: what a finding says, the counts a campaign fails on, and how they read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from gateway.model import CommandReceipt, CommandStatus
from venues.sim.engine import SimOrder, WriteAttempt

__all__ = ["CORRECT", "STALE", "UNJUDGEABLE", "UNRESOLVED", "WRONG", "Category", "Finding", "Verdicts"]

Category = Literal["wrong", "stale", "unresolved", "unjudgeable", "duplicate", "sent_twice", "exposure"]

# Verdict labels a caller can show per command (the demo's "truth" column).
CORRECT = "✓"
WRONG = "✗ WRONG"
STALE = "stale"
UNRESOLVED = "unresolved"
UNJUDGEABLE = "unjudgeable"


@dataclass(frozen=True)
class Finding:
    """One command (or instrument) the judge did not pass, with what it said and the truth."""

    category: Category
    n: int  # the command's number, 0 for a gate finding
    operation: str
    venue: str
    subject: str  # the order's client order id (a cancel's target), or the instrument
    said: str
    truth: str

    def line(self) -> str:
        where = f"#{self.n} {self.operation}" if self.n else self.operation
        return f"{self.category}: {where} {self.venue} {self.subject}: said {self.said}; truth {self.truth}"


@dataclass
class Verdicts:
    counts: dict[str, int]
    findings: list[Finding]
    by_command: dict[str, str]  # command id -> CORRECT / WRONG / STALE / UNRESOLVED / UNJUDGEABLE

    @property
    def bad(self) -> int:
        """Everything that makes a campaign fail."""
        return sum(
            self.counts[k]
            for k in (
                "creates_wrong",
                "cancels_wrong",
                "amends_wrong",
                "cancel_alls_wrong",
                "stale_handles",
                "unresolved",
                "unjudgeable",
                "duplicates",
                "sent_twice",
                "exposure_mismatches",
            )
        )

    @property
    def ok(self) -> bool:
        return self.bad == 0

    def as_dict(self, limit: int = 50) -> dict[str, Any]:
        """Counts plus the first ``limit`` findings, for results.json."""
        return {**self.counts, "findings": [f.line() for f in self.findings[:limit]]}


def said(receipt: CommandReceipt | None) -> str:
    if receipt is None:
        return "nothing (still UNKNOWN_EXECUTION)"
    parts = [receipt.status.value]
    if receipt.order_state is not None:
        parts.append(receipt.order_state.value)
    if receipt.status is not CommandStatus.ACCEPTED and receipt.message:
        parts.append(f"({' '.join(receipt.message.split())[:120]})")
    return " ".join(parts)


def order_text(order: SimOrder | None) -> str:
    return "no order" if order is None else f"order {order.order_id} {order.status} filled {order.filled_qty}"


def attempts_text(attempts: Iterable[WriteAttempt]) -> str:
    return "[" + ", ".join(f"{a.operation}/{a.transport}:{a.outcome}" for a in attempts) + "]"
