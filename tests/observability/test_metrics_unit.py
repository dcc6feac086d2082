"""The Metrics object itself: off by default, summed over gateways sharing a registry, generic by operation."""

from __future__ import annotations

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry

from gateway import CommandOperation, CommandReceipt, CommandStatus, Gateway
from gateway.metrics import Histogram, Metrics
from gateway.model import Ack, CommandAck, utc_now
from tests.journal.helpers import order
from tests.unit.fakes import ScriptedVenue


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_no_metrics_unless_asked() -> None:
    async with Gateway(venues=[ScriptedVenue()], reconcile=None) as gw:
        assert gw.metrics is None and gw.metrics_registry is None
        assert gw.bus._taps == []  # nothing sees the events: metrics cost nothing when off


async def test_two_gateways_share_one_registry_and_a_closed_one_keeps_its_counts() -> None:
    registry = CollectorRegistry()
    labels = {"venue": "fake", "operation": "CREATE_ORDER", "status": "ACCEPTED"}
    async with Gateway(venues=[ScriptedVenue()], reconcile=None, metrics=registry) as one:
        await one.submit(order(client_order_id="m-1"))
        async with Gateway(venues=[ScriptedVenue()], reconcile=None, metrics=registry) as two:
            await two.submit(order(client_order_id="m-2"))
            await two.submit(order(client_order_id="m-3"))
            assert value(registry, "gateway_commands_total", **labels) == 3
            assert value(registry, "gateway_unknown_open", venue="fake") == 0  # reported as 0, not absent
    assert value(registry, "gateway_commands_total", **labels) == 3  # counters outlive the gateways
    assert registry.get_sample_value("gateway_unknown_open", {"venue": "fake"}) is None  # gauges do not


def test_any_operation_is_counted_by_its_value() -> None:
    metrics = Metrics()
    for operation in CommandOperation:
        receipt = CommandReceipt(
            operation=operation,
            status=CommandStatus.REJECTED,
            venue="v",
            instrument="BTC/USDT:USDT",
            native_code="-2011",
            sent_at=utc_now(),
            received_at=utc_now(),
        )
        ack = CommandAck(receipt=receipt, transport=None, acknowledged_at=utc_now())
        metrics.on_event(Ack(sequence=1, command_id=f"c-{operation.value}", ack=ack))
    assert {key[1] for key in metrics.commands} == {op.value for op in CommandOperation}
    assert all(key[2] == "-2011" for key in metrics.rejections)


def test_histogram_buckets_are_prometheus_le_buckets() -> None:
    hist = Histogram((0.1, 1.0))
    for v in (0.1, 0.5, 1.0, 3.0):
        hist.observe(v)
    assert hist.counts == [1, 2, 1] and hist.count == 4 and hist.total == pytest.approx(4.6)
