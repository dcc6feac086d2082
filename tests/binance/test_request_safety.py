"""Issue 13 items 4-6 on Binance: every id and amount is checked for Binance and encoded before it is sent.

Requests are captured with respx (REST) and a frame-recording stand-in for the WS API socket;
the end-to-end cases run against the simulator. Requests that bypass the model's own checks
(``model_construct`` / ``model_copy(update=...)``) prove the adapter does not rely on them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest
import pytest_asyncio
import respx
import yarl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import Gateway
from gateway.model import CancelRequest, CommandStatus, OrderRequest, OrderType, Side, Transport
from tests.binance.conftest import RecordingSink, fixture_entries, make_venue
from venues.base import InstrumentFilters, InvalidOrderError, InvalidReadRequest
from venues.binance import BinanceUsdm
from venues.binance.adapter import CLIENT_ID_RE, ORDER_ID_RE
from venues.binance.signing import ws_signing_payload
from venues.binance.ws_api import BinanceWsApi
from venues.sim import SimExchange

BASE = "https://fapi.test"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
SECRET = "test-secret"
ORDER_BODY = fixture_entries()["binance-b404-X1"]["response"] | {"orderId": 4087922044, "symbol": "BTCUSDT"}
IDENT_KEYS = {"orderId", "origClientOrderId"}
INJECTION = "4000000002&symbol=ETHUSDT"


def _order(cid: str = "cid-1", transport: Transport = Transport.REST, **changes: Any) -> OrderRequest:
    request = OrderRequest(
        venue="binance", instrument=BTC, side=Side.BUY, type=OrderType.LIMIT,
        quantity=Decimal("0.01"), price=Decimal("49000"), client_order_id=cid, transport=transport,
    )  # fmt: skip
    # model_copy skips the model's validators: the adapter must hold the line on its own.
    return request.model_copy(update=changes) if changes else request


def _cancel(
    *, order_id: str | None = None, cid: str | None = None, transport: Transport = Transport.REST
) -> CancelRequest:
    return CancelRequest.model_construct(
        venue="binance", instrument=BTC, client_order_id=cid, order_id=order_id, transport=transport
    )


def _echo(params: dict[str, Any]) -> dict[str, Any]:
    """An order object matching the request it answers (answers are checked against their request)."""
    body = ORDER_BODY | {"symbol": params["symbol"]}
    if "orderId" in params:
        body["orderId"] = int(params["orderId"])
    cid = params.get("origClientOrderId") or params.get("newClientOrderId")
    if cid:
        body["clientOrderId"] = cid
    for key, field in (("side", "side"), ("type", "type"), ("quantity", "origQty"), ("price", "price")):
        if key in params:
            body[field] = params[key]
    return body


def _rest_answer(request: httpx.Request) -> httpx.Response:
    params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
    extra = {"status": "CANCELED"} if request.method == "DELETE" else {"time": 1} if request.method == "GET" else {}
    return httpx.Response(200, json=_echo(params) | extra)


class FrameRecorder:
    """Stands in for the WS API socket: records each frame and answers it with the order it names."""

    is_up = True

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def call(self, rid: str, frame: str, timeout: float) -> dict[str, Any]:
        sent = orjson.loads(frame)
        self.frames.append(sent)
        result = _echo(sent["params"]) | ({"status": "CANCELED"} if sent["method"] == "order.cancel" else {})
        return {"id": rid, "status": 200, "result": result}

    async def close(self) -> None:
        return None


def _offline_venue() -> tuple[BinanceUsdm, FrameRecorder]:
    """A Binance adapter with BTC and ETH listed, REST through httpx (respx) and a recording WS API."""
    venue = BinanceUsdm("key", SECRET, rest_url=BASE, ws_api_url=None, stream_url=None, http="httpx")
    for unified, native, tick in ((BTC, "BTCUSDT", "0.1"), (ETH, "ETHUSDT", "0.01")):
        venue._set_filters(
            InstrumentFilters("binance", unified, native, Decimal(tick), Decimal("0.001"),
                              Decimal("0.001"), Decimal("1000"), Decimal("5"))
        )  # fmt: skip
    venue.mark(BTC, Decimal("50000"))
    ws = BinanceWsApi(
        "ws://unused", name="binance", api_key="key", sign=venue._sign,
        recv_window_ms=5000, rate=venue.rate_limit(), clock=venue._now_ms,
    )  # fmt: skip
    recorder = FrameRecorder()
    ws.rpc = recorder  # type: ignore[assignment]
    venue.ws_api = ws
    return venue, recorder


def _routes(router: respx.MockRouter) -> None:
    for method in ("POST", "DELETE", "GET"):
        router.route(method=method, path="/fapi/v1/order").mock(side_effect=_rest_answer)


@pytest_asyncio.fixture
async def offline() -> AsyncIterator[tuple[BinanceUsdm, FrameRecorder, respx.MockRouter]]:
    venue, recorder = _offline_venue()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        _routes(router)
        yield venue, recorder, router
    await venue.close()


# --------------------------------------------------------------------------- what a sent request says


def _rest_params(request: httpx.Request) -> list[tuple[str, str]]:
    """The signed query's params, after checking the signature covers exactly the string sent."""
    raw = request.url.query.decode()
    # aiohttp (yarl) would send this very string: nothing it re-quotes, so nothing unsigned.
    assert yarl.URL(str(request.url)).raw_query_string == raw
    signed, _, signature = raw.rpartition("&signature=")
    assert signature == hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest()
    params = parse_qsl(signed, keep_blank_values=True, strict_parsing=True)
    names = [k for k, _ in params]
    assert len(names) == len(set(names)), names  # no parameter given twice
    return params


