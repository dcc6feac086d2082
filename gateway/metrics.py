"""Metrics: what a running gateway counts for dashboards and alerts, in plain Python until a scrape reads it.

A ``Gateway(..., metrics=registry)`` (or ``metrics=True``: prometheus_client's default registry)
owns one ``Metrics``. Nothing here imports ``prometheus_client``: the hot path only bumps dict
counters and bisects into histogram buckets; ``gateway.metrics_export`` turns them into
``gateway_*`` metric families when a registry is collected. With ``metrics=None`` (the default)
no ``Metrics`` exists and every hook is one ``is None`` test, so the extra costs nothing absent.

Where each number comes from, so new command kinds are counted without extra work:

- the bus tap (``on_event``) sees every command's ``Ack`` (by operation value and receipt
  status, the native code of a rejection, the venue's own ``sent_at`` -> ``received_at``) and every
  ``RecoveryCompleted`` (outcome and evidence; the UNKNOWN it closes and how long it was open);
- the Gateway's sink methods report stream gaps and parse errors per venue;
- the journal reports each intent write and each committed batch (``journal_observer``);
- everything else is read when collected: the venues' ``RateLimitState`` (weight and order
  counters from their own headers, reads and weight by ``READ_PURPOSE``) and socket counters,
  the gate's refusals and kill switch, the reconciler's tracked set, and the last gate snapshot
  taken by ``sample`` (every second while the gateway runs, and before each scrape it serves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from gateway.model import Ack, CommandStatus, LifecycleEvent, ReconcileOutcome, RecoveryCompleted
from gateway.ports import GatePort, ReconcilerPort, Venue

__all__ = [
    "ACK_BUCKETS",
    "BATCH_BUCKETS",
    "JOURNAL_BUCKETS",
    "Histogram",
    "Metrics",
    "StreamStatsSource",
]

log = logging.getLogger(__name__)

# Seconds. An ack is a venue round trip (loopback to cross-region); an unknown's resolution spans
# the reconciler's grace window (seconds) up to a deadline (minutes); a journal write is a local call.
ACK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RESOLUTION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
JOURNAL_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
BATCH_BUCKETS = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 512.0, 1024.0)

_RESOLVING = (ReconcileOutcome.SYNCHRONIZED, ReconcileOutcome.ABSENT)


class Histogram:
    """Bucket counts (not cumulative) and a sum; ``observe`` is one bisect and two additions."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last slot is +Inf
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, Prometheus's "le" bucket
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def merge(self, other: Histogram) -> None:
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.total += other.total
        self.count += other.count


@runtime_checkable
class StreamStatsSource(Protocol):
    """A venue that counts its sockets (``AdapterBase.stream_stats``); other venues simply report none."""

    def stream_stats(self) -> dict[str, int]: ...


@runtime_checkable
class _CountsRefusals(Protocol):
    """The gate's own refusal counter by limit name and kill switch (``risk.PortfolioGate``)."""

    refusals: dict[str, int]

    @property
    def halted(self) -> str | None: ...


@runtime_checkable
class _Tracks(Protocol):
    """A reconciler that tells how many commands it is settling (``reconcile.Reconciler``)."""

    @property
    def tracked(self) -> int: ...


@runtime_checkable
class _Snapshots(Protocol):
    async def snapshot(self) -> Any: ...


@dataclass(slots=True)
class GateSample:
    """The gate's ledger as last sampled (Decimal values exported as floats)."""

    gross_exposure: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    reservations: int = 0
    positions: int = 0
    sampled_at: float = 0.0


@dataclass(slots=True)
class _Sources:
    """What a scrape reads from the running gateway; empty once it is closed."""

    venues: Mapping[str, Venue] = field(default_factory=dict)
    gate: GatePort | None = None
    reconciler: ReconcilerPort | None = None
    halted: Callable[[], str | None] = lambda: None


