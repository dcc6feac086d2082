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