def _ws_params(frame: dict[str, Any]) -> dict[str, Any]:
    params = dict(frame["params"])
    signature = params.pop("signature")
    expected = hmac.new(SECRET.encode(), ws_signing_payload(params).encode(), hashlib.sha256).hexdigest()
    assert signature == expected
    return params


def _names_one_order(params: list[tuple[str, str]], key: str, value: str) -> None:
    found = [(k, v) for k, v in params if k in IDENT_KEYS | {"newClientOrderId"}]
    assert found == [(key, value)], params
    assert [v for k, v in params if k == "symbol"] == ["BTCUSDT"]


# --------------------------------------------------------------------------- item 4: order id injection


async def test_cancel_order_id_with_query_syntax_is_refused_before_sending(
    offline: tuple[BinanceUsdm, FrameRecorder, respx.MockRouter],
) -> None:
    venue, recorder, router = offline
    for transport in (Transport.REST, Transport.WEBSOCKET):
        with pytest.raises(InvalidOrderError) as info:
            await venue.cancel(_cancel(order_id=INJECTION, transport=transport), "r1")
        assert info.value.field == "order_id" and "int64" in info.value.rule
    assert not router.calls and not recorder.frames


@pytest.mark.parametrize(
    "order_id",
    [INJECTION, "9223372036854775808", "0", "007", "-1", "fd4300ae-7847-404e-b947-b46980a4d140", "٤٢", "12\n"],
)
async def test_cancel_refuses_every_non_binance_order_id(
    offline: tuple[BinanceUsdm, FrameRecorder, respx.MockRouter], order_id: str
) -> None:
    venue, _, router = offline
    with pytest.raises(InvalidOrderError, match="order_id"):
        venue.validate_cancel(_cancel(order_id=order_id))
    with pytest.raises(InvalidOrderError, match="order_id"):
        await venue.cancel(_cancel(order_id=order_id), "r1")
    assert not router.calls


async def test_query_order_with_a_bad_id_is_a_read_error_before_sending(
    offline: tuple[BinanceUsdm, FrameRecorder, respx.MockRouter],
) -> None:
    venue, _, router = offline
    with pytest.raises(InvalidReadRequest, match="order_id"):
        await venue.query_order(BTC, order_id=INJECTION)
    with pytest.raises(InvalidReadRequest, match="client_order_id"):
        await venue.query_order(BTC, client_order_id="abc\n")
    assert not router.calls and venue.read_count() == 0


async def test_int64_order_id_is_sent_as_given_rest_and_ws_integer(
    offline: tuple[BinanceUsdm, FrameRecorder, respx.MockRouter],
) -> None:
    venue, recorder, router = offline
    top = "9223372036854775807"
    assert (await venue.cancel(_cancel(order_id=top), "r1")).status is CommandStatus.ACCEPTED
    _names_one_order(_rest_params(router.calls.last.request), "orderId", top)
    assert (await venue.cancel(_cancel(order_id=top, transport=Transport.WEBSOCKET), "r2")).status is (
        CommandStatus.ACCEPTED
    )
    assert recorder.frames[-1]["params"]["orderId"] == int(top)  # §6: INT params are JSON integers


