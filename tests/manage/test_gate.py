"""The gate and amends: a rise in exposure is checked like a new order before sending; a fall frees it once proven."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import AmendRequest, CommandStatus, Transport
from risk import PortfolioGate, RiskLimits
from tests.manage.conftest import BTC, buy, gateway, sent
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


def to_qty(name: str, cid: str, quantity: str) -> AmendRequest:
    return AmendRequest(venue=name, instrument=BTC, client_order_id=cid, quantity=Decimal(quantity))


async def reserved(gate: PortfolioGate, cid: str) -> Decimal:
    return (await gate.snapshot()).reservations[cid]


@pytest.mark.parametrize("name", ["binance", "bybit"])
async def test_an_amend_raising_exposure_past_a_limit_is_refused_before_sending(sim: SimExchange, name: str) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("1000")))
    async with gateway(sim, name, gate=gate) as gw:
        create = await gw.submit(buy(name, Transport.REST))  # 490 reserved
        cid = create.client_order_id or ""
        assert await reserved(gate, cid) == Decimal("490")
        refused = await gw.amend(to_qty(name, cid, "0.030"))
        receipt = refused.ack.receipt
        assert (receipt.status, receipt.native_code, receipt.safe_to_resubmit) == (CommandStatus.REJECTED, "RISK", True)
        assert "max_gross_exposure" in receipt.message and sent(sim, name, cid, "amend") == 0
        assert await reserved(gate, cid) == Decimal("490")
        raised = await gw.amend(to_qty(name, cid, "0.020"))
        assert raised.ack.receipt.status is CommandStatus.ACCEPTED
        assert await reserved(gate, cid) == Decimal("980")  # reserved before the send, kept once accepted


@pytest.mark.parametrize("name", ["binance", "bybit"])
async def test_a_lowering_amend_frees_exposure_only_once_proven(sim: SimExchange, name: str) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("5000")))
    async with gateway(sim, name, gate=gate) as gw:
        create = await gw.submit(buy(name, Transport.REST, qty="0.020"))  # 980 reserved
        cid = create.client_order_id or ""
        sim.faults.add(Fault(FaultKind.ACCEPT_THEN_5XX, venue=name, operation="amend", status=502))
        lower = await gw.amend(to_qty(name, cid, "0.010"))
        assert lower.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
        assert await reserved(gate, cid) == Decimal("980")  # unknown: the exposure stays reserved
        assert (await lower.resolved(timeout=15)).status is CommandStatus.ACCEPTED
        await gw.close()  # the gate's bookkeeping has run
        assert await reserved(gate, cid) == Decimal("490")


@pytest.mark.parametrize("name", ["binance", "bybit"])
async def test_a_rise_that_did_not_take_effect_is_undone(sim: SimExchange, name: str) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("5000")))
    async with gateway(sim, name, gate=gate) as gw:
        create = await gw.submit(buy(name, Transport.REST))
        cid = create.client_order_id or ""
        sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, venue=name, operation="amend", status=503))
        rise = await gw.amend(to_qty(name, cid, "0.020"))
        assert await reserved(gate, cid) == Decimal("980")  # reserved before the send
        resolved = await rise.resolved(timeout=15)
        assert (resolved.status, resolved.safe_to_resubmit) == (CommandStatus.REJECTED, True)
        await gw.close()
        assert await reserved(gate, cid) == Decimal("490")
