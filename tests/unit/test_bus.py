"""Bus: strictly increasing sequence; routing by command identity only; bounded memory."""

from __future__ import annotations

import itertools
from decimal import Decimal

from gateway.bus import EventBus
from gateway.handle import CommandHandle
from gateway.model import CommandOperation, EvidenceSource, OrderReport, OrderState, OrderUpdate

BTC = "BTC/USDT:USDT"


def handle(cid: str) -> CommandHandle:
    # The one private call left here: a bus is tested on its own, with handles no Gateway owns,
    # and a handle has no public constructor by design (only the gateway makes them).
    return CommandHandle._create(
        command_id=cid,
        operation=CommandOperation.CREATE_ORDER,
        venue="v",
        instrument=BTC,
        client_order_id=cid,
        request=None,
    )


def update(cid: str, oid: str, state: OrderState = OrderState.NEW) -> OrderReport:
    return OrderReport(
        venue="v", instrument=BTC, order_id=oid, client_order_id=cid, state=state, filled_quantity=Decimal(0)
    )


async def drain(h: CommandHandle) -> list[OrderUpdate]:
    """The events already queued on a handle (``next_lifecycle`` returns each at once); all OrderUpdates."""
    out = []
    while h.statistics().depth:
        event = await h.next_lifecycle()
        assert isinstance(event, OrderUpdate)
        out.append(event)
    return out


async def test_same_instrument_never_crosses_commands() -> None:
    bus = EventBus()
    x, y = handle("x"), handle("y")
    bus.register(x, bus.client_key("v", "x"))
    bus.register(y, bus.client_key("v", "y"))
    bus.route_order_update(update("x", "1"), EvidenceSource.USER_STREAM)
    bus.route_order_update(update("x", "1", OrderState.FILLED), EvidenceSource.USER_STREAM)
    assert [e.order.client_order_id for e in await drain(x)] == ["x", "x"]
    assert await drain(y) == []


async def test_order_id_route_is_learned_from_the_first_update() -> None:
    bus = EventBus()
    x = handle("x")
    bus.register(x, bus.client_key("v", "x"))
    bus.route_order_update(update("x", "77"), EvidenceSource.USER_STREAM)
    # A later update that only carries the venue order id still reaches the handle.
    bus.route_order_update(update("", "77").model_copy(update={"client_order_id": None}), EvidenceSource.USER_STREAM)
    assert len(await drain(x)) == 2


async def test_ten_thousand_handles_route_correctly_and_sequences_increase() -> None:
    bus = EventBus()
    handles = [handle(f"c{i}") for i in range(10_000)]
    for h in handles:
        bus.register(h, bus.client_key("v", h.command_id))
    for i in reversed(range(10_000)):
        bus.route_order_update(update(f"c{i}", str(i)), EvidenceSource.USER_STREAM)
    routed_sequences = []
    for i, h in enumerate(handles):
        events = await drain(h)
        assert [e.order.client_order_id for e in events] == [f"c{i}"]
        assert events[0].command_id == f"c{i}"
        routed_sequences.append(events[0].sequence)
    # Updates were routed from c9999 down to c0: their sequences must strictly increase in that order.
    in_routing_order = list(reversed(routed_sequences))
    assert all(a < b for a, b in itertools.pairwise(in_routing_order))
    assert bus.next_sequence() == in_routing_order[-1] + 1


def test_dropped_handles_free_their_routes() -> None:
    bus = EventBus()
    hs = [handle(f"c{i}") for i in range(100)]
    for h in hs:
        bus.register(h, bus.client_key("v", h.command_id))
        bus.route_order_update(update(h.command_id, h.command_id), EvidenceSource.USER_STREAM)
    assert bus.route_count == 300  # cmd + cid + learned oid per handle
    for h in hs:
        bus.drop(h)
    assert bus.route_count == 0
    assert bus.route_order_update(update("c1", "c1"), EvidenceSource.USER_STREAM) == []


def test_taps_see_every_event_in_order() -> None:
    bus = EventBus()
    seen: list[int] = []
    bus.add_tap(lambda e: seen.append(e.sequence))
    h = handle("x")
    bus.register(h, bus.client_key("v", "x"))
    for _ in range(3):
        bus.route_order_update(update("x", "1"), EvidenceSource.USER_STREAM)
    assert seen == [1, 2, 3]
