"""The wave-2 payloads the adapters read (tests/fixtures/wave2_manage.json) parse as the venues mean them."""

from __future__ import annotations

from decimal import Decimal

from gateway.model import CommandOperation, OrderRequest, OrderState, OrderType, Side
from tests.fixtures import fixture_entries
from venues.base import Rejected
from venues.binance.manage import _amendment, _item_error
from venues.binance.schemas.parse import order_update_report
from venues.bybit.manage import _item
from venues.bybit.schemas.parse import order_report
from venues.common import UpdateFilter, WriteAnswer

ENTRIES = fixture_entries("wave2_manage")


def unify(symbol: str) -> str:
    return symbol


def test_binance_amendment_history_reads_before_and_after() -> None:
    (item,) = ENTRIES["wave2-binance-OA1"]["response"]
    report = _amendment(item, venue="binance", instrument="BTC/USDT:USDT")
    assert (report.order_id, report.time_ms) == ("20072994037", 1629184560899)
    assert (report.price_before, report.price_after) == (Decimal("30004"), Decimal("30003.2"))
    assert (report.quantity_before, report.quantity_after) == (Decimal("1"), Decimal("1"))


def test_binance_amendment_event_is_news_to_the_stream_filter() -> None:
    event = ENTRIES["wave2-binance-IS1"]["response"]
    amended = order_update_report(event, venue="binance", unify=unify)
    assert (amended.state, amended.price, amended.quantity) == (OrderState.NEW, Decimal("0.5193"), Decimal("12"))
    new = amended.model_copy(update={"price": Decimal("0.5200")})  # the order as first placed
    updates = UpdateFilter()
    assert updates.admit(("NEW",), new) and updates.admit(("AMENDMENT",), amended)  # not dropped as a repeat
    assert not updates.admit(("AMENDMENT",), amended)  # the same delivery twice is


def test_binance_batch_items_are_orders_or_classified_errors() -> None:
    order, error = ENTRIES["wave2-binance-PB1"]["response"]
    assert _item_error(order, "batch") is None
    refused = _item_error(error, "batch")
    assert isinstance(refused, Rejected) and refused.native_code == "-2022"


def test_bybit_batch_items_follow_ret_ext_info() -> None:
    body = ENTRIES["wave2-bybit-BP1"]["response"]
    acks, codes = body["result"]["list"], body["retExtInfo"]["list"]
    requests = [
        OrderRequest(venue="bybit", instrument="SOL/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT,
                     quantity=Decimal("1"), price=Decimal("150"), client_order_id=f"batch-00{i}")
        for i in range(2)
    ]  # fmt: skip
    placed = _item(requests[0], acks[0], codes[0], CommandOperation.CREATE_ORDER.value)
    assert placed == WriteAnswer("1666800494330512128", "batch-000")
    refused = _item(requests[1], acks[1], codes[1], CommandOperation.CREATE_ORDER.value)
    assert isinstance(refused, Rejected) and refused.native_code == "10001"


def test_bybit_post_only_that_would_take_reads_canceled_with_nothing_filled() -> None:
    record = ENTRIES["wave2-bybit-OH1"]["response"]
    for status in ("Cancelled", "Rejected"):  # the documented record, and a third-party log's spelling
        report = order_report({**record, "orderStatus": status}, venue="bybit", unify=unify)
        assert (report.state, report.filled_quantity) == (OrderState.CANCELED, Decimal(0))
    plain = order_report({**record, "orderStatus": "Rejected", "rejectReason": "EC_Others"}, venue="bybit", unify=unify)
    assert plain.state is OrderState.REJECTED
