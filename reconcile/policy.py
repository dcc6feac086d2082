"""ReconcilePolicy: the knobs that decide when absence may be trusted and when to give up waiting."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ReconcilePolicy(BaseModel):
    """Timing of reconciliation.

    - ``grace_seconds``: not-found is trusted only on a read made at least this long after the
      send *and* at least the request's recvWindow plus the venue's history lag after it.
    - ``deadline_seconds``: a command still unproven this long after its send is reported
      STILL_UNCERTAIN (and stays tracked).
    - ``interval_seconds``: how often tracked commands are re-read.
    - ``skew_seconds``: history windows start this much before the send time (clock skew).
    - ``clock_tolerance_seconds``: how far the venue's timestamps may be from ours when deciding
      whether a target order was canceled before a cancel was sent (adapters correct clock
      offsets above 250 ms at start). Larger is safer: more cancels stay uncertain instead of
      being judged by a clock that may be off.
    - ``max_concurrency``: concurrent venue reads across instruments, per venue.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    grace_seconds: float = Field(default=6.0, ge=0)
    deadline_seconds: float = Field(default=60.0, gt=0)
    interval_seconds: float = Field(default=0.5, gt=0)
    skew_seconds: float = Field(default=5.0, ge=0)
    clock_tolerance_seconds: float = Field(default=0.5, ge=0)
    max_concurrency: int = Field(default=4, ge=1)
    read_attempts: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _deadline_after_grace(self) -> ReconcilePolicy:
        if self.deadline_seconds < self.grace_seconds:
            raise ValueError(
                f"deadline_seconds ({self.deadline_seconds}) must be >= grace_seconds ({self.grace_seconds}): "
                "absence cannot be proven before the grace window ends"
            )
        return self
