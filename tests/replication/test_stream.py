"""The audit stream on JetStream: publisher, replica consumer, gaps, outages, divergence, ``before_send``."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway import CommandHandle, CommandStatus, Gateway, OrderRequest, OrderType, Side, TimeInForce, Transport
from gateway.journal import Journal, JournalReader
from gateway.replica import StateReplica
from gateway.replication.consumer import AuditConsumer
from gateway.replication.errors import UnrecoverableGap
from gateway.replication.link import NatsLink
from gateway.replication.publisher import AuditPublisher
from gateway.replication.replicated import ReplicatedJournal
from gateway.replication.server import NatsCluster
from gateway.replication.wire import H_KIND, H_RUN, H_SEQ, WireMessage
from reconcile import ReconcilePolicy
from tests.journal.helpers import order
from tests.journal.test_replica import handle_summary
from tests.replication.conftest import wait_until
from tests.unit.fakes import ScriptedVenue
from venues.binance import BinanceUsdm
from venues.sim import FaultCampaign, SimExchange

Links = Callable[..., Any]


async def stream_items(link: NatsLink) -> list[tuple[str, int, str]]:
    """(run, sequence, kind) of every message, read back by stream sequence."""
    out = []
    for seq in range(1, await link.last_stream_seq() + 1):
        raw = await link.js.get_msg(link.names.stream, seq=seq)
        headers = raw.headers or {}
        out.append((headers.get(H_RUN, ""), int(headers.get(H_SEQ, "0")), headers.get(H_KIND, "")))
    return out


def journal_replica(path: Path) -> StateReplica:
    replica = StateReplica(strict=False)
    with JournalReader(path) as reader:
        for run in reader.runs():
            replica.apply_all(reader.audit_items(run.run_id))
    return replica


async def test_replica_from_the_stream_equals_the_live_gateway_after_a_fault_campaign(
    tmp_path: Path, nats_server: NatsCluster, links: Links
) -> None:
    link = await links(nats_server.url, "campaign")
    inner = Journal(tmp_path / "j.db")
    live = StateReplica(strict=False)
    inner.subscribe(live.apply)
    journal = ReplicatedJournal(inner, link, digest_every=25)
    policy = ReconcilePolicy(grace_seconds=1.0, deadline_seconds=20, interval_seconds=0.2)
    handles: list[CommandHandle] = []
    async with SimExchange(seed=5) as sim:
        b = sim.binance
        venue = BinanceUsdm(
            sim.api_key, sim.api_secret, rest_url=b.rest_url, ws_api_url=b.ws_api_url, stream_url=b.stream_url,
            request_timeout=0.5, recv_window_ms=1000,
        )  # fmt: skip
        async with Gateway(venues=[venue], journal=journal, reconcile=policy) as gw:
            sim.faults.start_campaign(
                FaultCampaign(seed=7, probability=0.3, timeout_hold_seconds=0.6, visibility_delay_seconds=0.6)
            )
            transports = itertools.cycle([Transport.REST, Transport.WEBSOCKET])
            for i in range(60):
                request = OrderRequest(
                    venue="binance", instrument="BTC/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT,
                    quantity=Decimal("0.001"), price=Decimal("40000" if i % 2 else "60000"),
                    time_in_force=TimeInForce.GTC if i % 3 else TimeInForce.IOC, transport=next(transports),
                )  # fmt: skip
                handles.append(await gw.submit(request))
            sim.faults.stop_campaign()
            await asyncio.gather(*(h.resolved(timeout=30) for h in handles))
            assert any(h.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION for h in handles)
    consumer = AuditConsumer(await links(nats_server.url, "campaign"))
    await consumer.catch_up()
    await consumer.close()
    assert consumer.replica.snapshot() == live.snapshot() == journal_replica(tmp_path / "j.db").snapshot()
    for handle in handles:
        assert consumer.replica.snapshot()[handle.command_id] == handle_summary(handle)
    assert consumer.digests_checked >= 3 and consumer.divergences == []
    state = consumer.state()
    assert state["commands"] == 60 and state["unknown_open"] == 0 and sum(state["by_status"].values()) == 60
    assert state["last_sequence"] == live.last_sequence


async def test_a_killed_publisher_restarts_without_gap_or_duplicate(
    tmp_path: Path, nats_server: NatsCluster, links: Links
) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.ACCEPTED] * 200)
    journal = Journal(path)
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        for i in range(150):
            await gw.submit(order(client_order_id=f"k-{i}"))
        await journal.flush()
        with JournalReader(path) as reader:
            journal_id = reader.runs()[0].run_id
        assert journal.run_id is not None
        link = await links(nats_server.url, "kill")
        first = AuditPublisher(link, path, journal_id=journal_id, run_id=journal.run_id, window=64)
        first.start()
        await wait_until(lambda: first.published >= 40)
        assert first._task is not None
        first._task.cancel()  # killed mid-window: some publishes are out, their acks never read
        first_acked = first.published
        again = await links(nats_server.url, "kill")
        second = AuditPublisher(again, path, journal_id=journal_id, run_id=journal.run_id)
        second.start()
        assert await second.drain(10)
        await second.close()
    items = await stream_items(link)
    with JournalReader(path) as reader:
        entries = reader.entries()
    assert first_acked < len(entries)
    assert items == [(e.run_id, e.sequence, e.kind) for e in entries if e.kind != "RunEnded"]
    consumer = AuditConsumer(link)
    await consumer.catch_up()
    assert consumer.refetched == 0 and consumer.replica.snapshot() == journal_replica(path).snapshot()


async def test_a_nats_outage_never_stops_submits_and_the_stream_catches_up_in_order(
    tmp_path: Path, nats_server: NatsCluster, links: Links
) -> None:
    link = await links(nats_server.url, "outage")
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.ACCEPTED] * 100)
    inner = Journal(tmp_path / "j.db")
    journal = ReplicatedJournal(inner, link)
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        for i in range(10):
            await gw.submit(order(client_order_id=f"a-{i}"))
        assert journal.publisher is not None and await journal.publisher.drain(5)
        await nats_server.nodes[0].stop()
        started = time.monotonic()
        for i in range(30):
            handle = await gw.submit(order(client_order_id=f"b-{i}"))
            assert handle.ack.receipt.status is CommandStatus.ACCEPTED
        assert time.monotonic() - started < 1.0  # the submit path never waited on NATS
        assert gw.halted is None
        await nats_server.nodes[0].start()
        await nats_server.nodes[0].wait_ready()
        assert await journal.publisher.drain(20)
    items = await stream_items(link)
    with JournalReader(tmp_path / "j.db") as reader:
        entries = reader.entries()
    digests = [i for i in items if i[2] == "Digest"]
    assert [i for i in items if i[2] != "Digest"] == [(e.run_id, e.sequence, e.kind) for e in entries]
    assert len(digests) == 1  # the run end's
    consumer = AuditConsumer(link)
    await consumer.catch_up()
    assert consumer.replica.snapshot() == journal_replica(tmp_path / "j.db").snapshot()
    assert consumer.digests_checked == 1 and consumer.divergences == []


async def _publish_run(tmp_path: Path, link: NatsLink, commands: int = 20) -> Path:
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.ACCEPTED] * commands)
    path = tmp_path / "j.db"
    async with Gateway(venues=[venue], journal=ReplicatedJournal(Journal(path), link), reconcile=None) as gw:
        for i in range(commands):
            await gw.submit(order(client_order_id=f"g-{i}"))
    return path


async def test_a_deleted_message_is_an_unrecoverable_gap(
    tmp_path: Path, nats_server: NatsCluster, links: Links
) -> None:
    link = await links(nats_server.url, "gap")
    await _publish_run(tmp_path, link)
    await link.js.delete_msg(link.names.stream, 7)
    consumer = AuditConsumer(await links(nats_server.url, "gap"))
    with pytest.raises(UnrecoverableGap, match=r"stream sequence\(s\) 7 are gone: deleted or expired") as caught:
        await consumer.catch_up()
    assert caught.value.missing == [7]
    assert consumer.last_stream_seq == 6  # nothing after the gap was applied


class _DroppingConsumer(AuditConsumer):
    """Loses one delivery (what a consumer reset can do): the consumer must fetch it again."""

    dropped: list[int]

    async def _receive(self, timeout: float) -> WireMessage:
        msg = await super()._receive(timeout)
        while msg.stream_seq in (5, 6) and msg.stream_seq not in self.dropped:
            self.dropped.append(msg.stream_seq)
            msg = await super()._receive(timeout)
        return msg


async def test_a_missed_delivery_is_fetched_again(tmp_path: Path, nats_server: NatsCluster, links: Links) -> None:
    link = await links(nats_server.url, "refetch")
    path = await _publish_run(tmp_path, link)
    consumer = _DroppingConsumer(await links(nats_server.url, "refetch"))
    consumer.dropped = []
    await consumer.catch_up()
    assert consumer.dropped == [5, 6] and consumer.refetched == 2
    assert consumer.replica.snapshot() == journal_replica(path).snapshot()


async def test_replay_from_a_stream_position_or_a_journal_snapshot(
    tmp_path: Path, nats_server: NatsCluster, links: Links
) -> None:
    link = await links(nats_server.url, "replay")
    path = await _publish_run(tmp_path, link)
    full = journal_replica(path)
    seeded = AuditConsumer(link)
    seeded.seed_from_journal(path)
    await seeded.catch_up()
    assert seeded.replica.snapshot() == full.snapshot() and seeded.duplicates > 0
    late = AuditConsumer(link, start_seq=10)
    await late.catch_up()
    assert late.last_stream_seq == await link.last_stream_seq()
    assert set(late.replica.commands) < set(full.commands)  # a partial view: it began mid-run


async def test_a_different_digest_raises_a_divergence_alert(
    tmp_path: Path, nats_server: NatsCluster, links: Links
) -> None:
    link = await links(nats_server.url, "diverge")
    path = await _publish_run(tmp_path, link)
    with JournalReader(path) as reader:
        run_id = reader.runs()[0].run_id
    last = full_last = journal_replica(path).last_sequence
    assert full_last is not None
    # A digest that does not match what the stream holds (what a wrong leader state would publish).
    await link.js.publish(
        link.names.subject, b'{"digest": "0000", "at": "item"}',
        headers={H_KIND: "Digest", H_RUN: run_id, H_SEQ: str(last), "Gw-Node": "primary"},
    )  # fmt: skip
    consumer = AuditConsumer(await links(nats_server.url, "diverge"), node="replica-1")
    await consumer.catch_up()
    assert len(consumer.divergences) == 1 and consumer.divergences[0].theirs == "0000"
    assert consumer.state()["divergences"][0].startswith(f"DIVERGED at {run_id} sequence {last}")
    await wait_until_alert(link)


async def wait_until_alert(link: NatsLink) -> None:
    async def alerts() -> int:
        info = await link.js.stream_info(link.names.alert_stream)
        return int(info.state.messages)

    deadline = time.monotonic() + 5
    while await alerts() == 0:
        assert time.monotonic() < deadline, "no divergence alert on the alert stream"
        await asyncio.sleep(0.02)
    raw = await link.js.get_msg(link.names.alert_stream, seq=1)
    assert b"DIVERGED" in (raw.data or b"")


async def _leaders_elected(link: NatsLink, timeout: float = 30.0) -> None:
    """Wait until the cluster answers JetStream again: a meta leader and a leader for the stream."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await link.js.account_info()
            await link.js.stream_info(link.names.stream)
            return
        except Exception:  # nats-py raises its own timeout and "no responders" errors during the election
            assert time.monotonic() < deadline, "the cluster chose no new leader"
            await asyncio.sleep(0.1)


