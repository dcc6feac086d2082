"""Amend end to end over loopback, both venues and both transports: the receipt equals the simulator's truth."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import (
    AmendRequest,
    CommandHandle,
    CommandOperation,
    CommandStatus,
    InvalidOrderError,
    OrderReport,
    OrderRequest,
    OrderState,
    Transport,
)
from tests.manage.conftest import BTC, CASES, buy, gateway, make_venue, sent, truth, wait_until
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_amend_accepted_changes_the_order_and_names_it(sim: SimExchange, name: str, transport: Transport) -> None:
    async with gateway(sim, name) as gw:
        create = await gw.submit(buy(name, transport))
        assert create.ack.receipt.status is CommandStatus.ACCEPTED
        cid = create.client_order_id
        assert cid is not None
        handle = await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid,
                                             price=Decimal("48000"), transport=transport))  # fmt: skip
        receipt = handle.ack.receipt
        assert (receipt.operation, receipt.status) == (CommandOperation.AMEND_ORDER, CommandStatus.ACCEPTED)
        assert (receipt.client_order_id, receipt.order_id) == (cid, create.ack.receipt.order_id)
        assert receipt.transport is transport and receipt.request_id == handle.command_id
        order = truth(sim, name, cid)
        # Binance needs both values: the gateway sent the unchanged quantity from the order it knows.
        assert (order.price, order.qty, order.status) == (Decimal("48000"), Decimal("0.010"), "NEW")
        assert sent(sim, name, cid, "amend") == 1
        await wait_until(lambda: create.order_view is not None and create.order_view.price == Decimal("48000"))
        # A second amend builds on the first (the quantity), whatever the stream has shown so far.
        again = await gw.amend(AmendRequest(venue=name, instrument=BTC, order_id=receipt.order_id,
                                            quantity=Decimal("0.020"), transport=transport))  # fmt: skip
        assert again.ack.receipt.status is CommandStatus.ACCEPTED
        assert (order.price, order.qty) == (Decimal("48000"), Decimal("0.020"))


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_amend_refused_before_sending(sim: SimExchange, name: str, transport: Transport) -> None:
    async with gateway(sim, name) as gw:
        create = await gw.submit(buy(name, transport))
        cid = create.client_order_id
        assert cid is not None
        with pytest.raises(InvalidOrderError, match="tick size"):
            await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid, price=Decimal("48000.05")))
        sim.set_mark("BTCUSDT", "48000", venue=name)  # fills at 49000
        await wait_until(lambda: create.order_view is not None and create.order_view.state is OrderState.FILLED)
        late = await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid, price=Decimal("47000")))
        receipt = late.ack.receipt
        assert (receipt.status, receipt.order_state, receipt.safe_to_resubmit) == (
            CommandStatus.REJECTED, OrderState.FILLED, True,
        )  # fmt: skip
        assert "already FILLED" in receipt.message and receipt.order_id == create.ack.receipt.order_id
        assert sent(sim, name, cid, "amend") == 0


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_the_venue_rejecting_an_amend_of_a_filled_order_is_a_rejected_receipt(
    sim: SimExchange, name: str, transport: Transport
) -> None:
    """The gateway's view is stale (the fill not seen yet): the venue's refusal is the receipt."""
    venue = make_venue(sim, name, stream_url=None)  # no user stream: nothing tells the adapter of the fill
    async with gateway(sim, name) as gw:
        create = await gw.submit(buy(name, transport))
    await venue.start(_Silent())
    try:
        stale = create.order_view or _view_of(create)
        sim.set_mark("BTCUSDT", "48000", venue=name)
        request = AmendRequest(venue=name, instrument=BTC, client_order_id=create.client_order_id,
                               price=Decimal("47000"), transport=transport)  # fmt: skip
        receipt = await venue.amend(request, "am-direct", stale)
        assert (receipt.status, receipt.safe_to_resubmit) == (CommandStatus.REJECTED, True)
        assert receipt.native_code == ("-2013" if name == "binance" else "110001")
        assert truth(sim, name, create.client_order_id or "").status == "FILLED"
    finally:
        await venue.close()


LOST = [
    (FaultKind.ACCEPT_THEN_TIMEOUT, True),
    (FaultKind.ACCEPT_THEN_RESET, True),
    (FaultKind.ACCEPT_THEN_5XX, True),
    (FaultKind.REJECT_THEN_5XX, False),
    (FaultKind.UNKNOWN_CODE, True),
    (FaultKind.UNKNOWN_CODE, False),
    (FaultKind.MALFORMED_2XX, True),
    (FaultKind.WS_DROP, True),
    (FaultKind.WS_DROP, False),
]


@pytest.mark.parametrize(("kind", "executed"), LOST)
@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_a_lost_amend_answer_resolves_to_the_truth_and_is_sent_once(
    sim: SimExchange, name: str, transport: Transport, kind: FaultKind, executed: bool
) -> None:
    if kind is FaultKind.WS_DROP and transport is not Transport.WEBSOCKET:
        pytest.skip("a WebSocket drop needs the WebSocket")
    async with gateway(sim, name) as gw:
        create = await gw.submit(buy(name, transport))
        cid = create.client_order_id
        assert cid is not None
        sim.faults.add(Fault(kind, venue=name, operation="amend", executed=executed, delay_seconds=1.5,
                             status=502 if kind is FaultKind.ACCEPT_THEN_5XX else None))  # fmt: skip
        handle = await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid,
                                             price=Decimal("48500"), transport=transport))  # fmt: skip
        assert handle.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
        resolved = await handle.resolved(timeout=15)
        took = truth(sim, name, cid).price == Decimal("48500")
        assert took is Fault(kind, executed=executed).executes  # the fault did what it says
        if took:
            assert resolved.status is CommandStatus.ACCEPTED, resolved
        else:
            assert (resolved.status, resolved.safe_to_resubmit) == (CommandStatus.REJECTED, True), resolved
        assert (resolved.client_order_id, resolved.order_id) == (cid, create.ack.receipt.order_id)
        assert sent(sim, name, cid, "amend") == 1


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_an_amend_lost_while_the_order_filled_resolves_rejected_with_the_final_state(
    sim: SimExchange, name: str, transport: Transport
) -> None:
    async with gateway(sim, name) as gw:
        create = await gw.submit(buy(name, transport))
        cid = create.client_order_id
        assert cid is not None
        sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, venue=name, operation="amend", status=503))
        handle = await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid,
                                             price=Decimal("48500"), transport=transport))  # fmt: skip
        assert handle.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
        sim.set_mark("BTCUSDT", "48000", venue=name)  # the order fills at its old price
        resolved = await handle.resolved(timeout=15)
        assert (resolved.status, resolved.order_state, resolved.safe_to_resubmit) == (
            CommandStatus.REJECTED, OrderState.FILLED, True,
        )  # fmt: skip
        assert truth(sim, name, cid).price == Decimal("49000")


class _Silent:
    def order_update(self, order: object) -> None: ...

    def stream_gap(self, venue: str, reason: str) -> None: ...

    def parse_error(self, venue: str, detail: str) -> None: ...

    def wants_order_update(self, venue: str, client_order_id: str | None, order_id: str | None) -> bool:
        return False

    def account_update(self, venue: str, positions: object, balances: object) -> None: ...

    def mark_update(self, venue: str, instrument: str, price: object) -> None: ...


def _view_of(create: CommandHandle) -> OrderReport:
    assert isinstance(create.request, OrderRequest)
    receipt = create.ack.receipt
    request = create.request
    return OrderReport(
        venue=receipt.venue, instrument=BTC, order_id=receipt.order_id or "", client_order_id=request.client_order_id,
        side=request.side, type=request.type, quantity=request.quantity, price=request.price, state=OrderState.NEW,
    )  # fmt: skip


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_a_second_amend_waits_for_the_first_ones_proof(sim: SimExchange, name: str, transport: Transport) -> None:
    """Two amends of one order in flight could not be told apart: the second is refused, nothing sent."""
    async with gateway(sim, name) as gw:
        create = await gw.submit(buy(name, transport))
        cid = create.client_order_id or ""
        sim.faults.add(Fault(FaultKind.ACCEPT_THEN_5XX, venue=name, operation="amend", status=502))
        first = await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid, price=Decimal("48500"),
                                            transport=transport))  # fmt: skip
        assert first.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
        second = await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid, price=Decimal("49000"),
                                             transport=transport))  # fmt: skip
        receipt = second.ack.receipt
        assert (receipt.status, receipt.native_code, receipt.safe_to_resubmit) == (
            CommandStatus.REJECTED, "AMEND_PENDING", True,
        )  # fmt: skip
        assert first.command_id in receipt.message and sent(sim, name, cid, "amend") == 1
        assert (await first.resolved(timeout=15)).status is CommandStatus.ACCEPTED
        third = await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid, price=Decimal("49000"),
                                            transport=transport))  # fmt: skip
        assert third.ack.receipt.status is CommandStatus.ACCEPTED and truth(sim, name, cid).price == Decimal("49000")
