"""Every Bybit outcome-classification row, with respx and against the simulator.

The rows: docs/venues/README.md and docs/venues/bybit-v5.md §8.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
import respx

from gateway.model import CancelRequest, CommandReceipt, CommandStatus, Transport
from tests.bybit.conftest import RecordingSink, fixture_entries, make_venue, order
from tests.fake_ws import fake_ws_server
from venues.base import InstrumentFilters, VenueRateLimited, VenueReadError, VenueUnreachable
from venues.bybit import BybitLinear
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind

BASE = "https://bybit.test"
J = orjson.dumps
UNKNOWN, REJECTED, ACCEPTED = CommandStatus.UNKNOWN_EXECUTION, CommandStatus.REJECTED, CommandStatus.ACCEPTED


def env(code: int, msg: str = "", result: Any = None) -> bytes:
    return J({"retCode": code, "retMsg": msg, "result": result or {}, "retExtInfo": {}, "time": 1})


ACK = env(0, "OK", {"orderId": "1321003749386327552", "orderLinkId": "cid-1"})


@pytest_asyncio.fixture
async def mocked() -> AsyncIterator[tuple[BybitLinear, respx.MockRouter]]:
    instruments = fixture_entries()["bybit-naut-M8"]["response"]
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/v5/market/time").respond(content=env(0, "OK", {"timeSecond": "0", "timeNano": "0"}))
        router.get("/v5/market/instruments-info").respond(json=instruments)
        router.get("/v5/market/tickers").respond(
            content=env(0, "OK", {"list": [{"symbol": "BTCUSDT", "markPrice": "50000"}]})
        )
        venue = BybitLinear("key", "secret", rest_url=BASE, ws_api_url=None, stream_url=None, http="httpx")
        await venue.start(RecordingSink())
        yield venue, router
        await venue.close()


# (row id, respx response or exception, status, safe_to_resubmit, retriable)
ROWS: list[tuple[str, Any, CommandStatus, bool, bool]] = [
    ("connect refused", httpx.ConnectError("refused"), REJECTED, True, False),
    ("10001 parameter", httpx.Response(200, content=env(10001, "params error")), REJECTED, True, False),
    ("10002 recv window", httpx.Response(200, content=env(10002, "time")), REJECTED, True, False),
    ("10003 api key", httpx.Response(200, content=env(10003, "key")), REJECTED, True, False),
    ("10004 sign", httpx.Response(200, content=env(10004, "error sign")), REJECTED, True, False),
    ("110007 balance", httpx.Response(200, content=env(110007, "ab not enough")), REJECTED, True, False),
    ("110094 notional", httpx.Response(200, content=env(110094, "notional")), REJECTED, True, False),
    ("110017 reduce-only", httpx.Response(200, content=env(110017, "truncated")), REJECTED, True, False),
    ("401 no envelope", httpx.Response(401, content=b"Unauthorized"), REJECTED, True, False),
    ("10006 rate limit", httpx.Response(200, content=env(10006, "Too many visits!")), REJECTED, True, True),
    ("429", httpx.Response(429, content=b"Too Many Requests"), REJECTED, True, True),
    ("403 too frequent", httpx.Response(403, content=b"access too frequent"), REJECTED, True, True),
    ("read timeout", httpx.ReadTimeout("slow"), UNKNOWN, False, True),
    ("reset", httpx.RemoteProtocolError("reset"), UNKNOWN, False, True),
    ("502 html", httpx.Response(502, content=b"<html>502 Bad Gateway</html>"), UNKNOWN, False, True),
    ("503", httpx.Response(503, content=b"Service Unavailable"), UNKNOWN, False, True),
    ("504 unknown error", httpx.Response(504, content=b"Request occur unknown error."), UNKNOWN, False, True),
    ("10000 server timeout", httpx.Response(200, content=env(10000, "Server Timeout")), UNKNOWN, False, True),
    ("10016 server error", httpx.Response(200, content=env(10016, "Server error")), UNKNOWN, False, True),
    ("5xx with envelope", httpx.Response(502, content=env(10001, "params")), UNKNOWN, False, True),
    ("unparsable 200", httpx.Response(200, content=ACK[:30]), UNKNOWN, False, True),
    ("retCode 0 without orderId", httpx.Response(200, content=env(0, "OK", {})), UNKNOWN, False, True),
    ("110072 duplicate", httpx.Response(200, content=env(110072, "OrderLinkedID is duplicate")), UNKNOWN, False, True),
    ("unrecognised code", httpx.Response(200, content=env(177777, "?")), UNKNOWN, False, True),
    ("accepted", httpx.Response(200, content=ACK), ACCEPTED, False, False),
]  # fmt: skip


@pytest.mark.parametrize(("row", "answer", "status", "safe", "retriable"), ROWS, ids=[r[0] for r in ROWS])
async def test_submit_classification_respx(
    mocked: tuple[BybitLinear, respx.MockRouter],
    row: str,
    answer: Any,
    status: CommandStatus,
    safe: bool,
    retriable: bool,
) -> None:
    venue, router = mocked
    route = router.post("/v5/order/create")
    if isinstance(answer, Exception):
        route.side_effect = answer
    else:
        route.return_value = answer
    receipt = await venue.submit(order())
    assert (receipt.status, receipt.safe_to_resubmit, receipt.retriable) == (status, safe, retriable), receipt
    assert route.call_count == 1  # writes are never retried
    sent = route.calls[0].request
    assert sent.headers["X-BAPI-API-KEY"] == "key" and len(sent.headers["X-BAPI-SIGN"]) == 64
    if row == "accepted":
        assert receipt.order_id == "1321003749386327552"
        assert receipt.order_state is None  # an ack proves acceptance, not state
    if row == "403 too frequent":
        assert receipt.retry_after == 600.0


# --------------------------------------------------------------------------- retCode 0 acks that prove nothing

UUID = "fd4300ae-7847-404e-b947-b46980a4d140"
GOOD_ACK: dict[str, Any] = {"orderId": "1321003749386327552", "orderLinkId": "cid-1"}


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[tuple[BybitLinear, respx.MockRouter, dict[str, Any]]]:
    """REST mocked with respx and a fake trade WS (auth accepted) answering ``retCode 0`` with ``script["data"]``."""
    script: dict[str, Any] = {"data": GOOD_ACK}

    def answer(frame: dict[str, Any]) -> dict[str, Any] | None:
        op = frame.get("op")
        if op == "auth":
            return {"reqId": frame.get("reqId"), "retCode": 0, "retMsg": "OK", "op": "auth", "connId": "c1"}
        if op in ("order.create", "order.cancel"):
            return {"reqId": frame.get("reqId"), "retCode": 0, "retMsg": "OK", "op": op, "data": script["data"],
                    "retExtInfo": {}, "header": {}, "connId": "c1"}  # fmt: skip
        return None

    instruments = fixture_entries()["bybit-naut-M8"]["response"]
    async with fake_ws_server(answer) as ws_url:
        with respx.mock(base_url=BASE, assert_all_called=False) as router:
            router.get("/v5/market/time").respond(content=env(0, "OK", {"timeSecond": "0", "timeNano": "0"}))
            router.get("/v5/market/instruments-info").respond(json=instruments)
            router.get("/v5/market/tickers").respond(
                content=env(0, "OK", {"list": [{"symbol": "BTCUSDT", "markPrice": "50000"}]})
            )
            venue = BybitLinear("key", "secret", rest_url=BASE, ws_api_url=ws_url, stream_url=None, http="httpx")
            await venue.start(RecordingSink())
            assert venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET
            try:
                yield venue, router, script
            finally:
                await venue.close()


def _ack_with(
    scripted: tuple[BybitLinear, respx.MockRouter, dict[str, Any]], path: str, data: dict[str, Any]
) -> BybitLinear:
    venue, router, script = scripted
    router.post(path).respond(200, content=env(0, "OK", data))
    script["data"] = data
    return venue


def _assert_unknown_naming(receipt: CommandReceipt, named: str) -> None:
    assert (receipt.status, receipt.safe_to_resubmit, receipt.retriable) == (UNKNOWN, False, True), receipt
    assert named in receipt.message, receipt.message
    assert receipt.client_order_id == "cid-1"  # the reconciler looks the order up by it


# (row id, the ack's data, what the message must name). Issue 13 item 3.
BOGUS_CREATE: list[tuple[str, dict[str, Any], str]] = [
    ("orderId null", {"orderId": None, "orderLinkId": "cid-1"}, "orderId"),
    ("orderId object", {"orderId": {"a": 1}, "orderLinkId": "cid-1"}, "orderId"),
    ("orderId empty", {"orderId": "", "orderLinkId": "cid-1"}, "orderId"),
    ("orderId true", {"orderId": True, "orderLinkId": "cid-1"}, "orderId"),
    ("orderId a JSON number", {"orderId": 1321003749386327552, "orderLinkId": "cid-1"}, "orderId"),
    ("orderId 'None'", {"orderId": "None", "orderLinkId": "cid-1"}, "orderId"),
    ("orderId not the venue's shape", {"orderId": "fd4300ae-7847", "orderLinkId": "cid-1"}, "orderId"),
    ("orderLinkId not the one sent", {"orderId": UUID, "orderLinkId": "someone-else"}, "orderLinkId"),
    ("orderLinkId missing", {"orderId": UUID}, "orderLinkId"),
    ("orderLinkId null", {"orderId": UUID, "orderLinkId": None}, "orderLinkId"),
]  # fmt: skip


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize(("row", "data", "named"), BOGUS_CREATE, ids=[r[0] for r in BOGUS_CREATE])
async def test_a_create_ack_that_fails_the_schema_is_unknown(
    scripted: tuple[BybitLinear, respx.MockRouter, dict[str, Any]],
    row: str,
    data: dict[str, Any],
    named: str,
    transport: Transport,
) -> None:
    venue = _ack_with(scripted, "/v5/order/create", data)
    receipt = await venue.submit(order(transport=transport))
    assert receipt.transport is transport
    _assert_unknown_naming(receipt, named)
    assert receipt.order_id is None  # a bogus id is never reported


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize("order_id", ["1321003749386327552", UUID])
async def test_a_create_ack_that_meets_the_schema_is_accepted(
    scripted: tuple[BybitLinear, respx.MockRouter, dict[str, Any]], order_id: str, transport: Transport
) -> None:
    venue = _ack_with(scripted, "/v5/order/create", {"orderId": order_id, "orderLinkId": "cid-1"})
    receipt = await venue.submit(order(transport=transport))
    assert (receipt.status, receipt.order_id, receipt.client_order_id) == (ACCEPTED, order_id, "cid-1")
    assert receipt.order_state is None  # an ack proves acceptance, not state


BOGUS_CANCEL: list[tuple[str, dict[str, Any], str]] = [
    ("orderId null", {"orderId": None, "orderLinkId": "cid-1"}, "orderId"),
    ("orderId true", {"orderId": True, "orderLinkId": "cid-1"}, "orderId"),
    ("orderId not the venue's shape", {"orderId": "x", "orderLinkId": "cid-1"}, "orderId"),
    ("orderLinkId not the target", {"orderId": UUID, "orderLinkId": "someone-else"}, "orderLinkId"),
    ("orderLinkId missing", {"orderId": UUID}, "orderLinkId"),
]  # fmt: skip


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize(("row", "data", "named"), BOGUS_CANCEL, ids=[r[0] for r in BOGUS_CANCEL])
async def test_a_cancel_ack_that_fails_the_schema_is_unknown(
    scripted: tuple[BybitLinear, respx.MockRouter, dict[str, Any]],
    row: str,
    data: dict[str, Any],
    named: str,
    transport: Transport,
) -> None:
    venue = _ack_with(scripted, "/v5/order/cancel", data)
    cancel = CancelRequest(venue="bybit", instrument="BTC/USDT:USDT", client_order_id="cid-1", transport=transport)
    receipt = await venue.cancel(cancel, "r1")
    _assert_unknown_naming(receipt, named)
    assert receipt.request_id == "r1"


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
async def test_a_cancel_ack_must_name_the_target_order_id(
    scripted: tuple[BybitLinear, respx.MockRouter, dict[str, Any]], transport: Transport
) -> None:
    other = "0a4300ae-7847-404e-b947-b46980a4d140"
    cancel = CancelRequest(venue="bybit", instrument="BTC/USDT:USDT", order_id=UUID, transport=transport)
    venue = _ack_with(scripted, "/v5/order/cancel", {"orderId": other, "orderLinkId": "cid-1"})
    receipt = await venue.cancel(cancel, "r1")
    assert receipt.status is UNKNOWN and "is not the target" in receipt.message, receipt
    assert receipt.order_id == UUID  # the target, for the reconciler
    venue = _ack_with(scripted, "/v5/order/cancel", {"orderId": UUID, "orderLinkId": "cid-1"})
    receipt = await venue.cancel(cancel, "r2")
    assert (receipt.status, receipt.order_id, receipt.client_order_id) == (ACCEPTED, UUID, "cid-1"), receipt


async def test_rate_limit_wait_comes_from_the_reset_header(mocked: tuple[BybitLinear, respx.MockRouter]) -> None:
    venue, router = mocked
    reset = str(int(time.time() * 1000) + 4000)
    router.post("/v5/order/create").respond(
        200, headers={"X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": reset}, content=env(10006, "x")
    )
    receipt = await venue.submit(order())
    assert receipt.status is REJECTED and receipt.retriable
    assert receipt.retry_after is not None and 3.0 < receipt.retry_after <= 4.0


@pytest.mark.parametrize("code", [110001, 110008, 110010])
async def test_cancel_of_an_order_that_is_not_open_is_rejected(
    mocked: tuple[BybitLinear, respx.MockRouter], code: int
) -> None:
    venue, router = mocked
    router.post("/v5/order/cancel").respond(200, content=env(code, "order not exists or too late to cancel"))
    receipt = await venue.cancel(
        CancelRequest(venue="bybit", instrument="BTC/USDT:USDT", client_order_id="x", transport=Transport.REST), "r1"
    )
    assert (receipt.status, receipt.native_code) == (REJECTED, str(code))


async def test_secret_never_in_repr_logs_or_receipts(
    mocked: tuple[BybitLinear, respx.MockRouter], caplog: pytest.LogCaptureFixture
) -> None:
    venue, router = mocked
    caplog.set_level("DEBUG")
    router.post("/v5/order/create").respond(200, content=env(10004, "error sign"))
    receipt = await venue.submit(order())
    for text in (repr(venue), str(venue), receipt.model_dump_json(), receipt.message, caplog.text):
        assert "secret" not in text


async def test_bad_client_order_id_is_refused_before_sending(mocked: tuple[BybitLinear, respx.MockRouter]) -> None:
    venue, router = mocked
    route = router.post("/v5/order/create")
    with pytest.raises(ValueError, match="client_order_id"):
        venue.validate(order("has:colon"))
    with pytest.raises(ValueError, match="client_order_id"):
        await venue.submit(order("has.dot"))
    assert route.call_count == 0


async def test_connection_refused_is_safe_to_resubmit() -> None:
    venue = BybitLinear("k", "s", rest_url="http://127.0.0.1:9", ws_api_url=None, stream_url=None)
    venue._set_filters(
        InstrumentFilters("bybit", "BTC/USDT:USDT", "BTCUSDT", Decimal("0.1"), Decimal("0.001"),
                          Decimal("0.001"), Decimal("1000"), Decimal("5"))
    )  # fmt: skip
    try:
        receipt = await venue.submit(order())
        assert (receipt.status, receipt.safe_to_resubmit) == (REJECTED, True)
    finally:
        await venue.close()


# --------------------------------------------------------------------------- reads never decide outcomes

READ_ROWS: list[tuple[str, Any, type[Exception]]] = [
    ("refused", httpx.ConnectError("refused"), VenueUnreachable),
    ("timeout", httpx.ReadTimeout("slow"), VenueUnreachable),
    ("502", httpx.Response(502, content=b"<html>bad gateway</html>"), VenueUnreachable),
    ("10016", httpx.Response(200, content=env(10016, "Server error")), VenueUnreachable),
    ("10006", httpx.Response(200, content=env(10006, "Too many visits!")), VenueRateLimited),
    ("429", httpx.Response(429, content=b"slow down"), VenueRateLimited),
    ("10001", httpx.Response(200, content=env(10001, "params")), VenueReadError),
    ("unparsable", httpx.Response(200, content=b'{"retCode":0,'), VenueReadError),
    ("no list", httpx.Response(200, content=env(0, "OK", {"nextPageCursor": ""})), VenueReadError),
]


@pytest.mark.parametrize(("row", "answer", "error"), READ_ROWS, ids=[r[0] for r in READ_ROWS])
async def test_read_failures_raise_read_errors(
    mocked: tuple[BybitLinear, respx.MockRouter], row: str, answer: Any, error: type[Exception]
) -> None:
    venue, router = mocked
    route = router.get("/v5/order/realtime")
    if isinstance(answer, Exception):
        route.side_effect = answer
    else:
        route.return_value = answer
    with pytest.raises(error):
        await venue.open_orders("BTC/USDT:USDT")


async def test_history_pages_by_cursor_and_reads_need_a_symbol(mocked: tuple[BybitLinear, respx.MockRouter]) -> None:
    venue, router = mocked
    item = fixture_entries()["bybit-naut-M5"]["response"]["result"]["list"][0] | {"symbol": "BTCUSDT"}
    pages = [
        env(0, "OK", {"list": [item | {"orderId": "a"}], "nextPageCursor": "p2%3Ax"}),
        env(0, "OK", {"list": [item | {"orderId": "b"}], "nextPageCursor": ""}),
    ]
    route = router.get("/v5/order/history").mock(side_effect=[httpx.Response(200, content=p) for p in pages])
    found = await venue.order_history("BTC/USDT:USDT", 0, 1000)
    assert sorted(o.order_id for o in found) == ["a", "b"]
    first, second = (c.request.url.params for c in route.calls)
    assert first["symbol"] == "BTCUSDT" and first["category"] == "linear" and "cursor" not in first
    assert second["cursor"] == "p2%3Ax"  # the opaque cursor goes back exactly as given


async def test_query_falls_back_to_history_then_none(mocked: tuple[BybitLinear, respx.MockRouter]) -> None:
    venue, router = mocked
    empty = httpx.Response(200, content=env(0, "OK", {"list": [], "nextPageCursor": ""}))
    router.get("/v5/order/realtime").mock(return_value=empty)
    history = router.get("/v5/order/history").mock(return_value=empty)
    assert await venue.query_order("BTC/USDT:USDT", client_order_id="gone-1") is None
    assert history.call_count == 1 and history.calls[0].request.url.params["orderLinkId"] == "gone-1"


# --------------------------------------------------------------------------- the same rows against the simulator

SIM_ROWS: list[tuple[Fault, CommandStatus, bool]] = [
    (Fault(FaultKind.ACCEPT_THEN_TIMEOUT, delay_seconds=2.0), UNKNOWN, True),
    (Fault(FaultKind.ACCEPT_THEN_RESET), UNKNOWN, True),
    (Fault(FaultKind.ACCEPT_THEN_5XX), UNKNOWN, True),
    (Fault(FaultKind.ACCEPT_THEN_5XX, status=504), UNKNOWN, True),
    (Fault(FaultKind.REJECT_THEN_5XX), UNKNOWN, False),
    (Fault(FaultKind.UNKNOWN_CODE, code=10000, executed=False), UNKNOWN, False),
    (Fault(FaultKind.UNKNOWN_CODE, code=10016, executed=True), UNKNOWN, True),
    (Fault(FaultKind.REJECT_CODE, code=110007), REJECTED, False),
    (Fault(FaultKind.RATE_LIMIT), REJECTED, False),
    (Fault(FaultKind.DELAYED_VISIBILITY, delay_seconds=0.5), ACCEPTED, True),
    (Fault(FaultKind.MALFORMED_2XX), UNKNOWN, True),
]


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize(
    ("fault", "status", "executed"),
    SIM_ROWS,
    ids=[f.kind.value + str(f.status or f.code or "") for f, _, _ in SIM_ROWS],
)
async def test_submit_classification_sim(
    sim: SimExchange, fault: Fault, status: CommandStatus, executed: bool, transport: Transport
) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    try:
        await venue.start(RecordingSink())
        assert venue.transport_for(transport) is transport
        cid = f"c-{fault.kind.value[:10]}-{fault.code or fault.status or 0}-{transport.value[:2]}".replace("_", "")
        sim.faults.add(Fault(**{**fault.__dict__, "venue": "bybit", "client_order_id": cid}))
        receipt = await venue.submit(order(cid, transport))
        assert receipt.status is status, receipt
        assert len(sim.truth.attempts(cid)) == 1  # sent once
        assert bool(sim.truth.orders_for(cid)) is executed
    finally:
        await venue.close()


@pytest.mark.parametrize("executed", [True, False])
async def test_ws_drop_after_frame_is_unknown(sim: SimExchange, executed: bool) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    try:
        await venue.start(RecordingSink())
        cid = f"wsdrop-{executed}"
        sim.faults.add(Fault(FaultKind.WS_DROP, venue="bybit", client_order_id=cid, executed=executed))
        receipt = await venue.submit(order(cid, Transport.WEBSOCKET))
        assert receipt.status is UNKNOWN
        assert (sim.truth.order(cid) is not None) is executed
    finally:
        await venue.close()


async def test_duplicate_order_link_id_is_evidence_on_the_sim(venue: BybitLinear, sim: SimExchange) -> None:
    first = await venue.submit(order("dup-1"))
    second = await venue.submit(order("dup-1", Transport.WEBSOCKET))
    assert first.status is ACCEPTED
    assert (second.status, second.native_code) == (UNKNOWN, "110072")
    assert len(sim.truth.orders_for("dup-1")) == 1


CANCEL_FAULTS = [
    Fault(FaultKind.ACCEPT_THEN_RESET, operation="cancel"),
    Fault(FaultKind.ACCEPT_THEN_TIMEOUT, operation="cancel", delay_seconds=2.0),
    Fault(FaultKind.ACCEPT_THEN_5XX, operation="cancel", status=502),
    Fault(FaultKind.REJECT_THEN_5XX, operation="cancel"),
]


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize("fault", CANCEL_FAULTS, ids=[f.kind.value for f in CANCEL_FAULTS])
async def test_a_cancel_whose_answer_is_lost_is_unknown_and_sent_once(
    sim: SimExchange, fault: Fault, transport: Transport
) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    try:
        await venue.start(RecordingSink())
        cid = f"cx-{fault.kind.value[:12]}-{transport.value[:2]}".replace("_", "")
        assert (await venue.submit(order(cid, transport))).status is ACCEPTED
        sim.faults.add(Fault(**{**fault.__dict__, "venue": "bybit", "client_order_id": cid}))
        receipt = await venue.cancel(
            CancelRequest(venue="bybit", instrument="BTC/USDT:USDT", client_order_id=cid, transport=transport), "r1"
        )
        assert receipt.status is UNKNOWN, receipt
        assert [a.operation for a in sim.truth.attempts(cid)] == ["create", "cancel"]  # sent once
    finally:
        await venue.close()