class _WitnessVenue(ScriptedVenue):
    """Records, at each send, whether the command's intent was already on the stream."""

    def __init__(self, link: NatsLink) -> None:
        super().__init__()
        self.link = link
        self.seen_before_send: list[bool] = []

    async def submit(self, request: OrderRequest) -> Any:
        consumer = AuditConsumer(self.link, alerts=False)
        await consumer.catch_up()
        await consumer.close()
        self.seen_before_send.append(request.client_order_id in consumer.replica.commands)
        return await super().submit(request)


async def test_before_send_on_a_three_node_cluster(tmp_path: Path, nats_cluster: NatsCluster, links: Links) -> None:
    link = await links(nats_cluster.url, "durable", replicas=3)
    info = await link.js.stream_info(link.names.stream)
    assert info.config.num_replicas == 3
    venue = _WitnessVenue(await links(nats_cluster.url, "durable", replicas=3))
    venue.script.extend([CommandStatus.ACCEPTED] * 20)
    journal = ReplicatedJournal(Journal(tmp_path / "j.db"), link, intents="before_send", intent_timeout=3.0)
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        for i in range(5):
            await gw.submit(order(client_order_id=f"d-{i}"))
        await nats_cluster.nodes[2].stop()  # one host lost: a majority still acknowledges
        await _leaders_elected(link)  # if the lost host led the stream or the cluster, a new one is chosen
        for i in range(5, 8):
            handle = await gw.submit(order(client_order_id=f"d-{i}"))
            assert handle.ack.receipt.status is CommandStatus.ACCEPTED
        assert venue.seen_before_send == [True] * 8


async def test_before_send_without_an_ack_sends_nothing(tmp_path: Path, nats_server: NatsCluster, links: Links) -> None:
    link = await links(nats_server.url, "noack")
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.ACCEPTED] * 5)
    journal = ReplicatedJournal(Journal(tmp_path / "j.db"), link, intents="before_send", intent_timeout=0.5)
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        await gw.submit(order(client_order_id="ok-1"))
        sent = len(venue.sent)
        await nats_server.nodes[0].stop()
        handle = await gw.submit(order(client_order_id="no-ack"))
        assert handle.ack.receipt.status is CommandStatus.REJECTED and "halt" in handle.ack.receipt.message
        assert gw.halted is not None and "IntentNotReplicated" in gw.halted
        assert len(venue.sent) == sent  # no ack, no send
