"""Prometheus export (optional extra ``metrics``): ``gateway_*`` families from ``gateway.metrics``, and ``/metrics``.

Imported only when a gateway is built with ``metrics=``; it is the one module that imports
``prometheus_client``. A registry gets one ``GatewayCollector`` however many gateways use it: each
family sums over them (a counter keeps a closed gateway's totals, a gauge reports running ones
only), so two gateways in one process never collide on a metric name. The names are the contract
listed in README "Monitoring".
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from aiohttp import web

try:
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
    from prometheus_client.registry import Collector
    from prometheus_client.utils import floatToGoString
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without the extra
    raise ModuleNotFoundError(
        "gateway metrics need prometheus_client: pip install 'order-gateway[metrics]'", name=exc.name
    ) from exc

from gateway.metrics import BATCH_BUCKETS, JOURNAL_BUCKETS, Histogram, Metrics

__all__ = ["GatewayCollector", "MetricsServer", "attach", "collector_for"]

_collectors: weakref.WeakKeyDictionary[CollectorRegistry, GatewayCollector] = weakref.WeakKeyDictionary()


def collector_for(registry: CollectorRegistry) -> GatewayCollector:
    """The registry's one gateway collector, registered on first use."""
    found = _collectors.get(registry)
    if found is None:
        found = _collectors[registry] = GatewayCollector()
        registry.register(found)
    return found


def attach(arg: Any) -> tuple[Metrics, CollectorRegistry]:
    """``Gateway(metrics=...)``: True for prometheus_client's default registry, or a ``CollectorRegistry``."""
    if arg is True:
        registry: CollectorRegistry = REGISTRY
    elif isinstance(arg, CollectorRegistry):
        registry = arg
    else:
        raise TypeError(f"metrics= takes a prometheus_client CollectorRegistry, True or None, not {arg!r}")
    metrics = Metrics()
    collector_for(registry).add(metrics)
    return metrics, registry


def _counter(name: str, doc: str, labels: Sequence[str], values: dict[tuple[str, ...], float]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=list(labels))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, doc: str, labels: Sequence[str], values: dict[tuple[str, ...], float]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _histogram(name: str, doc: str, labels: Sequence[str], values: dict[tuple[str, ...], Histogram]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=list(labels))
    for key, hist in sorted(values.items()):
        running = 0
        buckets: list[tuple[str, float]] = []
        for bound, n in zip((*hist.bounds, float("inf")), hist.counts, strict=True):
            running += n
            buckets.append((floatToGoString(bound), running))
        family.add_metric(list(key), buckets, hist.total)
    return family


def _add(into: dict[tuple[str, ...], float], key: tuple[str, ...], value: float) -> None:
    into[key] = into.get(key, 0) + value


def _merge(into: dict[tuple[str, ...], Histogram], key: tuple[str, ...], hist: Histogram) -> None:
    found = into.get(key)
    if found is None:
        found = into[key] = Histogram(hist.bounds)
    found.merge(hist)


