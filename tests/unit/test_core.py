"""Gateway core with a scripted venue: caller mistakes raise before sending; outcomes are receipts."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from gateway import (
    CancelRequest,
    CommandStatus,
    Gateway,
    InvalidOrderError,
    OrderRequest,
    OrderState,
    OrderType,
    ResolutionTimeout,
    Side,
)
from gateway.handle import HandleState
from gateway.model import OrderReport
from tests.unit.fakes import BTC, ScriptedVenue


def order(**kw: object) -> OrderRequest:
    base: dict[str, object] = dict(
        venue="fake",
        instrument=BTC,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        price=Decimal("50000"),
    )
    return OrderRequest(**{**base, **kw})  # type: ignore[arg-type]


async def test_submit_assigns_a_valid_unique_client_id() -> None:
    venue = ScriptedVenue()
    async with Gateway(venues=[venue], reconcile=None) as gw:
        handles = [await gw.submit(order()) for _ in range(50)]
    ids = {h.client_order_id for h in handles}
    assert len(ids) == 50
    for cid in ids:
        assert cid and re.fullmatch(r"[A-Za-z0-9-]{1,36}", cid)
    assert all(h.ack.receipt.status is CommandStatus.ACCEPTED for h in handles)


async def test_unknown_venue_raises_before_anything_is_sent() -> None:
    venue = ScriptedVenue()
    async with Gateway(venues=[venue], reconcile=None) as gw:
        with pytest.raises(InvalidOrderError, match=r"venue: 'nope' is not configured; known venues: fake"):
            await gw.submit(order(venue="nope"))
    assert venue.sent == []


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"price": Decimal("50000.05")}, r"price: 50000.05 is not a multiple of the tick size 0.1"),
        ({"quantity": Decimal("0.0015")}, r"quantity: 0.0015 is not a multiple of the step size 0.001"),
        ({"quantity": Decimal("0.001"), "price": Decimal("100.0")}, r"quantity: notional 0.1000 .* minimum notional 5"),
        ({"instrument": "DOGE/USDT:USDT"}, r"instrument: 'DOGE/USDT:USDT' is not listed on fake"),
    ],
)
async def test_filter_violations_raise_before_sending(kw: dict[str, object], message: str) -> None:
    venue = ScriptedVenue()
    async with Gateway(venues=[venue], reconcile=None) as gw:
        with pytest.raises(InvalidOrderError, match=message):
            await gw.submit(order(**kw))
    assert venue.sent == []


async def test_reusing_a_client_id_is_refused() -> None:
    venue = ScriptedVenue()
    async with Gateway(venues=[venue], reconcile=None) as gw:
        await gw.submit(order(client_order_id="mine-1"))
        with pytest.raises(InvalidOrderError, match="'mine-1' is already used"):
            await gw.submit(order(client_order_id="mine-1"))
    assert len(venue.sent) == 1


async def test_rejection_is_a_receipt_not_an_exception() -> None:
    venue = ScriptedVenue()
    venue.script.append(CommandStatus.REJECTED)
    async with Gateway(venues=[venue], reconcile=None) as gw:
        h = await gw.submit(order())
        assert h.ack.receipt.status is CommandStatus.REJECTED
        assert (await h.resolved()).safe_to_resubmit is True
        assert h.state is HandleState.FINAL


async def test_unknown_without_reconciler_does_not_hang() -> None:
    venue = ScriptedVenue()
    venue.script.append(CommandStatus.UNKNOWN_EXECUTION)
    async with Gateway(venues=[venue], reconcile=None) as gw:
        h = await gw.submit(order())
        with pytest.raises(ResolutionTimeout):
            await h.resolved()
        assert len(venue.sent) == 1  # never re-sent


async def test_stream_updates_reach_only_their_handle_and_finish_it() -> None:
    venue = ScriptedVenue()
    async with Gateway(venues=[venue], reconcile=None) as gw:
        a = await gw.submit(order())
        b = await gw.submit(order())
        assert a.order_id and b.order_id
        venue.push(
            OrderReport(
                venue="fake",
                instrument=BTC,
                order_id=a.order_id,
                client_order_id=a.client_order_id,
                state=OrderState.FILLED,
                filled_quantity=Decimal("0.01"),
                average_price=Decimal("50000"),
            )
        )
        assert type(await a.next_lifecycle()).__name__ == "Ack"
        update = await a.next_lifecycle()
        assert type(update).__name__ == "OrderUpdate"
        assert a.state is HandleState.FINAL
        assert b.state is HandleState.ANSWERED
        assert b.statistics().depth == 1  # only its own Ack
        assert gw.handle(a.client_order_id or "") is a  # settled handles stay retrievable


async def test_cancel_returns_a_handle_with_its_own_receipt() -> None:
    venue = ScriptedVenue()
    async with Gateway(venues=[venue], reconcile=None) as gw:
        a = await gw.submit(order())
        c = await gw.cancel(CancelRequest(venue="fake", instrument=BTC, client_order_id=a.client_order_id))
        assert c.ack.receipt.status is CommandStatus.ACCEPTED
        assert c.ack.receipt.request_id == c.command_id
        assert c.command_id != a.command_id


async def test_closed_gateway_is_a_clear_error() -> None:
    gw = Gateway(venues=[ScriptedVenue()], reconcile=None)
    with pytest.raises(RuntimeError, match="the gateway is not open"):
        await gw.submit(order())
