"""Issue 13 items 4-6 on Bybit: every id and amount is checked for Bybit and encoded before it is sent.

Requests are captured with respx (REST) and a frame-recording stand-in for the trade WebSocket;
the end-to-end cases run against the simulator. Requests that bypass the model's own checks
(``model_construct`` / ``model_copy(update=...)``) prove the adapter does not rely on them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
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
from tests.bybit.conftest import RecordingSink, make_venue, order
from venues.base import InstrumentFilters, InvalidOrderError, InvalidReadRequest
from venues.bybit import BybitLinear
from venues.bybit.adapter import CLIENT_ID_RE, ORDER_ID_RE
from venues.bybit.ws_api import BybitTradeWs
from venues.sim import SimExchange

BASE = "https://api.bybit.test"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
SECRET = "test-secret"
UUID = "fd4300ae-7847-404e-b947-b46980a4d140"
IDENT_KEYS = {"orderId", "orderLinkId"}
INJECTION = f"{UUID}&symbol=ETHUSDT"


def _env(result: Any) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1}


def _order(cid: str = "cid-1", transport: Transport = Transport.REST, **changes: Any) -> OrderRequest:
    request = order(cid, transport)
    # model_copy skips the model's validators: the adapter must hold the line on its own.
    return request.model_copy(update=changes) if changes else request


def _cancel(
    *, order_id: str | None = None, cid: str | None = None, transport: Transport = Transport.REST
) -> CancelRequest:
    return CancelRequest.model_construct(
        venue="bybit", instrument=BTC, client_order_id=cid, order_id=order_id, transport=transport
    )


def _ack(params: dict[str, Any]) -> dict[str, Any]:
    """An acknowledgement naming the order its request named (answers are checked against their request)."""
    return {"orderId": params.get("orderId") or UUID, "orderLinkId": params.get("orderLinkId", "")}


def _rest_answer(request: httpx.Request) -> httpx.Response:
    if request.method == "GET":
        return httpx.Response(200, json=_env({"list": []}))
    return httpx.Response(200, json=_env(_ack(orjson.loads(request.content))))


class FrameRecorder:
    """Stands in for the trade WebSocket: records each frame and acknowledges the order it names."""

    is_up = True

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def call(self, rid: str, frame: str, timeout: float) -> dict[str, Any]:
        sent = orjson.loads(frame)
        self.frames.append(sent)
        return {"reqId": rid, "retCode": 0, "retMsg": "OK", "data": _ack(sent["args"][0])}

    async def close(self) -> None:
        return None


def _offline_venue() -> tuple[BybitLinear, FrameRecorder]:
    """A Bybit adapter with BTC and ETH listed, REST through httpx (respx) and a recording trade WS."""
    venue = BybitLinear("key", SECRET, rest_url=BASE, ws_api_url=None, stream_url=None, http="httpx")
    for unified, native, tick in ((BTC, "BTCUSDT", "0.1"), (ETH, "ETHUSDT", "0.01")):
        venue._set_filters(
            InstrumentFilters("bybit", unified, native, Decimal(tick), Decimal("0.001"),
                              Decimal("0.001"), Decimal("1000"), Decimal("5"))
        )  # fmt: skip
    venue.mark(BTC, Decimal("50000"))
    ws = BybitTradeWs("ws://unused", name="bybit", api_key="key", sign=venue._sign, recv_window_ms=5000,
                      clock=venue._now_ms)  # fmt: skip
    recorder = FrameRecorder()
    ws.rpc = recorder  # type: ignore[assignment]
    venue.trade_ws = ws
    return venue, recorder


def _routes(router: respx.MockRouter) -> None:
    for method, path in (("POST", "/v5/order/create"), ("POST", "/v5/order/cancel"),
                         ("GET", "/v5/order/realtime"), ("GET", "/v5/order/history")):  # fmt: skip
        router.route(method=method, path=path).mock(side_effect=_rest_answer)


@pytest_asyncio.fixture
async def offline() -> AsyncIterator[tuple[BybitLinear, FrameRecorder, respx.MockRouter]]:
    venue, recorder = _offline_venue()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        _routes(router)
        yield venue, recorder, router
    await venue.close()


# --------------------------------------------------------------------------- what a sent request says


def _signed(request: httpx.Request, payload: bytes) -> None:
    h = request.headers
    prefix = (h["X-BAPI-TIMESTAMP"] + h["X-BAPI-API-KEY"] + h["X-BAPI-RECV-WINDOW"]).encode()
    assert h["X-BAPI-SIGN"] == hmac.new(SECRET.encode(), prefix + payload, hashlib.sha256).hexdigest()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [k for k, _ in pairs]
    assert len(names) == len(set(names)), names  # no parameter given twice
    return dict(pairs)


def _rest_params(request: httpx.Request) -> dict[str, Any]:
    """The params of a sent REST request, after checking the signature covers exactly what was sent."""
    if request.method == "GET":
        raw = request.url.query.decode()
        # aiohttp (yarl) would send this very string: nothing it re-quotes, so nothing unsigned.
        assert yarl.URL(str(request.url)).raw_query_string == raw
        _signed(request, raw.encode())
        return _no_duplicates(parse_qsl(raw, keep_blank_values=True, strict_parsing=True))
    _signed(request, request.content)
    return dict(json.loads(request.content, object_pairs_hook=_no_duplicates))


def _names_one_order(params: dict[str, Any], key: str, value: str) -> None:
    assert {k: v for k, v in params.items() if k in IDENT_KEYS} == {key: value}, params
    assert params["symbol"] == "BTCUSDT" and params["category"] == "linear"


# --------------------------------------------------------------------------- item 4: order id injection


@pytest.mark.parametrize(
    "order_id", [INJECTION, "1=2", "1%26symbol%3DETHUSDT", UUID + "\n", UUID[:-1], "x" * 37, "123456789012345678901"]
)
async def test_cancel_refuses_every_non_bybit_order_id(
    offline: tuple[BybitLinear, FrameRecorder, respx.MockRouter], order_id: str
) -> None:
    venue, recorder, router = offline
    with pytest.raises(InvalidOrderError, match="order_id"):
        venue.validate_cancel(_cancel(order_id=order_id))
    for transport in (Transport.REST, Transport.WEBSOCKET):
        with pytest.raises(InvalidOrderError) as info:
            await venue.cancel(_cancel(order_id=order_id, transport=transport), "r1")
        assert info.value.field == "order_id" and "UUID" in info.value.rule
    assert not router.calls and not recorder.frames


async def test_query_order_with_a_bad_id_is_a_read_error_before_sending(
    offline: tuple[BybitLinear, FrameRecorder, respx.MockRouter],
) -> None:
    venue, _, router = offline
    with pytest.raises(InvalidReadRequest, match="order_id"):
        await venue.query_order(BTC, order_id=INJECTION)
    with pytest.raises(InvalidReadRequest, match="client_order_id"):
        await venue.query_order(BTC, client_order_id="abc&symbol=ETHUSDT")
    assert not router.calls and venue.read_count() == 0


@pytest.mark.parametrize("order_id", [UUID, UUID.upper(), "1321003749386327552"])
async def test_bybit_order_ids_are_sent_as_given(
    offline: tuple[BybitLinear, FrameRecorder, respx.MockRouter], order_id: str
) -> None:
    venue, recorder, router = offline
    assert (await venue.cancel(_cancel(order_id=order_id), "r1")).status is CommandStatus.ACCEPTED
    _names_one_order(_rest_params(router.calls.last.request), "orderId", order_id)
    assert (await venue.cancel(_cancel(order_id=order_id, transport=Transport.WEBSOCKET), "r2")).status is (
        CommandStatus.ACCEPTED
    )
    _names_one_order(recorder.frames[-1]["args"][0], "orderId", order_id)
    await venue.query_order(BTC, order_id=order_id)
    assert [c.request.url.path for c in router.calls][-2:] == ["/v5/order/realtime", "/v5/order/history"]
    for call in router.calls[-2:]:
        _names_one_order(_rest_params(call.request), "orderId", order_id)


async def test_injected_cancel_leaves_the_other_instruments_order_alone(sim: SimExchange) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    async with Gateway(venues=[venue]) as gw:
        eth = await venue.submit(
            OrderRequest(venue="bybit", instrument=ETH, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.01"),
                         price=Decimal("2900"), client_order_id="eth-resting", transport=Transport.REST)
        )  # fmt: skip
        assert eth.status is CommandStatus.ACCEPTED and eth.order_id is not None
        for transport in (Transport.REST, Transport.WEBSOCKET):
            with pytest.raises(InvalidOrderError, match="order_id"):
                await gw.cancel(_cancel(order_id=f"{eth.order_id}&symbol=ETHUSDT", transport=transport))
        # Valid for the model but not a Bybit orderId: Gateway.cancel asks the venue before sending.
        with pytest.raises(InvalidOrderError, match="UUID"):
            await gw.cancel(CancelRequest(venue="bybit", instrument=BTC, order_id="not_a_uuid"))
        found = sim.truth.order("eth-resting")
        assert found is not None and found.status == "NEW"
        assert [a.operation for a in sim.truth.attempts(venue="bybit")] == ["create"]


# --------------------------------------------------------------------------- item 5: "id\n"


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize("cid", ["abc\n", "abc\r\n", "a b", "a.b", "a:b", "abc&symbol=ETHUSDT", "a" * 37])
async def test_client_id_outside_bybit_rule_is_refused_before_sending(
    offline: tuple[BybitLinear, FrameRecorder, respx.MockRouter], cid: str, transport: Transport
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


async def test_rest_create_with_a_trailing_newline_creates_nothing_on_the_sim(sim: SimExchange) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    await venue.start(RecordingSink())
    try:
        with pytest.raises(InvalidOrderError, match="client_order_id"):
            await venue.submit(_order(transport=Transport.REST, client_order_id="nl-1\n"))
        assert not sim.truth.attempts(venue="bybit")
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
    offline: tuple[BybitLinear, FrameRecorder, respx.MockRouter], field: str, value: Decimal
) -> None:
    venue, recorder, router = offline
    for transport in (Transport.REST, Transport.WEBSOCKET):
        request = _order(transport=transport, **{field: value})
        with pytest.raises(InvalidOrderError) as info:
            venue.validate(request)  # was a bare decimal.InvalidOperation for 1E+40
        assert info.value.field == field
        with pytest.raises(InvalidOrderError) as info:
            await venue.submit(request)
        assert info.value.field == field
    assert not router.calls and not recorder.frames


async def test_gateway_submit_of_a_huge_quantity_names_the_field(sim: SimExchange) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    async with Gateway(venues=[venue]) as gw:
        with pytest.raises(InvalidOrderError, match="quantity") as info:
            await gw.submit(_order("huge-1", quantity=Decimal("1E+40")))
        assert "20 digits" in info.value.rule
        with pytest.raises(InvalidOrderError, match="above the maximum quantity"):
            await gw.submit(_order("huge-2", quantity=Decimal("99999999999999999999.999")))
    assert not sim.truth.attempts(venue="bybit")


# --------------------------------------------------------------------------- property: every builder

NASTY = "&=%+#?/ :.\n\r\t_-\x00é😀ＡABCxyz0189"
IDS = st.one_of(
    st.text(alphabet=st.sampled_from(NASTY), max_size=60),
    st.text(max_size=60),
    st.integers(37, 3000).map(lambda n: "a" * n),
    st.from_regex(r"[0-9]{1,21}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_-]{1,36}", fullmatch=True),
    st.uuids().map(str),
    st.sampled_from([INJECTION, "abc\n", UUID + "\n", "1%26symbol%3DETHUSDT", "1+1"]),
)


async def _drive(ident: str) -> None:
    """Send ``ident`` through every Bybit request builder; each refuses it or names exactly it."""
    venue, recorder = _offline_venue()
    try:
        with respx.mock(base_url=BASE, assert_all_called=False) as router:
            _routes(router)
            valid_cid = CLIENT_ID_RE.fullmatch(ident) is not None
            valid_oid = ORDER_ID_RE.fullmatch(ident) is not None
            for transport in (Transport.REST, Transport.WEBSOCKET):
                cases: list[tuple[Any, str, bool]] = [
                    (lambda t=transport: venue.submit(_order(transport=t, client_order_id=ident)),
                     "orderLinkId", valid_cid),
                    (lambda t=transport: venue.cancel(_cancel(order_id=ident, transport=t), "r"), "orderId", valid_oid),
                    (lambda t=transport: venue.cancel(_cancel(cid=ident, transport=t), "r"), "orderLinkId", valid_cid),
                ]  # fmt: skip
                if transport is Transport.REST:
                    cases += [
                        (lambda: venue.query_order(BTC, order_id=ident), "orderId", valid_oid),
                        (lambda: venue.query_order(BTC, client_order_id=ident), "orderLinkId", valid_cid),
                    ]
                for send, key, valid in cases:
                    calls_before = len(router.calls)
                    sent_before = calls_before + len(recorder.frames)
                    try:
                        await send()
                    except (InvalidOrderError, InvalidReadRequest) as exc:
                        assert not valid, (key, ident, exc)
                        assert exc.field in ("order_id", "client_order_id")
                        assert len(router.calls) + len(recorder.frames) == sent_before  # nothing sent
                        continue
                    assert valid, (key, ident)
                    if transport is Transport.REST:
                        for call in router.calls[calls_before:]:  # a query reads realtime, then history
                            _names_one_order(_rest_params(call.request), key, ident)
                    else:
                        _names_one_order(recorder.frames[-1]["args"][0], key, ident)
    finally:
        await venue.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(IDS)
def test_every_request_builder_refuses_or_names_exactly_the_given_id(ident: str) -> None:
    asyncio.run(_drive(ident))