class Metrics:
    """One gateway's counters; see the module docstring. Built by ``Gateway`` from its ``metrics=`` argument."""

    def __init__(self, *, sample_seconds: float = 1.0) -> None:
        # (venue, operation, status) -> count of first receipts (acks)
        self.commands: dict[tuple[str, str, str], int] = {}
        # (venue, operation, native code) -> REJECTED acks
        self.rejections: dict[tuple[str, str, str], int] = {}
        # (venue, transport, operation) -> the venue's own sent_at -> received_at
        self.ack_seconds: dict[tuple[str, str, str], Histogram] = {}
        # (venue, operation, outcome, evidence) -> completed reconciliation attempts
        self.outcomes: dict[tuple[str, str, str, str], int] = {}
        # (venue, operation, outcome) -> seconds an UNKNOWN stayed open until proven
        self.resolution_seconds: dict[tuple[str, str, str], Histogram] = {}
        self.stream_gaps: dict[str, int] = {}
        self.parse_errors: dict[str, int] = {}
        self.journal_intent_seconds = Histogram(JOURNAL_BUCKETS)
        self.journal_flush_seconds = Histogram(JOURNAL_BUCKETS)
        self.journal_batch_size = Histogram(BATCH_BUCKETS)
        self.journal_recovered = 0
        self.journal_sealed: dict[str, int] = {}
        self.journal_quarantined = 0
        self.gate = GateSample()
        # command id -> (venue, operation, monotonic time its UNKNOWN ack was published)
        self._unknown: dict[str, tuple[str, str, float]] = {}
        self._sources = _Sources()
        self._sample_seconds = sample_seconds
        self._sampler: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle (Gateway)

    def bind(
        self,
        *,
        venues: Mapping[str, Venue],
        gate: GatePort | None,
        reconciler: ReconcilerPort | None,
        halted: Callable[[], str | None],
    ) -> None:
        self._sources = _Sources(dict(venues), gate, reconciler, halted)

    def start(self) -> None:
        if self._sampler is None and self._sources.gate is not None and self._sample_seconds > 0:
            self._sampler = asyncio.create_task(self._sample_loop(), name="metrics:gate-sampler")

    async def close(self) -> None:
        """The gateway closed: gauges stop reporting (counters and histograms keep their totals)."""
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        await self.sample()
        self._sources = _Sources()
        self._unknown.clear()

    @property
    def live(self) -> bool:
        return bool(self._sources.venues)

    @property
    def sources(self) -> _Sources:
        return self._sources

    async def sample(self) -> None:
        """Read the gate's ledger now (the scrape handler calls this; a failure keeps the last sample)."""
        gate = self._sources.gate
        if not isinstance(gate, _Snapshots):
            return
        try:
            snap = await gate.snapshot()
        except Exception as exc:  # a ledger that cannot answer (Redis down) must not break a scrape
            log.warning("metrics: gate snapshot failed: %r", exc)
            return
        self.gate = GateSample(
            gross_exposure=snap.gross_exposure,
            reserved=snap.reserved,
            reservations=len(snap.reservations),
            positions=sum(1 for v in snap.positions.values() if v),
            sampled_at=time.time(),
        )

    async def _sample_loop(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self._sample_seconds)

    # ------------------------------------------------------------------ hooks (hot path)

    def on_event(self, event: LifecycleEvent) -> None:
        """The bus tap: every event of every command, whatever its operation."""
        kind = type(event)
        if kind is Ack:
            self._ack(event)  # type: ignore[arg-type]
        elif kind is RecoveryCompleted:
            self._completed(event)  # type: ignore[arg-type]

    def _ack(self, event: Ack) -> None:
        receipt = event.ack.receipt
        venue, operation, status = receipt.venue, receipt.operation.value, receipt.status
        key = (venue, operation, status.value)
        commands = self.commands
        commands[key] = commands.get(key, 0) + 1
        if status is CommandStatus.REJECTED:
            rkey = (venue, operation, str(receipt.native_code) if receipt.native_code is not None else "")
            self.rejections[rkey] = self.rejections.get(rkey, 0) + 1
        elif status is CommandStatus.UNKNOWN_EXECUTION:
            self._unknown[event.command_id] = (venue, operation, time.monotonic())
        sent, received = receipt.sent_at, receipt.received_at
        if sent is not None and received is not None:
            transport = receipt.transport.value if receipt.transport is not None else ""
            hkey = (venue, transport, operation)
            hist = self.ack_seconds.get(hkey)
            if hist is None:
                hist = self.ack_seconds[hkey] = Histogram(ACK_BUCKETS)
            hist.observe(max(0.0, (received - sent).total_seconds()))

    def _completed(self, event: RecoveryCompleted) -> None:
        report = event.report
        venue, operation, outcome = report.venue, report.operation.value, report.outcome
        key = (venue, operation, outcome.value, report.evidence.value)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        if outcome in _RESOLVING:
            opened = self._unknown.pop(event.command_id, None)
            if opened is not None:
                hkey = (venue, operation, outcome.value)
                hist = self.resolution_seconds.get(hkey)
                if hist is None:
                    hist = self.resolution_seconds[hkey] = Histogram(RESOLUTION_BUCKETS)
                hist.observe(time.monotonic() - opened[2])

    def stream_gap(self, venue: str) -> None:
        self.stream_gaps[venue] = self.stream_gaps.get(venue, 0) + 1

    def parse_error(self, venue: str) -> None:
        self.parse_errors[venue] = self.parse_errors.get(venue, 0) + 1

    def intent_recorded(self, seconds: float) -> None:
        self.journal_intent_seconds.observe(seconds)

    def batch_committed(self, size: int, seconds: float) -> None:
        self.journal_batch_size.observe(size)
        self.journal_flush_seconds.observe(seconds)

    def journal_started(self, journal: object, recovered: int) -> None:
        """The gateway opened its journal: observe its writes, count what recovery found."""
        self.journal_recovered += recovered
        if journal is None:
            return
        from gateway.journal import Journal

        if isinstance(journal, Journal):
            journal.observe(self)
            for status in journal.sealed.values():
                self.journal_sealed[status.value] = self.journal_sealed.get(status.value, 0) + 1
            self.journal_quarantined += len(journal.quarantined)

    # ------------------------------------------------------------------ read at collection

    def unknown_open(self) -> dict[str, tuple[int, float]]:
        """venue -> (UNKNOWNs not yet proven, seconds the oldest has been open)."""
        now = time.monotonic()
        out: dict[str, tuple[int, float]] = {}
        for venue, _, opened in self._unknown.values():
            n, oldest = out.get(venue, (0, 0.0))
            out[venue] = (n + 1, max(oldest, now - opened))
        return out

    def gate_refusals(self) -> dict[str, int]:
        gate = self._sources.gate
        return dict(gate.refusals) if isinstance(gate, _CountsRefusals) else {}

    def gate_halted(self) -> bool | None:
        gate = self._sources.gate
        return gate.halted is not None if isinstance(gate, _CountsRefusals) else None

    def reconcile_tracked(self) -> int | None:
        reconciler = self._sources.reconciler
        return reconciler.tracked if isinstance(reconciler, _Tracks) else None

    def stream_stats(self) -> dict[str, dict[str, int]]:
        return {
            name: venue.stream_stats()
            for name, venue in self._sources.venues.items()
            if isinstance(venue, StreamStatsSource)
        }
