"""The journal's vocabulary: durability levels, run statuses, errors, intents and the results readers get."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from gateway.model import CommandReceipt, LifecycleEvent
from gateway.ports import PendingCommand

__all__ = [
    "AuditItem",
    "Durability",
    "IntentEntry",
    "JournalError",
    "JournalWriteError",
    "RunInfo",
    "RunStatus",
    "VerifyResult",
]

Durability = Literal["process", "power"]


class RunStatus(StrEnum):
    RUNNING = "RUNNING"  # open now, or its process died and no successor has booted yet
    ENDED = "ENDED"  # closed cleanly (its tail is a RunEnded entry)
    CRASHED_RECOVERED = "CRASHED_RECOVERED"  # died; a successor sealed it and took over its commands
    QUARANTINED = "QUARANTINED"  # its checksum chain is broken: read-only, never replayed


class JournalError(Exception):
    """The journal cannot be used as asked."""


class JournalWriteError(JournalError):
    """A write failed: nothing may be sent that is not journaled, so the gateway halts."""


@dataclass(frozen=True, slots=True)
class IntentEntry:
    """A command written before its send (``Intent``) or adopted by a new run (``Recovered``)."""

    sequence: int
    command: PendingCommand
    recovered_from: str | None = None  # the run that left it unresolved, for ``Recovered``
    last_receipt: CommandReceipt | None = None

    @property
    def command_id(self) -> str:
        return self.command.command_id


AuditItem = IntentEntry | LifecycleEvent
"""What the audit stream carries: every item takes one bus sequence."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    parent_run_id: str | None
    started_at: str
    ended_at: str | None
    status: RunStatus
    taken_over: bool
    reason: str
    entries: int = 0
    commands: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    run_id: str
    entries: int
    ok: bool
    broken_at: int | None = None  # entry id where the chain first fails
    detail: str = ""
