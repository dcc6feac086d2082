"""Model validation: each bad field raises a clear error naming it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from gateway.model import (
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
    Transport,
)

BASE = dict(
    venue="binance",
    instrument="BTC/USDT:USDT",
    side=Side.BUY,
    type=OrderType.LIMIT,
    quantity=Decimal("0.01"),
    price=Decimal("50000"),
)


def test_defaults_match_the_contract() -> None:
    r = OrderRequest(**BASE)
    assert r.time_in_force is TimeInForce.GTC
    assert r.reduce_only is False
    assert r.client_order_id is None
    assert r.transport is Transport.AUTO


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"quantity": Decimal("0")}, "quantity", "quantity must be a positive finite decimal"),
        ({"quantity": Decimal("-1")}, "quantity", "quantity must be a positive finite decimal"),
        ({"quantity": Decimal("NaN")}, "quantity", "Input should be a finite number"),
        ({"price": Decimal("-5")}, "price", "price must be a positive finite decimal"),
        ({"price": None}, None, "price is required for LIMIT orders"),
        ({"type": OrderType.MARKET}, None, "price must not be given for MARKET orders"),
        ({"instrument": "BTCUSDT"}, "instrument", "must be a unified id BASE/QUOTE:SETTLE"),
        ({"instrument": "btc/usdt:usdt"}, "instrument", "must be a unified id BASE/QUOTE:SETTLE"),
        ({"client_order_id": "has space"}, "client_order_id", "1-36 characters"),
        ({"client_order_id": "x" * 37}, "client_order_id", "1-36 characters"),
        ({"venue": ""}, "venue", "at least 1 character"),
    ],
)
def test_bad_field_names_itself(changes: dict[str, object], field: str | None, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        OrderRequest(**{**BASE, **changes})
    error = info.value.errors()[0]
    assert fragment in error["msg"]
    if field is not None:
        assert error["loc"] == (field,)


def test_market_post_only_is_refused() -> None:
    with pytest.raises(ValidationError, match="POST_ONLY is not allowed for MARKET"):
        OrderRequest(**{**BASE, "type": OrderType.MARKET, "price": None, "time_in_force": TimeInForce.POST_ONLY})


def test_requests_are_frozen() -> None:
    r = OrderRequest(**BASE)
    with pytest.raises(ValidationError):
        r.quantity = Decimal("1")  # type: ignore[misc]


def test_cancel_needs_one_id() -> None:
    with pytest.raises(ValidationError, match="client_order_id or order_id is required"):
        CancelRequest(venue="binance", instrument="BTC/USDT:USDT")
    assert CancelRequest(venue="binance", instrument="BTC/USDT:USDT", order_id="42").order_id == "42"


def test_safe_to_resubmit_only_on_rejected() -> None:
    with pytest.raises(ValidationError, match="safe_to_resubmit can only be true on a REJECTED receipt"):
        CommandReceipt(
            operation=CommandOperation.CREATE_ORDER,
            status=CommandStatus.UNKNOWN_EXECUTION,
            venue="binance",
            instrument="BTC/USDT:USDT",
            safe_to_resubmit=True,
        )


def test_terminal_states() -> None:
    assert {s for s in OrderState if s.is_terminal} == {
        OrderState.FILLED,
        OrderState.CANCELED,
        OrderState.REJECTED,
        OrderState.EXPIRED,
    }


# --------------------------------------------------------------------------- issue 13 items 4-6


@pytest.mark.parametrize("cid", ["abc\n", "abc\r\n", "\nabc", "a\nb", "abc ", "abc&x=1"])
def test_client_order_id_with_a_newline_or_delimiter_is_refused(cid: str) -> None:
    # re.match with "$" accepted a final "\n"; the id was then created on the venue under "abc\n".
    with pytest.raises(ValidationError, match="client_order_id"):
        OrderRequest(**{**BASE, "client_order_id": cid})
    with pytest.raises(ValidationError, match="client_order_id"):
        CancelRequest(venue="binance", instrument="BTC/USDT:USDT", client_order_id=cid)


def test_instrument_with_a_final_newline_is_refused() -> None:
    with pytest.raises(ValidationError, match="unified id"):
        OrderRequest(**{**BASE, "instrument": "BTC/USDT:USDT\n"})


@pytest.mark.parametrize(
    "order_id",
    ["4000000002&symbol=ETHUSDT", "1=2", "1%26symbol%3DETHUSDT", "1+2", "1#x", "1?x", "12\n", "1 2", "٤٢", ""],
)
def test_cancel_order_id_cannot_carry_query_syntax(order_id: str) -> None:
    # "4000000002&symbol=ETHUSDT" passed as printable text and canceled the ETH order.
    with pytest.raises(ValidationError, match="order_id"):
        CancelRequest(venue="binance", instrument="BTC/USDT:USDT", order_id=order_id)


@pytest.mark.parametrize("order_id", ["4000000002", "fd4300ae-7847-404e-b947-b46980a4d140"])
def test_cancel_order_id_takes_both_venues_shapes(order_id: str) -> None:
    assert CancelRequest(venue="bybit", instrument="BTC/USDT:USDT", order_id=order_id).order_id == order_id


@pytest.mark.parametrize("field", ["quantity", "price"])
@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (Decimal("1E+30"), "at most 20 digits before the decimal point"),
        (Decimal("1E+40"), "at most 20 digits before the decimal point"),
        (Decimal("1E+999999"), "at most 20 digits before the decimal point"),
        (Decimal("1E-21"), "at most 20 digits after the decimal point"),
        (Decimal("1E-999999"), "at most 20 digits after the decimal point"),
        (Decimal("0"), "must be positive"),
        (Decimal("-0"), "must be positive"),
        (Decimal("-1"), "must be positive"),
    ],
)
def test_absurd_amounts_name_the_field_and_rule(field: str, value: Decimal, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        OrderRequest(**{**BASE, field: value})
    error = info.value.errors()[0]
    assert error["loc"] == (field,)
    assert f"{field} must be a positive finite decimal" in error["msg"] and rule in error["msg"]


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_non_finite_amounts_are_refused(value: Decimal) -> None:
    with pytest.raises(ValidationError) as info:
        OrderRequest(**{**BASE, "quantity": value})
    assert info.value.errors()[0]["loc"] == ("quantity",)


@pytest.mark.parametrize(
    "value", ["99999999999999999999", "0.00000000000000000001", "50000.000000000000000000000000", "1E+19"]
)
def test_amounts_at_the_bounds_are_accepted(value: str) -> None:
    # Trailing zeros do not count: 50000.000...0 is 5E+4.
    assert OrderRequest(**{**BASE, "quantity": Decimal(value)}).quantity == Decimal(value)