async def test_client_id_with_colon_and_slash_is_encoded_and_signed_as_sent(
    offline: tuple[BinanceUsdm, FrameRecorder, respx.MockRouter],
) -> None:
    venue, _, router = offline
    cid = "x.A:b/c_d-9"
    assert (await venue.cancel(_cancel(cid=cid), "r1")).status is CommandStatus.ACCEPTED
    _names_one_order(_rest_params(router.calls.last.request), "origClientOrderId", cid)
    await venue.query_order(BTC, client_order_id=cid)
    _names_one_order(_rest_params(router.calls.last.request), "origClientOrderId", cid)


async def test_injected_cancel_leaves_the_other_instruments_order_alone(sim: SimExchange) -> None:
    # The tester's scenario end to end: an ETH order rests; a BTC cancel names it by injection.
    venue = make_venue(sim, request_timeout=1.0)
    async with Gateway(venues=[venue]) as gw:
        eth = await venue.submit(
            OrderRequest(venue="binance", instrument=ETH, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.01"),
                         price=Decimal("2900"), client_order_id="eth-resting", transport=Transport.REST)
        )  # fmt: skip
        assert eth.status is CommandStatus.ACCEPTED and eth.order_id is not None
        for transport in (Transport.REST, Transport.WEBSOCKET):
            injected = _cancel(order_id=f"{eth.order_id}&symbol=ETHUSDT", transport=transport)
            with pytest.raises(InvalidOrderError, match="order_id"):
                await gw.cancel(injected)
        # Valid for the model (a Bybit-shaped id) but not for Binance: Gateway.cancel asks the venue.
        with pytest.raises(InvalidOrderError, match="int64"):
            await gw.cancel(
                CancelRequest(venue="binance", instrument=BTC, order_id="fd4300ae-7847-404e-b947-b46980a4d140")
            )
        order = sim.truth.order("eth-resting")
        assert order is not None and order.status == "NEW"
        assert [a.operation for a in sim.truth.attempts(venue="binance")] == ["create"]


# --------------------------------------------------------------------------- item 5: "id\n"


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize("cid", ["abc\n", "abc\r\n", "a b", "abc&symbol=ETHUSDT", "a" * 37])
async def test_client_id_outside_binance_rule_is_refused_before_sending(
    offline: tuple[BinanceUsdm, FrameRecorder, respx.MockRouter], cid: str, transport: Transport
) -> None:
    venue, recorder, router = offline
    request = _order(transport=transport, client_order_id=cid)
    with pytest.raises(InvalidOrderError, match="client_order_id"):
        venue.validate(request)
    with pytest.raises(InvalidOrderError, match="client_order_id"):
        await venue.submit(request)
    with pytest.raises(InvalidOrderError, match="client_order_id"):
        await venue.cancel(_cancel(cid=cid, transport=transport), "r1")
    assert not router.calls and not recorder.frames


async def test_ws_create_with_a_trailing_newline_creates_nothing_on_the_sim(sim: SimExchange) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    await venue.start(RecordingSink())
    try:
        with pytest.raises(InvalidOrderError, match="client_order_id"):
            await venue.submit(_order(transport=Transport.WEBSOCKET, client_order_id="nl-1\n"))
        assert not sim.truth.attempts(venue="binance")
    finally:
        await venue.close()


# --------------------------------------------------------------------------- item 6: absurd amounts

ABSURD = [
    Decimal("1E+30"), Decimal("1E+40"), Decimal("1E+999999"), Decimal("1E-30"), Decimal("NaN"), Decimal("sNaN"),
    Decimal("Infinity"), Decimal("-Infinity"), Decimal("-1"), Decimal("0"), Decimal("-0"),
]  # fmt: skip