class GatewayCollector(Collector):
    """Every ``gateway_*`` family, summed over the gateways that share one registry."""

    def __init__(self) -> None:
        self._metrics: list[Metrics] = []

    def add(self, metrics: Metrics) -> None:
        self._metrics.append(metrics)

    @property
    def members(self) -> list[Metrics]:
        return list(self._metrics)

    def describe(self) -> Iterable[Metric]:
        return []  # names are checked by the tests; registering must not collect live gateways

    def collect(self) -> Iterator[Metric]:
        members = self._metrics
        yield from self._commands(members)
        yield from self._unknowns(members)
        yield from self._venues(members)
        yield from self._gate(members)
        yield from self._journal(members)
        yield from self._streams(members)

    # ------------------------------------------------------------------ families

    def _commands(self, members: list[Metrics]) -> Iterator[Metric]:
        commands: dict[tuple[str, ...], float] = {}
        rejections: dict[tuple[str, ...], float] = {}
        acks: dict[tuple[str, ...], Histogram] = {}
        halted: dict[tuple[str, ...], float] = {}
        for m in members:
            for key, n in m.commands.items():
                _add(commands, key, n)
            for key, n in m.rejections.items():
                _add(rejections, key, n)
            for key, hist in m.ack_seconds.items():
                _merge(acks, key, hist)
            if m.live:
                _add(halted, (), float(m.sources.halted() is not None))
        yield _counter(
            "gateway_commands", "Commands by their first receipt (the ack).", ("venue", "operation", "status"), commands
        )
        yield _counter(
            "gateway_command_rejections",
            "REJECTED acks by the venue's native code (or the gateway's: RISK, HALTED, ...).",
            ("venue", "operation", "native_code"),
            rejections,
        )
        yield _histogram(
            "gateway_submit_ack_seconds",
            "From the send to the venue's answer, for every command that was sent.",
            ("venue", "transport", "operation"),
            acks,
        )
        yield _gauge("gateway_halted", "1 while the gateway refuses every new command.", (), halted)

    def _unknowns(self, members: list[Metrics]) -> Iterator[Metric]:
        open_: dict[tuple[str, ...], float] = {}
        oldest: dict[tuple[str, ...], float] = {}
        resolution: dict[tuple[str, ...], Histogram] = {}
        outcomes: dict[tuple[str, ...], float] = {}
        tracked: dict[tuple[str, ...], float] = {}
        for m in members:
            for venue in m.sources.venues:  # a running venue reports 0, not nothing: alerts compare it
                open_.setdefault((venue,), 0)
                oldest.setdefault((venue,), 0.0)
            for venue, (n, age) in m.unknown_open().items():
                _add(open_, (venue,), n)
                oldest[(venue,)] = max(oldest.get((venue,), 0.0), age)
            for rkey, hist in m.resolution_seconds.items():
                _merge(resolution, rkey, hist)
            for okey, n in m.outcomes.items():
                _add(outcomes, okey, n)
            count = m.reconcile_tracked()
            if count is not None:
                _add(tracked, (), count)
        yield _gauge("gateway_unknown_open", "UNKNOWN_EXECUTION commands not yet proven either way.", ("venue",), open_)
        yield _gauge(
            "gateway_unknown_oldest_seconds", "How long the oldest open UNKNOWN has been open.", ("venue",), oldest
        )
        yield _histogram(
            "gateway_unknown_resolution_seconds",
            "From an UNKNOWN ack to the proof that settled it (SYNCHRONIZED or ABSENT).",
            ("venue", "operation", "outcome"),
            resolution,
        )
        yield _counter(
            "gateway_reconcile_outcomes",
            "Completed reconciliation attempts by outcome and the evidence that decided it.",
            ("venue", "operation", "outcome", "evidence"),
            outcomes,
        )
        yield _gauge("gateway_reconcile_tracked", "Commands the reconciler is settling.", (), tracked)

    def _venues(self, members: list[Metrics]) -> Iterator[Metric]:
        reads: dict[tuple[str, ...], float] = {}
        weight: dict[tuple[str, ...], float] = {}
        used: dict[tuple[str, ...], float] = {}
        limit: dict[tuple[str, ...], float] = {}
        headroom: dict[tuple[str, ...], float] = {}
        ban: dict[tuple[str, ...], float] = {}
        orders: dict[tuple[str, ...], float] = {}
        order_limits: dict[tuple[str, ...], float] = {}
        for m in members:
            for name, venue in m.sources.venues.items():
                rate = venue.rate_limit()
                for purpose, n in rate.reads.items():
                    _add(reads, (name, purpose), n)
                for purpose, n in rate.read_weight.items():
                    _add(weight, (name, purpose), n)
                used[(name,)] = rate.used
                limit[(name,)] = rate.limit
                headroom[(name,)] = rate.headroom
                ban[(name,)] = rate.ban_left()
                for window, (count, cap) in rate.orders.items():
                    orders[(name, window)] = count
                    if cap:
                        order_limits[(name, window)] = cap
        yield _counter(
            "gateway_venue_reads",
            "Read requests sent to the venue, by who asked (reconcile, refresh, other).",
            ("venue", "purpose"),
            reads,
        )
        yield _counter(
            "gateway_venue_read_weight", "Request weight those reads cost, by who asked.", ("venue", "purpose"), weight
        )
        yield _gauge(
            "gateway_venue_weight_used", "Used weight (or requests) the venue's headers report.", ("venue",), used
        )
        yield _gauge(
            "gateway_venue_weight_limit", "The venue's weight (or request) limit per window.", ("venue",), limit
        )
        yield _gauge(
            "gateway_venue_rate_limit_headroom",
            "1 - used/limit (1 when the venue tells no limit).",
            ("venue",),
            headroom,
        )
        yield _gauge("gateway_venue_ban_seconds", "Seconds left of the venue's last rate-limit wait.", ("venue",), ban)
        yield _gauge(
            "gateway_venue_orders",
            "This account's order count in the venue's window, from its own headers.",
            ("venue", "window"),
            orders,
        )
        yield _gauge(
            "gateway_venue_orders_limit", "The venue's order limit for that window.", ("venue", "window"), order_limits
        )

    def _gate(self, members: list[Metrics]) -> Iterator[Metric]:
        refusals: dict[tuple[str, ...], float] = {}
        live: dict[str, dict[tuple[str, ...], float]] = {
            k: {} for k in ("exposure", "reserved", "reservations", "positions", "halted")
        }
        for m in members:
            for name, n in m.gate_refusals().items():
                _add(refusals, (name,), n)
            halted = m.gate_halted()
            if halted is None:
                continue
            sample = m.gate
            _add(live["exposure"], (), float(sample.gross_exposure))
            _add(live["reserved"], (), float(sample.reserved))
            _add(live["reservations"], (), sample.reservations)
            _add(live["positions"], (), sample.positions)
            _add(live["halted"], (), float(halted))
        yield _counter("gateway_gate_refusals", "Orders the portfolio gate refused, by limit.", ("limit",), refusals)
        yield _gauge(
            "gateway_gate_gross_exposure", "Gross exposure the gate holds (positions + reserved).", (), live["exposure"]
        )
        yield _gauge(
            "gateway_gate_reserved_notional", "Notional reserved for commands in flight.", (), live["reserved"]
        )
        yield _gauge(
            "gateway_gate_reservations", "Reservations outstanding (one per command).", (), live["reservations"]
        )
        yield _gauge("gateway_gate_positions", "Open positions the gate holds.", (), live["positions"])
        yield _gauge("gateway_gate_halted", "1 while the gate's kill switch is on.", (), live["halted"])

    def _journal(self, members: list[Metrics]) -> Iterator[Metric]:
        intent, flush, batch = Histogram(JOURNAL_BUCKETS), Histogram(JOURNAL_BUCKETS), Histogram(BATCH_BUCKETS)
        recovered: dict[tuple[str, ...], float] = {}
        sealed: dict[tuple[str, ...], float] = {}
        quarantined: dict[tuple[str, ...], float] = {}
        for m in members:
            intent.merge(m.journal_intent_seconds)
            flush.merge(m.journal_flush_seconds)
            batch.merge(m.journal_batch_size)
            _add(recovered, (), m.journal_recovered)
            _add(quarantined, (), m.journal_quarantined)
            for status, n in m.journal_sealed.items():
                _add(sealed, (status,), n)
        none: tuple[str, ...] = ()
        yield _histogram(
            "gateway_journal_intent_seconds", "Write-ahead intent write, before the send.", (), {none: intent}
        )
        yield _histogram("gateway_journal_flush_seconds", "One committed batch.", (), {none: flush})
        yield _histogram("gateway_journal_flush_batch_size", "Rows per committed batch.", (), {none: batch})
        yield _counter(
            "gateway_journal_recovered_commands",
            "Commands earlier runs left open, handed to the reconciler.",
            (),
            recovered,
        )
        yield _counter("gateway_journal_runs_sealed", "Earlier runs sealed at open, by status.", ("status",), sealed)
        yield _counter("gateway_journal_runs_quarantined", "Earlier runs whose checksum chain failed.", (), quarantined)

    def _streams(self, members: list[Metrics]) -> Iterator[Metric]:
        gaps: dict[tuple[str, ...], float] = {}
        parse: dict[tuple[str, ...], float] = {}
        reconnects: dict[tuple[str, ...], float] = {}
        duplicates: dict[tuple[str, ...], float] = {}
        updates: dict[tuple[str, ...], float] = {}
        for m in members:
            for venue in m.sources.venues:
                gaps.setdefault((venue,), 0)
                parse.setdefault((venue,), 0)
            for venue, n in m.stream_gaps.items():
                _add(gaps, (venue,), n)
            for venue, n in m.parse_errors.items():
                _add(parse, (venue,), n)
            for venue, stats in m.stream_stats().items():
                for socket in ("user_stream", "order_socket"):
                    if f"{socket}_reconnects" in stats:
                        _add(reconnects, (venue, socket), stats[f"{socket}_reconnects"])
                if "user_stream_duplicates" in stats:
                    _add(duplicates, (venue,), stats["user_stream_duplicates"])
                    _add(updates, (venue,), stats["user_stream_updates"])
        yield _counter("gateway_stream_gaps", "Stream or socket losses that may have missed updates.", ("venue",), gaps)
        yield _counter("gateway_stream_parse_errors", "Stream payloads that could not be parsed.", ("venue",), parse)
        yield _counter(
            "gateway_stream_reconnects", "Reconnects after the first connect.", ("venue", "socket"), reconnects
        )
        yield _counter("gateway_stream_duplicates", "User-stream updates dropped as repeats.", ("venue",), duplicates)
        yield _counter("gateway_stream_updates", "User-stream updates delivered.", ("venue",), updates)


class MetricsServer:
    """``/metrics`` over HTTP on the running loop; each scrape samples the gate first."""

    def __init__(self, registry: CollectorRegistry, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/metrics"

    async def start(self) -> MetricsServer:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MetricsServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _scrape(self, request: web.Request) -> web.Response:
        collector = _collectors.get(self._registry)
        if collector is not None:
            for member in collector.members:
                if member.live:
                    await member.sample()
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
