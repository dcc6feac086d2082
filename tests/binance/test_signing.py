"""Signing vectors from docs/venues/binance-usdm.md §2 (both REST examples) and the WS sorted-params form."""

from __future__ import annotations

from venues.binance.signing import rest_total_params, sign, ws_signing_payload

SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"


def test_rest_query_only_vector() -> None:
    total = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    assert sign(SECRET, total) == "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_rest_query_plus_body_vector_concatenates_without_separator() -> None:
    total = rest_total_params(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC",
        "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943",
    )
    assert "timeInForce=GTCquantity=1" in total
    assert sign(SECRET, total) == "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"


def test_ws_payload_is_sorted_and_excludes_signature() -> None:
    params = {"timestamp": 1591702613943, "symbol": "BTCUSDT", "apiKey": "k", "reduceOnly": True, "signature": "x"}
    assert ws_signing_payload(params) == "apiKey=k&reduceOnly=true&symbol=BTCUSDT&timestamp=1591702613943"
    assert sign(SECRET, ws_signing_payload(params)) == sign(
        SECRET, "apiKey=k&reduceOnly=true&symbol=BTCUSDT&timestamp=1591702613943"
    )
