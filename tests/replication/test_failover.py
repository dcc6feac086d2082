"""Standby takeover with fencing: SIGKILL sweeps in both modes, a partitioned primary, a refused publish."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway import CommandStatus, Gateway, OrderRequest, OrderType, Side, TimeInForce, Transport
from gateway.replication.consumer import AuditConsumer
from gateway.replication.errors import Fenced
from gateway.replication.failover import DrillResult, run_drill
from gateway.replication.lease import LeaseConfig
from gateway.replication.node import Node
from gateway.replication.server import NatsCluster
from reconcile import ReconcilePolicy
from tests.journal.helpers import order
from tests.replication.conftest import wait_until
from tests.replication.proxy import Proxy
from tests.unit.fakes import ScriptedVenue
from venues.binance import BinanceUsdm
from venues.sim import SimExchange

Links = Callable[..., Any]
LEASE = LeaseConfig(ttl=1.5, interval=0.1, margin=0.7)
SEEDS = 25  # per mode: 50 SIGKILLed primaries in CI; `make bench` runs 50 per mode


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["before_send", "tail"])
async def test_sigkill_sweep_the_standby_settles_every_command_to_the_truth(
    tmp_path: Path, nats_server: NatsCluster, mode: str
) -> None:
    results: list[DrillResult] = []
    async with SimExchange(seed=19) as sim:
        for first in range(1, SEEDS + 1, 2):
            batch = range(first, min(first + 2, SEEDS + 1))
            results += await asyncio.gather(
                *(run_drill(seed, tmp_path, sim=sim, nats_url=nats_server.url, mode=mode) for seed in batch)  # type: ignore[arg-type]
            )
    bad = [r.as_dict() for r in results if not r.ok]
    assert bad == []
    assert len(results) == SEEDS
    # The standby served after every kill; how fast is measured in `make bench`, not bounded here
    # (a timed bound fails on a loaded box without saying anything about correctness).
    assert all(r.served == 2 and r.takeover_seconds > 0 for r in results)
    assert sum(r.adopted for r in results) > 0  # some kills left commands in flight for the standby
    window = sum(len(r.window) for r in results)
    if mode == "before_send":
        assert window == 0  # every order that reached the venue was on the stream before its send
    takeovers = sorted(r.takeover_seconds for r in results)
    print(
        f"{mode}: {len(results)} kills, adopted {sum(r.adopted for r in results)}, "
        f"window {window} command(s) (tail mode's known window: intents not yet on JetStream), "
        f"takeover median {takeovers[len(takeovers) // 2]}s max {takeovers[-1]}s"
    )


def _binance(sim: SimExchange) -> BinanceUsdm:
    b = sim.binance
    return BinanceUsdm(
        sim.api_key, sim.api_secret, rest_url=b.rest_url, ws_api_url=b.ws_api_url, stream_url=b.stream_url,
        request_timeout=2.0, recv_window_ms=1000,  # fencing is under test here, not timeouts
    )  # fmt: skip


def _resting(cid: str) -> OrderRequest:
    return OrderRequest(
        venue="binance", instrument="BTC/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.001"),
        price=Decimal("40000"), time_in_force=TimeInForce.GTC, client_order_id=cid, transport=Transport.REST,
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["tail", "before_send"])
async def test_a_partitioned_primary_sends_nothing_after_the_takeover(
    tmp_path: Path, nats_server: NatsCluster, links: Links, mode: str
) -> None:
    proxy = Proxy(nats_server.nodes[0].port)
    await proxy.start()
    policy = ReconcilePolicy(grace_seconds=1.0, deadline_seconds=20, interval_seconds=0.1)
    try:
        async with SimExchange(seed=23) as sim:
            primary = Node(await links(proxy.url, "part", heartbeat_ttl=LEASE.ttl), "primary", tmp_path / "p.db",
                           intents=mode, lease=LEASE)  # type: ignore[arg-type]  # fmt: skip
            journal = await primary.take_lead()
            async with Gateway(venues=[_binance(sim)], journal=journal, reconcile=policy) as gw:
                for i in range(5):
                    await gw.submit(_resting(f"pa-{i}"))
                standby = Node(await links(nats_server.url, "part", heartbeat_ttl=LEASE.ttl), "standby",
                               tmp_path / "s.db", intents=mode, lease=LEASE)  # type: ignore[arg-type]  # fmt: skip
                assert journal.publisher is not None and await journal.publisher.drain(5)
                published = journal.publisher.last_stream_seq
                taking = asyncio.create_task(standby.take_lead())
                await wait_until(lambda: standby.follower.last_stream_seq >= published)
                proxy.partition()
                # The primary keeps trading through the partition and after the takeover.
                refused_after = 0
                i = 5
                while not taking.done() or refused_after < 10:
                    handle = await gw.submit(_resting(f"pa-{i}"))
                    i += 1
                    if taking.done():
                        refused_after += 1
                        assert handle.ack.receipt.status is CommandStatus.REJECTED
                        assert "halt" in handle.ack.receipt.message
                    await asyncio.sleep(0.02)  # the strategy's own pace between orders
                standby_journal = await taking
                assert gw.halted is not None and "Fenced" in gw.halted
                async with Gateway(venues=[_binance(sim)], journal=standby_journal, reconcile=policy) as gw2:
                    assert standby.leadership.acquired_at is not None  # taken in open_run, after the venues
                    taken_ns = int(standby.leadership.acquired_at * 1e9)
                    handle = await gw2.submit(_resting("sb-1"))
                    assert handle.ack.receipt.status is CommandStatus.ACCEPTED
                    for adopted in standby_journal.adopted:
                        adopted_handle = gw2.handle(adopted.command.command_id)
                        assert adopted_handle is not None
                        await adopted_handle.resolved(timeout=20)
                    proxy.heal()  # the old primary comes back: JetStream refuses it; it stays halted
                    assert journal.publisher is not None
                    late = await gw.submit(_resting("pa-late"))
                    assert late.ack.receipt.status is CommandStatus.REJECTED
            old = [a for a in sim.truth.attempts(venue="binance") if (a.client_order_id or "").startswith("pa-")]
            assert old and all(a.arrived_ns < taken_ns for a in old)  # nothing from the old epoch after it
            assert sim.truth.order("pa-late", "binance") is None
    finally:
        await proxy.close()


async def test_a_refused_publish_fences_the_old_leader(tmp_path: Path, nats_server: NatsCluster, links: Links) -> None:
    """A leader whose lease still looks valid to itself (a pause, a slow clock) but was superseded on the stream."""
    link = await links(nats_server.url, "fence", heartbeat_ttl=LEASE.ttl)
    node = Node(link, "primary", tmp_path / "p.db", lease=LEASE)
    journal = await node.take_lead()
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.ACCEPTED] * 10)
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        await gw.submit(order(client_order_id="f-1"))
        assert journal.publisher is not None and await journal.publisher.drain(5)
        # Another node's Lead marker lands right after the stream's tail (its heartbeat untouched).
        rival = await links(nats_server.url, "fence")
        last = await rival.last_stream_seq()
        headers = {"Nats-Expected-Last-Sequence": str(last), "Gw-Kind": "Lead", "Gw-Epoch": "2", "Gw-Node": "rival"}
        await rival.js.publish(rival.names.subject, b"{}", headers=headers)
        await gw.submit(order(client_order_id="f-2"))  # tail mode: sent; its intent's publish is refused
        await wait_until(lambda: journal.publisher is not None and journal.publisher.fenced is not None)
        sent = len(venue.sent)
        refused = await gw.submit(order(client_order_id="f-3"))
        assert refused.ack.receipt.status is CommandStatus.REJECTED and "Fenced" in (gw.halted or "")
        assert len(venue.sent) == sent
        assert isinstance(journal.publisher.fenced, Fenced)
        assert node.leadership.lost is not None  # the heartbeat stops too: a standby may take over
    consumer = AuditConsumer(link)
    await consumer.catch_up()
    assert consumer.epoch == 2 and consumer.leader == "rival"
    assert "f-2" not in consumer.replica.commands  # the old leader's late publish never landed