@pytest.mark.parametrize("field", ["quantity", "price"])
@pytest.mark.parametrize("value", ABSURD, ids=str)
async def test_absurd_amount_raises_invalid_order_naming_the_field(
    offline: tuple[BinanceUsdm, FrameRecorder, respx.MockRouter], field: str, value: Decimal
) -> None:
    venue, recorder, router = offline
    for transport in (Transport.REST, Transport.WEBSOCKET):
        request = _order(transport=transport, **{field: value})
        with pytest.raises(InvalidOrderError) as info:
            venue.validate(request)  # was a bare decimal.InvalidOperation for 1E+30
        assert info.value.field == field
        with pytest.raises(InvalidOrderError) as info:
            await venue.submit(request)
        assert info.value.field == field
    assert not router.calls and not recorder.frames


async def test_gateway_submit_of_a_huge_quantity_names_the_field(sim: SimExchange) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    async with Gateway(venues=[venue]) as gw:
        with pytest.raises(InvalidOrderError, match="quantity") as info:
            await gw.submit(_order("huge-1", quantity=Decimal("1E+30")))
        assert "20 digits" in info.value.rule
        # A model-valid amount above the venue's bound is a filter rule, never an arithmetic error.
        with pytest.raises(InvalidOrderError, match="above the maximum quantity"):
            await gw.submit(_order("huge-2", quantity=Decimal("99999999999999999999.999")))
    assert not sim.truth.attempts(venue="binance")


# --------------------------------------------------------------------------- property: every builder

NASTY = "&=%+#?/ :.\n\r\t_-\x00é😀ＡABCxyz0189"
IDS = st.one_of(
    st.text(alphabet=st.sampled_from(NASTY), max_size=60),
    st.text(max_size=60),
    st.integers(37, 3000).map(lambda n: "a" * n),
    st.from_regex(r"[1-9][0-9]{0,18}", fullmatch=True),
    st.from_regex(r"[.A-Z:/a-z0-9_-]{1,36}", fullmatch=True),
    st.uuids().map(str),
    st.sampled_from([INJECTION, "abc\n", "9223372036854775808", "0", "007", "1%26symbol%3DETHUSDT", "1+1"]),
)


async def _drive(ident: str) -> None:
    """Send ``ident`` through every Binance request builder; each refuses it or names exactly it."""
    venue, recorder = _offline_venue()
    try:
        with respx.mock(base_url=BASE, assert_all_called=False) as router:
            _routes(router)
            valid_cid = CLIENT_ID_RE.fullmatch(ident) is not None
            valid_oid = ORDER_ID_RE.fullmatch(ident) is not None and int(ident) < 2**63
            for transport in (Transport.REST, Transport.WEBSOCKET):
                cases: list[tuple[Any, str, bool]] = [
                    (lambda t=transport: venue.submit(_order(transport=t, client_order_id=ident)),
                     "newClientOrderId", valid_cid),
                    (lambda t=transport: venue.cancel(_cancel(order_id=ident, transport=t), "r"), "orderId", valid_oid),
                    (lambda t=transport: venue.cancel(_cancel(cid=ident, transport=t), "r"),
                     "origClientOrderId", valid_cid),
                ]  # fmt: skip
                if transport is Transport.REST:
                    cases += [
                        (lambda: venue.query_order(BTC, order_id=ident), "orderId", valid_oid),
                        (lambda: venue.query_order(BTC, client_order_id=ident), "origClientOrderId", valid_cid),
                    ]
                for send, key, valid in cases:
                    sent_before = len(router.calls) + len(recorder.frames)
                    try:
                        await send()
                    except (InvalidOrderError, InvalidReadRequest) as exc:
                        assert not valid, (key, ident, exc)
                        assert exc.field in ("order_id", "client_order_id")
                        assert len(router.calls) + len(recorder.frames) == sent_before  # nothing sent
                        continue
                    assert valid, (key, ident)
                    if transport is Transport.REST:
                        _names_one_order(_rest_params(router.calls.last.request), key, ident)
                    else:
                        params = _ws_params(recorder.frames[-1])
                        named = {k: str(v) for k, v in params.items() if k in IDENT_KEYS | {"newClientOrderId"}}
                        assert named == {key: ident} and params["symbol"] == "BTCUSDT"
    finally:
        await venue.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(IDS)
def test_every_request_builder_refuses_or_names_exactly_the_given_id(ident: str) -> None:
    asyncio.run(_drive(ident))
