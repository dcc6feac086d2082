"""Signing vectors computed in docs/venues/bybit-v5.md §2, checked through the adapter's own signing path."""

from __future__ import annotations

from decimal import Decimal

import orjson

from gateway.model import OrderRequest, OrderType, Side
from venues.base import InstrumentFilters, RateLimitState
from venues.bybit import BybitLinear
from venues.bybit.rest import BybitRest
from venues.bybit.signing import rest_signing_payload, sign, ws_auth_payload

SECRET, KEY, TS, RECV = "bybit-test-secret-0000", "XXXXXXXXXX", 1658384314791, 5000
GET_QUERY = "category=linear&symbol=BTCUSDT&orderLinkId=gw-0001"
POST_BODY = (
    '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001",'
    '"price":"50000","timeInForce":"GTC","orderLinkId":"gw-0001"}'
)
GET_SIGNATURE = "b05f66b8bcffa7c23fda12a82215c929bb78688142387175f4fbd0d2f0e2d633"
POST_SIGNATURE = "acd370d59e6588664a9a1e36ab6dcfffc4270819e3a05ed54b5e85e7cf66b59c"


def adapter() -> BybitLinear:
    venue = BybitLinear(KEY, SECRET, recv_window_ms=RECV)
    venue._set_filters(
        InstrumentFilters("bybit", "BTC/USDT:USDT", "BTCUSDT", Decimal("0.1"), Decimal("0.001"),
                          Decimal("0.001"), Decimal("1000"), Decimal("5"))
    )  # fmt: skip
    return venue


def test_doc_vectors() -> None:
    assert sign(SECRET, rest_signing_payload(TS, KEY, RECV, GET_QUERY)) == GET_SIGNATURE
    assert sign(SECRET, rest_signing_payload(TS, KEY, RECV, POST_BODY)) == POST_SIGNATURE
    expected_ws = "9ea1b9be81494930cb1ed81b56a887c92fe05dd94de8b36adda745b002baf6be"
    assert sign(SECRET, ws_auth_payload(1711010121452)) == expected_ws


def test_adapter_signs_the_exact_body_it_sends() -> None:
    venue = adapter()
    request = OrderRequest(
        venue="bybit", instrument="BTC/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT,
        quantity=Decimal("0.001"), price=Decimal("50000"), client_order_id="gw-0001",
    )  # fmt: skip
    body = orjson.dumps(venue._order_params(request))
    assert body.decode() == POST_BODY
    rest = BybitRest(venue._rest, "https://x", KEY, venue._sign, RECV, RateLimitState(), lambda: TS)
    headers = rest.signed_headers(body)
    assert headers["X-BAPI-SIGN"] == POST_SIGNATURE
    assert (headers["X-BAPI-TIMESTAMP"], headers["X-BAPI-RECV-WINDOW"]) == (str(TS), str(RECV))
    assert rest.signed_headers(GET_QUERY.encode())["X-BAPI-SIGN"] == GET_SIGNATURE
    assert SECRET not in repr(venue)
