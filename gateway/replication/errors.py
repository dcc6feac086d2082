"""Errors of the replication package (the ones a caller can act on)."""

from __future__ import annotations

__all__ = ["Fenced", "IntentNotReplicated", "NotLeader", "ReplicationError", "UnrecoverableGap"]


class ReplicationError(Exception):
    """The audit stream cannot be used as asked."""


class Fenced(ReplicationError):
    """This node lost the lead (a refused publish, or its lease ran out): it must send nothing more."""


class IntentNotReplicated(ReplicationError):
    """``before_send``: JetStream did not acknowledge the intent in time, so the command is not sent."""


class NotLeader(ReplicationError):
    """Another node holds the lead and is alive."""


class UnrecoverableGap(ReplicationError):
    """Messages are missing from the audit stream and cannot be fetched again."""

    def __init__(self, missing: list[int], detail: str = ""):
        shown = ", ".join(str(s) for s in missing[:10]) + (" …" if len(missing) > 10 else "")
        super().__init__(f"audit stream gap: stream sequence(s) {shown} are gone{': ' + detail if detail else ''}")
        self.missing = missing
