"""Every recorded Bybit payload in tests/fixtures/bybit_linear.json that we read parses (stringified numbers too)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.model import OrderState
from tests.bybit.conftest import fixture_entries
from venues.bybit.filters import parse_instruments
from venues.bybit.schemas.answer import cancel_ack, create_ack
from venues.bybit.schemas.parse import ParseError, envelope, execution_update_report, order_report, trade_report

ENTRIES = fixture_entries()


def unify(symbol: str) -> str:
    return {"BTCUSDT": "BTC/USDT:USDT", "LTCUSDT": "LTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT"}.get(symbol, symbol)


@pytest.mark.parametrize("entry_id", ["bybit-ccxt-Y1", "bybit-ccxt-Y8", "bybit-naut-M5"])
def test_envelopes_with_string_or_number_retcodes(entry_id: str) -> None:
    code, msg, result = envelope(ENTRIES[entry_id]["response"])
    assert (code, msg) == (0, "OK") and result is not None


def test_create_ack_parses() -> None:
    _, _, result = envelope(ENTRIES["bybit-ccxt-Y1"]["response"])
    assert result == {"orderId": "1609920528435648000", "orderLinkId": "1609920528444036608"}


@pytest.mark.parametrize("entry_id", ["bybit-ccxt-Y2", "bybit-ccxt-Y3", "bybit-naut-M5"])
def test_order_lists_parse(entry_id: str) -> None:
    _, _, result = envelope(ENTRIES[entry_id]["response"])
    assert result["list"]
    for item in result["list"]:
        report = order_report(item, venue="bybit", unify=unify)
        assert report.order_id == item["orderId"]
        assert report.client_order_id == (item["orderLinkId"] or None)
        assert report.quantity == Decimal(item["qty"])
        assert report.filled_quantity == Decimal(item["cumExecQty"])
        assert report.created_at_ms == int(item["createdTime"])


def test_closed_market_order_is_filled_with_an_average_price() -> None:
    (item,) = envelope(ENTRIES["bybit-ccxt-Y3"]["response"])[2]["list"][:1]
    report = order_report(item, venue="bybit", unify=unify)
    assert report.state is OrderState.FILLED and report.average_price == Decimal(item["avgPrice"])


def test_a_market_orders_protection_price_is_not_its_price() -> None:
    # issue 21: the recorded Market order carries "price": "73.64", Bybit's slippage-protection bound
    (item,) = envelope(ENTRIES["bybit-ccxt-Y3"]["response"])[2]["list"][:1]
    assert (item["orderType"], item["price"]) == ("Market", "73.64")
    assert order_report(item, venue="bybit", unify=unify).price is None
    limit = {**item, "orderType": "Limit", "price": "73.64"}
    assert order_report(limit, venue="bybit", unify=unify).price == Decimal("73.64")
    (execution,) = envelope(ENTRIES["bybit-ccxt-Y6"]["response"])[2]["list"][:1]
    market_fill = {**execution, "orderType": "Market", "orderPrice": "73.64", "orderQty": "0.1", "leavesQty": "0"}
    assert execution_update_report(market_fill, venue="bybit", unify=unify).price is None


def test_executions_parse() -> None:
    for item in envelope(ENTRIES["bybit-ccxt-Y6"]["response"])[2]["list"]:
        trade = trade_report(item, venue="bybit", unify=unify)
        assert (trade.trade_id, trade.quantity, trade.time_ms) == (
            item["execId"], Decimal(item["execQty"]), int(item["execTime"]),
        )  # fmt: skip


def test_stream_order_and_execution_messages_parse() -> None:
    (order,) = ENTRIES["bybit-naut-M4"]["response"]["data"]
    report = order_report(order, venue="bybit", unify=unify)
    assert report.instrument == "BTC/USDT:USDT" and report.order_id == order["orderId"]
    (fill,) = ENTRIES["bybit-naut-M3"]["response"]["data"]
    update = execution_update_report(fill, venue="bybit", unify=unify)
    assert update.state is OrderState.FILLED  # leavesQty "0"
    assert update.last_fill_quantity == Decimal(fill["execQty"]) and update.trade_id == fill["execId"]
    assert update.filled_quantity == Decimal(fill["orderQty"])


def test_instruments_info_filters() -> None:
    _, _, result = envelope(ENTRIES["bybit-naut-M8"]["response"])
    (btc,) = [f for f in parse_instruments("bybit", result["list"]) if f.native_symbol == "BTCUSDT"]
    lot = result["list"][0]["lotSizeFilter"]
    assert btc.instrument == "BTC/USDT:USDT"
    assert btc.step_size == Decimal(lot["qtyStep"]) and btc.min_notional == Decimal(lot.get("minNotionalValue", "0"))


@pytest.mark.parametrize(
    "payload",
    [{}, {"symbol": "BTCUSDT"}, {"symbol": "BTCUSDT", "orderId": "1", "qty": "x", "orderStatus": "New"}],
)
def test_malformed_orders_raise_parse_errors_naming_the_field(payload: dict[str, str]) -> None:
    with pytest.raises(ParseError, match="field"):
        order_report(payload, venue="bybit", unify=unify)


def test_unknown_status_is_a_parse_error() -> None:
    item = dict(envelope(ENTRIES["bybit-naut-M5"]["response"])[2]["list"][0], orderStatus="Sleeping")
    with pytest.raises(ParseError, match="orderStatus"):
        order_report(item, venue="bybit", unify=unify)


@pytest.mark.parametrize("entry_id", ["bybit-ccxt-Y1", "bybit-naut-M1"])
def test_recorded_create_acks_meet_the_write_schema(entry_id: str) -> None:
    _, _, ack = envelope(ENTRIES[entry_id]["response"])
    assert create_ack(ack, client_order_id=ack["orderLinkId"]) == (ack["orderId"], ack["orderLinkId"])
    assert cancel_ack(ack, client_order_id=None, order_id=ack["orderId"]) == (ack["orderId"], ack["orderLinkId"])


@pytest.mark.parametrize(
    "ack",
    [None, [], {"orderId": 1609920528435648000, "orderLinkId": "c"}, {"orderId": "1609920528435648000"}],
)
def test_malformed_acks_are_parse_errors(ack: object) -> None:
    with pytest.raises(ParseError):
        create_ack(ack, client_order_id="c")
