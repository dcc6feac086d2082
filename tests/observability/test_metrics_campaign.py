"""Metrics scraped over HTTP during a fault campaign on the simulator equal the campaign's own counts.

Commands by status come from the handles' acks, unknowns resolved from their resolutions, gate
refusals from the RISK receipts, and the reconciler's reads from the simulator's own request log.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from gateway import CommandHandle, CommandStatus, Gateway, OrderRequest, OrderType, Side, TimeInForce, Transport
from gateway.metrics_export import MetricsServer
from reconcile import ReconcilePolicy
from risk import PortfolioGate, RiskLimits
from tests.reconcile.conftest import VENUES, wait_until
from venues.sim import FaultCampaign, SimExchange

POLICY = ReconcilePolicy(grace_seconds=1.0, deadline_seconds=30, interval_seconds=0.1)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(session: aiohttp.ClientSession, url: str) -> Samples:
    async with session.get(url) as resp:
        assert resp.status == 200
        text = await resp.text()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all((k, labels[k]) in ls for k in labels))


def is_rest(path: str) -> bool:
    """The request log also holds WebSocket upgrades (a GET each, e.g. a mark stream reconnecting): not reads."""
    return not any(part in path for part in ("/ws", "/public/", "/private", "/trade", "/stream"))


def order(cid: str, venue: str, transport: Transport, i: int) -> OrderRequest:
    # Every 7th order is too big for the gate; a third rest below the mark, the rest expire (IOC).
    quantity = Decimal("0.05") if i % 7 == 6 else Decimal("0.001")
    return OrderRequest(
        venue=venue,
        instrument="BTC/USDT:USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=quantity,
        price=Decimal("40000"),
        time_in_force=TimeInForce.GTC if i % 3 == 0 else TimeInForce.IOC,
        client_order_id=cid,
        transport=transport,
    )


@pytest.mark.timeout(180)
async def test_scraped_counters_equal_the_campaigns_counts(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    async with SimExchange(seed=17) as sim:
        venues = [VENUES["binance"](sim), VENUES["bybit"](sim)]
        gate = PortfolioGate(RiskLimits(max_notional_per_order=Decimal("1000")))
        async with (
            Gateway(
                venues=venues, gate=gate, journal=tmp_path / "g.db", reconcile=POLICY, refresh=None, metrics=registry
            ) as gw,
            MetricsServer(registry) as server,
            aiohttp.ClientSession() as session,
        ):
            for venue in venues:
                await wait_until(lambda v=venue: v.transport_for(Transport.AUTO) is Transport.WEBSOCKET)
            since_ms = int(time.time() * 1000)
            before = await scrape(session, server.url)
            sim.faults.start_campaign(
                FaultCampaign(seed=2026, probability=0.3, timeout_hold_seconds=0.5, visibility_delay_seconds=0.5)
            )
            handles: list[CommandHandle] = []
            transports = itertools.cycle([Transport.REST, Transport.WEBSOCKET])
            for batch in range(4):
                handles += await asyncio.gather(
                    *(
                        gw.submit(order(gw.new_client_order_id(), venue.name, next(transports), i))
                        for i in range(batch * 10, batch * 10 + 10)
                        for venue in venues
                    )
                )
                # Mid-campaign: every ack is published before submit returns, so the scrape
                # already counts exactly the handles so far.
                mid = await scrape(session, server.url)
                acks = Counter((h.venue, h.ack.receipt.status.value) for h in handles)
                for (venue_name, status), n in acks.items():
                    assert total(mid, "gateway_commands_total", venue=venue_name, status=status) == n
            sim.faults.stop_campaign()
            receipts = await asyncio.gather(*(h.resolved(timeout=60) for h in handles))
            await wait_until(lambda: gw.metrics is not None and not gw.metrics.unknown_open(), timeout=30)
            after = await scrape(session, server.url)

    assert sim.faults.applied, "the campaign injected no fault"
    acks = Counter(h.ack.receipt.status.value for h in handles)
    assert acks["UNKNOWN_EXECUTION"] >= 3 and acks["REJECTED"] >= 3, acks
    for status in ("ACCEPTED", "REJECTED", "UNKNOWN_EXECUTION"):
        assert total(after, "gateway_commands_total", status=status) == acks[status], status
    assert total(after, "gateway_submit_ack_seconds_count") == sum(h.ack.receipt.sent_at is not None for h in handles)

    # Every unknown resolved, and the histogram counted each once, by the outcome that proved it.
    resolved = Counter(
        r.status.value
        for h, r in zip(handles, receipts, strict=True)
        if h.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
    )
    assert "UNKNOWN_EXECUTION" not in resolved
    assert total(after, "gateway_unknown_resolution_seconds_count") == acks["UNKNOWN_EXECUTION"]
    assert total(after, "gateway_unknown_resolution_seconds_count", outcome="SYNCHRONIZED") == resolved["ACCEPTED"]
    assert total(after, "gateway_unknown_resolution_seconds_count", outcome="ABSENT") == resolved["REJECTED"]
    assert total(after, "gateway_unknown_open") == 0

    refused = sum(h.ack.receipt.native_code == "RISK" for h in handles)
    assert refused >= 8  # every 7th order of each venue is over the gate's per-order notional
    assert total(after, "gateway_gate_refusals_total", limit="max_notional_per_order") == refused
    assert total(after, "gateway_command_rejections_total", native_code="RISK") == refused

    # The reconciler's reads, per venue, are the simulator's logged reads since the campaign began
    # (less any read another part made meanwhile; the refresh is off, so there should be none).
    for venue in ("binance", "bybit"):
        logged = sum(is_rest(r.path) for r in getattr(sim, venue).reads(since_ms))
        ours = total(after, "gateway_venue_reads_total", venue=venue, purpose="reconcile") - total(
            before, "gateway_venue_reads_total", venue=venue, purpose="reconcile"
        )
        others = sum(
            total(after, "gateway_venue_reads_total", venue=venue, purpose=p)
            - total(before, "gateway_venue_reads_total", venue=venue, purpose=p)
            for p in ("other", "refresh")
        )
        assert ours == logged - others, (venue, ours, logged, others)
    assert total(after, "gateway_venue_reads_total", purpose="reconcile") > 0
    assert total(after, "gateway_journal_intent_seconds_count") == sum(
        h.ack.receipt.native_code != "RISK" for h in handles
    )
