"""Post-only that would take, as each venue does it: Binance refuses it (-5022); Bybit acks it, then cancels it."""

from __future__ import annotations

import pytest

from gateway import CommandStatus, OrderState, TimeInForce, Transport
from tests.manage.conftest import CASES, buy, gateway, truth, wait_until
from venues.sim import SimExchange


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_a_post_only_that_would_take(sim: SimExchange, name: str, transport: Transport) -> None:
    async with gateway(sim, name) as gw:
        handle = await gw.submit(buy(name, transport, price="51000", time_in_force=TimeInForce.POST_ONLY))
        cid = handle.client_order_id or ""
        receipt = handle.ack.receipt
        if name == "binance":
            assert (receipt.status, receipt.native_code, receipt.safe_to_resubmit) == (
                CommandStatus.REJECTED, "-5022", True,
            )  # fmt: skip
            assert sim.truth.orders_for(cid) == []
            return
        # Bybit: acknowledged, then canceled on the stream: ACCEPTED with state CANCELED, not a rejection or a fill.
        assert receipt.status is CommandStatus.ACCEPTED
        await wait_until(lambda: handle.order_view is not None and handle.order_view.state.is_terminal)
        view = handle.order_view
        assert view is not None and (view.state, view.filled_quantity) == (OrderState.CANCELED, 0)
        resolved = await handle.resolved(timeout=5)
        assert (resolved.status, resolved.safe_to_resubmit) == (CommandStatus.ACCEPTED, False)
        order = truth(sim, name, cid)
        assert (order.status, order.filled_qty, order.fills) == ("CANCELED", 0, [])


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_a_post_only_that_rests_is_a_maker_order(sim: SimExchange, name: str, transport: Transport) -> None:
    async with gateway(sim, name) as gw:
        handle = await gw.submit(buy(name, transport, price="49000", time_in_force=TimeInForce.POST_ONLY))
        assert handle.ack.receipt.status is CommandStatus.ACCEPTED
        sim.set_mark("BTCUSDT", "48000", venue=name)
        await wait_until(lambda: handle.order_view is not None and handle.order_view.state is OrderState.FILLED)
        order = truth(sim, name, handle.client_order_id or "")
        assert order.tif == "POST_ONLY" and [f.maker for f in order.fills] == [True]
