"""The order refresh after a stream gap (gateway/refresh.py) with a scripted venue: what it reads, what it publishes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from gateway import CommandHandle, CommandStatus, Gateway, OrderRequest, OrderState, OrderType, Side
from gateway.handle import HandleState
from gateway.model import EvidenceSource, OrderReport, OrderUpdate
from gateway.refresh import RefreshPolicy, advances
from risk import PortfolioGate, RiskLimits
from tests.reconcile.conftest import wait_until
from tests.unit.fakes import BTC, ETH, ScriptedVenue
from venues.base import VenueReadError, VenueUnreachable
from venues.common import ParseError

# No follow-up passes and fast retries: each test triggers exactly the passes it counts.
FAST = RefreshPolicy(follow_up_seconds=(), retry_seconds=0.01, read_attempts=2)


class ReadingVenue(ScriptedVenue):
    """A scripted venue whose reads answer from ``book`` (order id -> report), counting each call."""

    def __init__(self) -> None:
        super().__init__()
        self.book: dict[str, OrderReport] = {}
        self.calls: list[str] = []
        self.fail: Callable[[str], Exception | None] = lambda call: None

    def _call(self, name: str) -> None:
        self.calls.append(name)
        error = self.fail(name)
        if error is not None:
            raise error

    async def open_orders(self, instrument: str) -> list[OrderReport]:
        self._call("open_orders")
        return [o for o in self.book.values() if o.instrument == instrument and o.state.is_open]

    async def query_order(
        self, instrument: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> OrderReport | None:
        self._call("query_order")
        for o in self.book.values():
            if o.order_id == order_id or (order_id is None and o.client_order_id == client_order_id):
                return o
        return None

    async def order_history(self, instrument: str, start_ms: int, end_ms: int) -> list[OrderReport]:
        self._call("order_history")
        return [o for o in self.book.values() if o.instrument == instrument]

    def set(self, handle: CommandHandle, state: OrderState, filled: str = "0") -> OrderReport:
        report = OrderReport(
            venue=self.name,
            instrument=handle.instrument,
            order_id=handle.order_id or "",
            client_order_id=handle.client_order_id,
            state=state,
            filled_quantity=Decimal(filled),
            average_price=Decimal("50000") if Decimal(filled) else None,
        )
        self.book[report.order_id] = report
        return report


def buy(instrument: str = BTC, qty: str = "0.002") -> OrderRequest:
    price = Decimal("50000") if instrument == BTC else Decimal("3000")
    return OrderRequest(
        venue="fake", instrument=instrument, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal(qty), price=price
    )


async def updates(handle: CommandHandle) -> list[OrderUpdate]:
    """The OrderUpdate events already queued on a handle (``next_lifecycle`` returns each at once)."""
    out = []
    while handle.statistics().depth:
        event = await handle.next_lifecycle()
        if isinstance(event, OrderUpdate):
            out.append(event)
    return out


async def submit_resting(gw: Gateway, venue: ReadingVenue, n: int, instrument: str = BTC) -> list[CommandHandle]:
    handles = [await gw.submit(buy(instrument)) for _ in range(n)]
    for h in handles:
        venue.set(h, OrderState.NEW)
    return handles


async def test_a_fill_and_a_cancel_lost_in_a_gap_reach_their_handles_by_query() -> None:
    venue = ReadingVenue()
    async with Gateway(venues=[venue], reconcile=None, refresh=FAST) as gw:
        filled, canceled, resting = await submit_resting(gw, venue, 3)
        venue.set(filled, OrderState.FILLED, "0.002")
        venue.set(canceled, OrderState.CANCELED)
        gw.stream_gap("fake", "user stream connection lost")
        await wait_until(lambda: filled.state is HandleState.FINAL and canceled.state is HandleState.FINAL)
        # one open-orders read finds the resting one; the two missing are queried by id
        await wait_until(lambda: len(venue.calls) == 3)
        assert sorted(venue.calls) == ["open_orders", "query_order", "query_order"]
        [fill] = await updates(filled)
        assert (fill.order.state, fill.order.filled_quantity, fill.source) == (
            OrderState.FILLED,
            Decimal("0.002"),
            EvidenceSource.ORDER_QUERY,
        )
        assert [u.order.state for u in await updates(canceled)] == [OrderState.CANCELED]
        assert await updates(resting) == [] and resting.state is HandleState.ANSWERED  # nothing changed: nothing sent


async def test_many_missing_orders_cost_one_history_read_per_instrument() -> None:
    venue = ReadingVenue()
    async with Gateway(venues=[venue], reconcile=None, refresh=FAST) as gw:
        btc = await submit_resting(gw, venue, 5)
        eth = await submit_resting(gw, venue, 4, ETH)
        for h in btc + eth:
            venue.set(h, OrderState.CANCELED)
        result = await gw._refresher.refresh("fake")  # type: ignore[union-attr]
        assert (result.orders, result.reads, result.updates, result.complete) == (9, 4, 9, True)
        assert sorted(venue.calls) == ["open_orders"] * 2 + ["order_history"] * 2
        assert all(h.state is HandleState.FINAL for h in btc + eth)
        assert {u.source for h in btc for u in await updates(h)} == {EvidenceSource.ORDER_HISTORY}


async def test_a_stale_read_never_regresses_a_handle() -> None:
    venue = ReadingVenue()
    async with Gateway(venues=[venue], reconcile=None, refresh=FAST) as gw:
        [h] = await submit_resting(gw, venue, 1)
        # the stream already delivered a partial fill; the venue read still shows the order NEW
        venue.push(venue.set(h, OrderState.PARTIALLY_FILLED, "0.001"))
        venue.set(h, OrderState.NEW)
        result = await gw._refresher.refresh("fake")  # type: ignore[union-attr]
        assert result.updates == 0
        assert h.order_view is not None
        assert (h.order_view.state, h.order_view.filled_quantity) == (OrderState.PARTIALLY_FILLED, Decimal("0.001"))
        assert [u.source for u in await updates(h)] == [EvidenceSource.USER_STREAM]


async def test_the_handle_keeps_the_most_advanced_view() -> None:
    venue = ReadingVenue()
    venue.script.append(CommandStatus.UNKNOWN_EXECUTION)  # never final: every update below reaches it
    async with Gateway(venues=[venue], reconcile=None, refresh=FAST) as gw:
        h = await gw.submit(buy())
        assert h.order_view is None

        def push(state: OrderState, filled: str) -> tuple[OrderState, Decimal] | None:
            venue.push(
                OrderReport(
                    venue="fake",
                    instrument=BTC,
                    order_id="1",
                    client_order_id=h.client_order_id,
                    state=state,
                    filled_quantity=Decimal(filled),
                )
            )
            return None if h.order_view is None else (h.order_view.state, h.order_view.filled_quantity)

        assert push(OrderState.PARTIALLY_FILLED, "0.001") == (OrderState.PARTIALLY_FILLED, Decimal("0.001"))
        assert push(OrderState.NEW, "0") == (OrderState.PARTIALLY_FILLED, Decimal("0.001"))  # older: less filled
        assert push(OrderState.FILLED, "0.002") == (OrderState.FILLED, Decimal("0.002"))
        assert push(OrderState.PARTIALLY_FILLED, "0.001") == (OrderState.FILLED, Decimal("0.002"))
        assert push(OrderState.NEW, "0") == (OrderState.FILLED, Decimal("0.002"))
        assert len(await updates(h)) == 5  # all five were delivered; the stale ones changed nothing
        assert h.state is HandleState.ANSWERED


@pytest.mark.parametrize(
    ("view", "state", "filled", "ahead"),
    [
        ((OrderState.NEW, "0"), OrderState.NEW, "0", False),
        ((OrderState.NEW, "0"), OrderState.PARTIALLY_FILLED, "0.001", True),
        ((OrderState.NEW, "0"), OrderState.CANCELED, "0", True),
        ((OrderState.PARTIALLY_FILLED, "0.001"), OrderState.NEW, "0", False),
        ((OrderState.PARTIALLY_FILLED, "0.001"), OrderState.CANCELED, "0.001", True),
        ((OrderState.FILLED, "0.002"), OrderState.FILLED, "0.002", False),
        ((None, "0"), OrderState.NEW, "0", True),  # an ack without a state (Bybit): NEW is news
    ],
)
def test_what_counts_as_ahead(view: tuple[OrderState | None, str], state: OrderState, filled: str, ahead: bool) -> None:
    order = OrderReport(venue="fake", instrument=BTC, order_id="1", state=state, filled_quantity=Decimal(filled))
    assert advances((view[0], Decimal(view[1])), order) is ahead


async def test_a_failed_refresh_is_retried_and_a_malformed_read_is_a_counted_parse_error() -> None:
    venue = ReadingVenue()
    failures = {"open_orders": 5}  # more than read_attempts: the first pass and a retry fail

    def fail(call: str) -> Exception | None:
        if failures.get(call, 0) > 0:
            failures[call] -= 1
            if failures[call] % 2:
                try:
                    raise ParseError("missing field 'orderId'")
                except ParseError as exc:
                    error = VenueReadError(f"GET /fapi/v1/openOrders: {exc}")
                    error.__cause__ = exc
                    return error
            return VenueUnreachable("503")
        return None

    venue.fail = fail
    async with Gateway(venues=[venue], reconcile=None, refresh=FAST) as gw:
        [h] = await submit_resting(gw, venue, 1)
        venue.set(h, OrderState.FILLED, "0.002")
        gw.stream_gap("fake", "user stream connection lost")
        await wait_until(lambda: h.state is HandleState.FINAL)
        assert gw._refresher.failures >= 2  # type: ignore[union-attr]
        assert gw.parse_errors >= 1
        assert venue.sent == [h.request]  # reads only: the order was never sent again


async def test_a_bug_in_a_pass_does_not_stop_the_loop() -> None:
    venue = ReadingVenue()
    calls = {"n": 0}

    def fail(call: str) -> Exception | None:
        calls["n"] += 1
        return RuntimeError("adapter bug") if calls["n"] == 1 else None

    venue.fail = fail
    async with Gateway(venues=[venue], reconcile=None, refresh=FAST) as gw:
        [h] = await submit_resting(gw, venue, 1)
        venue.set(h, OrderState.CANCELED)
        gw.stream_gap("fake", "WebSocket API connection lost")
        await wait_until(lambda: h.state is HandleState.FINAL)


async def test_refresh_and_stream_deliver_the_same_fill_once_to_the_gate() -> None:
    """Cumulative filled quantity makes the gate idempotent: refresh first, stream after (and the reverse)."""
    venue = ReadingVenue()
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("1000000")))
    async with Gateway(venues=[venue], gate=gate, reconcile=None, refresh=FAST) as gw:
        first, second = await submit_resting(gw, venue, 2)
        for h in (first, second):
            venue.set(h, OrderState.FILLED, "0.002")
        stream_fill = venue.book[second.order_id or ""].model_copy(
            update={"last_fill_quantity": Decimal("0.002"), "last_fill_price": Decimal("50000"), "trade_id": "t1"}
        )
        venue.push(stream_fill)  # second: the stream delivered the fill before the gap
        await gw._refresher.refresh("fake")  # type: ignore[union-attr]
        venue.push(venue.book[first.order_id or ""].model_copy(update={"last_fill_quantity": Decimal("0.002")}))
    # Closing the gateway waited for the gate's bookkeeping of everything above.
    snapshot = await gate.snapshot()
    assert snapshot.reservations == {}
    assert snapshot.positions == {("fake", BTC): Decimal("200.000")}  # 2 x 0.002 x 50000, once each
