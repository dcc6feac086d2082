"""Every recorded Binance payload in tests/fixtures/binance_usdm.json parses (numbers-as-strings accepted)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.model import OrderState, OrderType, Side
from tests.binance.conftest import fixture_entries
from venues.binance.filters import parse_exchange_info, rate_limit_weight
from venues.binance.schemas.answer import cancel_answer, create_answer
from venues.binance.schemas.parse import order_report, order_update_report, trade_report
from venues.common import ParseError

ENTRIES = fixture_entries()


def unify(symbol: str) -> str:
    return {"BTCUSDT": "BTC/USDT:USDT", "LTCUSDT": "LTC/USDT:USDT"}.get(symbol, symbol)


def _items(response: Any) -> list[Any]:
    return response if isinstance(response, list) else [response]


ORDER_IDS = [i for i, e in ENTRIES.items() if {"orderId", "origQty", "status"} <= set(_items(e["response"])[0])]


@pytest.mark.parametrize("entry_id", ORDER_IDS)
def test_order_payloads_parse(entry_id: str) -> None:
    for item in _items(ENTRIES[entry_id]["response"]):
        report = order_report(item, venue="binance", unify=unify)
        assert report.order_id == str(item["orderId"])
        assert report.client_order_id == item["clientOrderId"]
        assert report.quantity == Decimal(item["origQty"])
        assert report.filled_quantity == Decimal(item["executedQty"])


def test_user_trades_parse() -> None:
    (item,) = ENTRIES["binance-ccxt-C3"]["response"]
    trade = trade_report(item, venue="binance", unify=unify)
    assert (trade.trade_id, trade.order_id, trade.price, trade.time_ms) == (
        "272536245",
        "3524852987",
        Decimal("36567.10"),
        1699972836419,
    )


@pytest.mark.parametrize("entry_id", ["binance-naut-N3", "binance-naut-N4"])
def test_order_trade_updates_parse(entry_id: str) -> None:
    event = ENTRIES[entry_id]["response"]
    report = order_update_report(event, venue="binance", unify=unify)
    assert report.order_id == "8886774"
    assert report.state in (OrderState.NEW, OrderState.PARTIALLY_FILLED)
    if event["o"]["x"] == "TRADE":
        assert report.last_fill_quantity == Decimal("0.001")
        assert report.trade_id == "12345678"


def test_exchange_info_filters() -> None:
    info = ENTRIES["binance-naut-N2"]["response"]
    filters = {f.instrument: f for f in parse_exchange_info("binance", info)}
    btc = filters["BTC/USDT:USDT"]
    assert (btc.tick_size, btc.step_size, btc.min_notional, btc.min_price) == (
        Decimal("0.10"),
        Decimal("0.001"),
        Decimal("10"),
        Decimal("402"),
    )
    assert rate_limit_weight(info) == 6000


def test_every_entry_is_covered_or_not_an_order() -> None:
    covered = set(ORDER_IDS) | {"binance-ccxt-C3", "binance-naut-N2", "binance-naut-N3", "binance-naut-N4"}
    # positions, ACCOUNT_UPDATE, TRADE_LITE and ALGO_UPDATE are not order/trade reports the gateway consumes
    rest = set(ENTRIES) - covered
    assert rest <= {"binance-ccxt-C5", "binance-naut-N5", "binance-naut-N6", "binance-naut-N7"}


def test_every_stream_fixture_is_handled_without_parse_errors() -> None:
    import orjson

    from tests.binance.conftest import RecordingSink
    from venues.binance.user_stream import UserStream

    sink = RecordingSink()
    stream = UserStream(None, "ws://unused", name="binance", sink=sink, unify=unify)  # type: ignore[arg-type]
    for entry_id in ("binance-naut-N3", "binance-naut-N4", "binance-naut-N5", "binance-naut-N6", "binance-naut-N7"):
        stream._on_message(orjson.dumps(ENTRIES[entry_id]["response"]))
    assert sink.parse_errors == []
    assert [u.order_id for u in sink.updates] == ["8886774"]  # N4 replays an older state of the same order
    stream._on_message(b'{"e":"ORDER_TRADE_UPDATE","o":{"s":"BTCUSDT"}}')
    stream._on_message(b"not json")
    assert len(sink.parse_errors) == 2


def test_the_recorded_create_answer_meets_the_write_schema() -> None:
    # Recordings stringify orderId ("209108420655"): accepted, as the venue's JSON number is.
    body = ENTRIES["binance-b404-X1"]["response"]
    answer = create_answer(
        body, symbol="BTCUSDT", client_order_id=body["clientOrderId"], side=Side.BUY, order_type=OrderType.LIMIT,
        quantity=Decimal("0.003"), price=Decimal("36000"),
    )  # fmt: skip
    assert (answer.order_id, answer.state, answer.filled_quantity, answer.average_price) == (
        "209108420655", OrderState.NEW, Decimal(0), None
    )  # fmt: skip
    cancelled = cancel_answer(
        body | {"status": "CANCELED"}, symbol="BTCUSDT", client_order_id=None, order_id="209108420655"
    )
    assert (cancelled.order_id, cancelled.client_order_id) == ("209108420655", body["clientOrderId"])


def test_a_market_create_answer_needs_no_price() -> None:
    body = ENTRIES["binance-b404-X1"]["response"] | {
        "type": "MARKET", "origType": "MARKET", "price": "0", "status": "FILLED", "executedQty": "0.003",
        "avgPrice": "36010.5",
    }  # fmt: skip
    answer = create_answer(
        body, symbol="BTCUSDT", client_order_id=body["clientOrderId"], side=Side.BUY, order_type=OrderType.MARKET,
        quantity=Decimal("0.003"), price=None,
    )  # fmt: skip
    assert (answer.state, answer.filled_quantity, answer.average_price) == (
        OrderState.FILLED, Decimal("0.003"), Decimal("36010.5")
    )  # fmt: skip


@pytest.mark.parametrize("payload", [None, [], "ok", 1])
def test_a_write_answer_that_is_not_an_object_is_a_parse_error(payload: Any) -> None:
    with pytest.raises(ParseError, match="not an order object"):
        cancel_answer(payload, symbol="BTCUSDT", client_order_id="c", order_id=None)
