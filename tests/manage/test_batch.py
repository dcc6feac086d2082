"""Batches end to end over loopback, both venues and both transports: one receipt per item, each the truth."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import CancelRequest, CommandStatus, InvalidOrderError, Transport
from risk import PortfolioGate, RiskLimits
from tests.manage.conftest import BTC, CASES, buy, gateway, sent, truth
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


def _batched(sim: SimExchange, name: str) -> bool:
    """Whether the venue saw batch requests (Binance has no WebSocket batch: those go one by one)."""
    paths = {"binance": "/fapi/v1/batchOrders", "bybit": "batch"}
    return any(paths[name] in r.path for r in sim.venues[name].requests)


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_a_batch_answers_each_item_as_a_single_order_would(
    sim: SimExchange, name: str, transport: Transport
) -> None:
    gate = PortfolioGate(RiskLimits(max_notional_per_order=Decimal("1000")))
    async with gateway(sim, name, gate=gate) as gw:
        requests = [
            buy(name, transport),
            buy(name, transport, reduce_only=True),  # no position: the venue refuses this item only
            buy(name, transport, qty="0.030"),  # 1,470 notional: the gate refuses it, it never enters the batch
            buy(name, transport, price="48000"),
        ]
        handles = await gw.submit_batch(requests)
        assert [h.client_order_id for h in handles] == [h.command_id for h in handles]
        statuses = [h.ack.receipt.status for h in handles]
        assert statuses == [CommandStatus.ACCEPTED, CommandStatus.REJECTED, CommandStatus.REJECTED,
                            CommandStatus.ACCEPTED]  # fmt: skip
        refused = handles[2].ack.receipt
        assert refused.native_code == "RISK" and "max_notional_per_order" in refused.message
        assert handles[1].ack.receipt.native_code == ("-2022" if name == "binance" else "110017")
        cids = [h.client_order_id or "" for h in handles]
        assert [sent(sim, name, cid, "create") for cid in cids] == [1, 1, 0, 1]
        assert truth(sim, name, cids[0]).price == Decimal("49000") and truth(sim, name, cids[3]).price == 48000
        assert _batched(sim, name) is (name == "bybit" or transport is Transport.REST)
        cancels = await gw.cancel_batch(
            [CancelRequest(venue=name, instrument=BTC, client_order_id=cid, transport=transport) for cid in cids[:2]]
        )
        assert [c.ack.receipt.status for c in cancels] == [CommandStatus.ACCEPTED, CommandStatus.REJECTED]
        assert truth(sim, name, cids[0]).status == "CANCELED"


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_a_batch_answer_lost_after_some_items_ran_resolves_each_item_to_the_truth(
    sim: SimExchange, name: str, transport: Transport
) -> None:
    async with gateway(sim, name) as gw:
        sim.faults.add(Fault(FaultKind.ACCEPT_THEN_5XX, venue=name, operation="batch", executed_items=2, status=502))
        handles = await gw.submit_batch([buy(name, transport, price=str(48000 + i * 100)) for i in range(4)])
        cids = [h.client_order_id or "" for h in handles]
        if not _batched(sim, name):
            pytest.skip("no batch over this transport: the items went one by one (each its own answer)")
        assert all(h.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION for h in handles)
        resolved = [await h.resolved(timeout=15) for h in handles]
        assert [r.status for r in resolved] == [CommandStatus.ACCEPTED] * 2 + [CommandStatus.REJECTED] * 2
        assert all(r.safe_to_resubmit for r in resolved[2:])
        assert [len(sim.truth.orders_for(cid)) for cid in cids] == [1, 1, 0, 0]
        assert [sent(sim, name, cid, "create") for cid in cids] == [1, 1, 1, 1]  # each item sent once, never again


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_a_lost_cancel_batch_resolves_each_cancel(sim: SimExchange, name: str, transport: Transport) -> None:
    async with gateway(sim, name) as gw:
        orders = await gw.submit_batch([buy(name, transport, price=str(48000 + i * 100)) for i in range(3)])
        sim.faults.add(Fault(FaultKind.ACCEPT_THEN_RESET, venue=name, operation="batch", executed_items=1))
        cancels = await gw.cancel_batch(
            [CancelRequest(venue=name, instrument=BTC, client_order_id=o.client_order_id, transport=transport)
             for o in orders]
        )  # fmt: skip
        if not _batched(sim, name) or len(sim.faults.applied) == 0:
            pytest.skip("no batch over this transport")
        resolved = [await c.resolved(timeout=15) for c in cancels]
        canceled = [truth(sim, name, o.client_order_id or "").status == "CANCELED" for o in orders]
        assert canceled == [True, False, False]
        assert [r.status for r in resolved] == [CommandStatus.ACCEPTED, CommandStatus.REJECTED, CommandStatus.REJECTED]


async def test_a_caller_mistake_anywhere_in_a_batch_raises_before_anything_is_sent(sim: SimExchange) -> None:
    async with gateway(sim, "binance") as gw:
        good, bad = buy("binance", Transport.REST), buy("binance", Transport.REST, price="49000.05")
        with pytest.raises(InvalidOrderError, match="tick size"):
            await gw.submit_batch([good, bad])
        assert sim.truth.attempts(venue="binance") == []
