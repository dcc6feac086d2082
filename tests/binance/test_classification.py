"""Every outcome-classification row (ARCHITECTURE.md, docs/venues/README.md), with respx and against the simulator."""

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

from gateway import Gateway
from gateway.model import (
    CancelRequest,
    CommandReceipt,
    CommandStatus,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    Transport,
)
from reconcile import ReconcilePolicy
from tests.binance.conftest import RecordingSink, fixture_entries, make_venue
from tests.fake_ws import fake_ws_server
from venues.base import VenueRateLimited, VenueReadError, VenueUnreachable
from venues.binance import BinanceUsdm
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind

BASE = "https://fapi.test"
UNKNOWN_503 = "Unknown error, please check your request or try again later."
# A recorded answer, made to name the order ``_order()`` sends (the schema checks it is about that order).
ORDER_BODY: dict[str, Any] = fixture_entries()["binance-b404-X1"]["response"] | {
    "orderId": 4087922044, "clientOrderId": "cid-1", "price": "49000.00", "origQty": "0.010",
    "executedQty": "0.000", "positionSide": "BOTH",
}  # fmt: skip


def _order(cid: str = "cid-1", transport: Transport = Transport.REST) -> OrderRequest:
    return OrderRequest(
        venue="binance", instrument="BTC/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT,
        quantity=Decimal("0.01"), price=Decimal("49000"), client_order_id=cid, transport=transport,
    )  # fmt: skip


@pytest_asyncio.fixture
async def mocked() -> AsyncIterator[tuple[BinanceUsdm, respx.MockRouter]]:
    info = fixture_entries()["binance-naut-N2"]["response"]
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/fapi/v1/time").respond(json={"serverTime": 0})
        router.get("/fapi/v1/exchangeInfo").respond(json=info)
        router.get("/fapi/v1/premiumIndex").respond(json=[{"symbol": "BTCUSDT", "markPrice": "50000"}])
        venue = BinanceUsdm("key", "secret", rest_url=BASE, ws_api_url=None, stream_url=None, http="httpx")
        await venue.start(RecordingSink())
        yield venue, router
        await venue.close()


J = orjson.dumps
UNKNOWN, REJECTED = CommandStatus.UNKNOWN_EXECUTION, CommandStatus.REJECTED
# (row id, respx response or exception, status, safe_to_resubmit, retriable)
ROWS: list[tuple[str, Any, CommandStatus, bool, bool]] = [
    ("connect refused", httpx.ConnectError("refused"), REJECTED, True, False),
    ("filter code -4014", httpx.Response(400, content=J({"code": -4014, "msg": "tick"})), REJECTED, True, False),
    ("signature -1022", httpx.Response(400, content=J({"code": -1022, "msg": "sig"})), REJECTED, True, False),
    ("timestamp -1021", httpx.Response(400, content=J({"code": -1021, "msg": "ts"})), REJECTED, True, False),
    ("api key -2015", httpx.Response(401, content=J({"code": -2015, "msg": "key"})), REJECTED, True, False),
    ("margin -2019", httpx.Response(400, content=J({"code": -2019, "msg": "margin"})), REJECTED, True, False),
    ("reduce-only -2022", httpx.Response(400, content=J({"code": -2022, "msg": "ro"})), REJECTED, True, False),
    ("WAF 403", httpx.Response(403, content=b"<html>forbidden</html>"), REJECTED, True, False),
    ("429", httpx.Response(429, headers={"Retry-After": "7"}, content=J({"code": -1003})), REJECTED, True, True),
    ("418", httpx.Response(418, content=J({"code": -1003, "msg": "banned"})), REJECTED, True, True),
    ("-1015", httpx.Response(400, content=J({"code": -1015, "msg": "orders"})), REJECTED, True, True),
    ("read timeout", httpx.ReadTimeout("slow"), UNKNOWN, False, True),
    ("reset", httpx.RemoteProtocolError("reset"), UNKNOWN, False, True),
    ("502 html", httpx.Response(502, content=b"<html>502 Bad Gateway</html>"), UNKNOWN, False, True),
    ("503 unknown", httpx.Response(503, content=J({"code": -1000, "msg": UNKNOWN_503})), UNKNOWN, False, True),
    ("503 service unavailable", httpx.Response(503, content=b"Service Unavailable."), UNKNOWN, False, True),
    ("408", httpx.Response(408, content=J({"code": -1007, "msg": "timeout"})), UNKNOWN, False, True),
    ("-1007", httpx.Response(400, content=J({"code": -1007, "msg": "t"})), UNKNOWN, False, True),
    ("-1006", httpx.Response(400, content=J({"code": -1006, "msg": "t"})), UNKNOWN, False, True),
    ("-1000", httpx.Response(400, content=J({"code": -1000, "msg": "t"})), UNKNOWN, False, True),
    ("-1001", httpx.Response(400, content=J({"code": -1001, "msg": "t"})), UNKNOWN, False, True),
    ("-1008", httpx.Response(503, content=J({"code": -1008, "msg": "t"})), UNKNOWN, False, True),
    ("unparsable 2xx", httpx.Response(200, content=J(ORDER_BODY)[:40]), UNKNOWN, False, True),
    ("duplicate -4116", httpx.Response(400, content=J({"code": -4116, "msg": "dup"})), UNKNOWN, False, True),
    ("unrecognised code", httpx.Response(400, content=J({"code": -9999, "msg": "?"})), UNKNOWN, False, True),
    ("accepted", httpx.Response(200, content=J(ORDER_BODY)), CommandStatus.ACCEPTED, False, False),
]  # fmt: skip


@pytest.mark.parametrize(("row", "answer", "status", "safe", "retriable"), ROWS, ids=[r[0] for r in ROWS])
async def test_submit_classification_respx(
    mocked: tuple[BinanceUsdm, respx.MockRouter],
    row: str,
    answer: Any,
    status: CommandStatus,
    safe: bool,
    retriable: bool,
) -> None:
    venue, router = mocked
    route = router.post("/fapi/v1/order")
    if isinstance(answer, Exception):
        route.side_effect = answer
    else:
        route.return_value = answer
    receipt = await venue.submit(_order())
    assert (receipt.status, receipt.safe_to_resubmit, receipt.retriable) == (status, safe, retriable), receipt
    assert route.call_count == 1  # writes are never retried
    if row == "429":
        assert receipt.retry_after == 7.0
    if row == "accepted":
        assert receipt.order_id == "4087922044"


# --------------------------------------------------------------------------- 2xx answers that prove nothing

GONE = object()  # a change that removes the key
CANCEL_BODY: dict[str, Any] = ORDER_BODY | {"status": "CANCELED"}


def _body(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if value is GONE:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[tuple[BinanceUsdm, respx.MockRouter, dict[str, Any]]]:
    """REST mocked with respx and a fake WS API answering every request ``status: 200`` with ``script["result"]``."""
    script: dict[str, Any] = {"result": ORDER_BODY}

    def answer(frame: dict[str, Any]) -> dict[str, Any]:
        return {"id": frame.get("id"), "status": 200, "result": script["result"], "rateLimits": []}

    info = fixture_entries()["binance-naut-N2"]["response"]
    async with fake_ws_server(answer) as ws_url:
        with respx.mock(base_url=BASE, assert_all_called=False) as router:
            router.get("/fapi/v1/time").respond(json={"serverTime": 0})
            router.get("/fapi/v1/exchangeInfo").respond(json=info)
            router.get("/fapi/v1/premiumIndex").respond(json=[{"symbol": "BTCUSDT", "markPrice": "50000"}])
            venue = BinanceUsdm("key", "secret", rest_url=BASE, ws_api_url=ws_url, stream_url=None, http="httpx")
            await venue.start(RecordingSink())
            assert venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET
            try:
                yield venue, router, script
            finally:
                await venue.close()


def _answer_with(
    scripted: tuple[BinanceUsdm, respx.MockRouter, dict[str, Any]], method: str, body: dict[str, Any]
) -> BinanceUsdm:
    venue, router, script = scripted
    router.route(method=method, path="/fapi/v1/order").respond(200, content=J(body))
    script["result"] = body
    return venue


def _assert_unknown_naming(receipt: CommandReceipt, named: str) -> None:
    assert (receipt.status, receipt.safe_to_resubmit, receipt.retriable) == (UNKNOWN, False, True), receipt
    assert "failed validation" in receipt.message and named in receipt.message, receipt.message
    assert receipt.client_order_id == "cid-1"  # the reconciler looks the order up by it


# (row id, changes to the answer, what the message must name). Issue 13 item 3.
BOGUS_CREATE: list[tuple[str, dict[str, Any], str]] = [
    ("orderId null", {"orderId": None}, "orderId"),
    ("orderId object", {"orderId": {"a": 1}}, "orderId"),
    ("orderId empty", {"orderId": ""}, "orderId"),
    ("orderId true", {"orderId": True}, "orderId"),
    ("orderId zero", {"orderId": 0}, "orderId"),
    ("orderId float", {"orderId": 4087922044.5}, "orderId"),
    ("orderId not digits", {"orderId": "40879x"}, "orderId"),
    ("orderId above int64", {"orderId": 2**63}, "orderId"),
    ("status unknown", {"status": "WEIRD"}, "status"),
    ("status missing", {"status": GONE}, "status"),
    ("status REJECTED", {"status": "REJECTED"}, "REJECTED"),
    ("executedQty above quantity", {"executedQty": "5"}, "executedQty"),
    ("executedQty negative", {"executedQty": "-0.001"}, "executedQty"),
    ("executedQty NaN", {"executedQty": "NaN"}, "executedQty"),
    ("executedQty missing", {"executedQty": GONE}, "executedQty"),
    ("FILLED without the fill", {"status": "FILLED"}, "FILLED"),
    ("NEW with a fill", {"executedQty": "0.004"}, "NEW"),
    ("origQty not the quantity sent", {"origQty": "0.020"}, "origQty"),
    ("price not the price sent", {"price": "48000.00"}, "price"),
    ("symbol not the one sent", {"symbol": "ETHUSDT"}, "symbol"),
    ("clientOrderId not the one sent", {"clientOrderId": "someone-else"}, "clientOrderId"),
    ("clientOrderId missing", {"clientOrderId": GONE}, "clientOrderId"),
    ("side not the one sent", {"side": "SELL"}, "side"),
    ("type not the one sent", {"origType": "MARKET", "type": "MARKET"}, "type"),
]  # fmt: skip


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize(("row", "changes", "named"), BOGUS_CREATE, ids=[r[0] for r in BOGUS_CREATE])
async def test_a_create_answer_that_fails_the_schema_is_unknown(
    scripted: tuple[BinanceUsdm, respx.MockRouter, dict[str, Any]],
    row: str,
    changes: dict[str, Any],
    named: str,
    transport: Transport,
) -> None:
    venue = _answer_with(scripted, "POST", _body(ORDER_BODY, changes))
    receipt = await venue.submit(_order(transport=transport))
    assert receipt.transport is transport
    _assert_unknown_naming(receipt, named)
    assert receipt.order_id is None  # a bogus id is never reported


GOOD_CREATE: list[tuple[str, dict[str, Any], OrderState, Decimal]] = [
    ("as recorded", {}, OrderState.NEW, Decimal(0)),
    ("orderId a numeric string", {"orderId": "4087922044"}, OrderState.NEW, Decimal(0)),
    ("partially filled", {"status": "PARTIALLY_FILLED", "executedQty": "0.004", "avgPrice": "49000.0"},
     OrderState.PARTIALLY_FILLED, Decimal("0.004")),
    ("filled", {"status": "FILLED", "executedQty": "0.010", "avgPrice": "48999.9"}, OrderState.FILLED, Decimal("0.01")),
]  # fmt: skip


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize(("row", "changes", "state", "filled"), GOOD_CREATE, ids=[r[0] for r in GOOD_CREATE])
async def test_a_create_answer_that_meets_the_schema_is_accepted(
    scripted: tuple[BinanceUsdm, respx.MockRouter, dict[str, Any]],
    row: str,
    changes: dict[str, Any],
    state: OrderState,
    filled: Decimal,
    transport: Transport,
) -> None:
    venue = _answer_with(scripted, "POST", _body(ORDER_BODY, changes))
    receipt = await venue.submit(_order(transport=transport))
    assert (receipt.status, receipt.order_state, receipt.filled_quantity) == (CommandStatus.ACCEPTED, state, filled)
    assert (receipt.order_id, receipt.client_order_id) == ("4087922044", "cid-1")


BOGUS_CANCEL: list[tuple[str, dict[str, Any], str]] = [
    ("orderId null", {"orderId": None}, "orderId"),
    ("orderId true", {"orderId": True}, "orderId"),
    ("clientOrderId not the target", {"clientOrderId": "someone-else"}, "clientOrderId"),
    ("symbol not the one sent", {"symbol": "ETHUSDT"}, "symbol"),
    ("status unknown", {"status": "WEIRD"}, "status"),
    ("status still open", {"status": "NEW"}, "cancel"),
    ("status REJECTED", {"status": "REJECTED"}, "cancel"),
    ("executedQty above origQty", {"executedQty": "0.020"}, "executedQty"),
    ("origQty garbage", {"origQty": "lots"}, "origQty"),
]  # fmt: skip


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
@pytest.mark.parametrize(("row", "changes", "named"), BOGUS_CANCEL, ids=[r[0] for r in BOGUS_CANCEL])
async def test_a_cancel_answer_that_fails_the_schema_is_unknown(
    scripted: tuple[BinanceUsdm, respx.MockRouter, dict[str, Any]],
    row: str,
    changes: dict[str, Any],
    named: str,
    transport: Transport,
) -> None:
    venue = _answer_with(scripted, "DELETE", _body(CANCEL_BODY, changes))
    cancel = CancelRequest(venue="binance", instrument="BTC/USDT:USDT", client_order_id="cid-1", transport=transport)
    receipt = await venue.cancel(cancel, "r1")
    _assert_unknown_naming(receipt, named)
    assert receipt.request_id == "r1"


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
async def test_a_cancel_answer_must_name_the_target_order_id(
    scripted: tuple[BinanceUsdm, respx.MockRouter, dict[str, Any]], transport: Transport
) -> None:
    venue = _answer_with(scripted, "DELETE", CANCEL_BODY | {"orderId": 4087922045})
    cancel = CancelRequest(venue="binance", instrument="BTC/USDT:USDT", order_id="4087922044", transport=transport)
    receipt = await venue.cancel(cancel, "r1")
    assert receipt.status is UNKNOWN and "is not the target" in receipt.message, receipt
    assert receipt.order_id == "4087922044"  # the target, for the reconciler
    venue = _answer_with(scripted, "DELETE", CANCEL_BODY | {"orderId": "4087922044"})
    receipt = await venue.cancel(cancel, "r2")
    assert (receipt.status, receipt.order_state) == (CommandStatus.ACCEPTED, OrderState.CANCELED), receipt
    assert (receipt.order_id, receipt.client_order_id) == ("4087922044", "cid-1")


async def test_a_bogus_create_answer_is_reconciled_by_client_order_id() -> None:
    # Before the schema, this answer was ACCEPTED with order id "None" and never reconciled.
    info = fixture_entries()["binance-naut-N2"]["response"]
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/fapi/v1/time").respond(json={"serverTime": 0})
        router.get("/fapi/v1/exchangeInfo").respond(json=info)
        router.get("/fapi/v1/premiumIndex").respond(json=[{"symbol": "BTCUSDT", "markPrice": "50000"}])
        router.post("/fapi/v1/order").respond(200, content=J(ORDER_BODY | {"orderId": None}))
        held = ORDER_BODY | {"time": int(time.time() * 1000), "updateTime": int(time.time() * 1000)}
        router.get("/fapi/v1/order").respond(200, content=J(held))
        router.get("/fapi/v1/openOrders").respond(200, content=J([held]))
        router.get("/fapi/v1/allOrders").respond(200, content=J([held]))
        router.get("/fapi/v1/userTrades").respond(json=[])
        venue = BinanceUsdm("key", "secret", rest_url=BASE, ws_api_url=None, stream_url=None, http="httpx")
        async with Gateway(venues=[venue], reconcile=ReconcilePolicy(interval_seconds=60)) as gw:
            handle = await gw.submit(_order())
            assert handle.ack.receipt.status is UNKNOWN
            await gw.reconcile()
            receipt = await handle.resolved(timeout=5)
    assert (receipt.status, receipt.order_id, receipt.client_order_id) == (
        CommandStatus.ACCEPTED, "4087922044", "cid-1"
    )  # fmt: skip


async def test_cancel_of_closed_order_is_rejected(mocked: tuple[BinanceUsdm, respx.MockRouter]) -> None:
    venue, router = mocked
    router.delete("/fapi/v1/order").respond(400, content=J({"code": -2011, "msg": "Unknown order sent."}))
    receipt = await venue.cancel(
        CancelRequest(venue="binance", instrument="BTC/USDT:USDT", client_order_id="x", transport=Transport.REST), "r1"
    )
    assert (receipt.status, receipt.native_code) == (REJECTED, "-2011")


async def test_secret_never_in_repr_or_receipts(mocked: tuple[BinanceUsdm, respx.MockRouter]) -> None:
    venue, router = mocked
    router.post("/fapi/v1/order").respond(
        400, content=J({"code": -1022, "msg": "Signature for this request is not valid."})
    )
    receipt = await venue.submit(_order())
    for text in (repr(venue), str(venue), receipt.model_dump_json(), receipt.message):
        assert "secret" not in text


# --------------------------------------------------------------------------- the same rows against the simulator

SIM_ROWS: list[tuple[Fault, CommandStatus, bool]] = [
    (Fault(FaultKind.ACCEPT_THEN_TIMEOUT, delay_seconds=2.0), UNKNOWN, True),
    (Fault(FaultKind.ACCEPT_THEN_RESET), UNKNOWN, True),
    (Fault(FaultKind.ACCEPT_THEN_5XX), UNKNOWN, True),
    (Fault(FaultKind.ACCEPT_THEN_5XX, status=502), UNKNOWN, True),
    (Fault(FaultKind.REJECT_THEN_5XX), UNKNOWN, False),
    (Fault(FaultKind.UNKNOWN_CODE, code=-1007, executed=False), UNKNOWN, False),
    (Fault(FaultKind.UNKNOWN_CODE, code=-1006, executed=True), UNKNOWN, True),
    (Fault(FaultKind.REJECT_CODE, code=-2019), REJECTED, False),
    (Fault(FaultKind.RATE_LIMIT), REJECTED, False),
    (Fault(FaultKind.RATE_LIMIT, status=418), REJECTED, False),
    (Fault(FaultKind.DELAYED_VISIBILITY, delay_seconds=0.5), CommandStatus.ACCEPTED, True),
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
    await venue.start(RecordingSink())
    try:
        cid = f"c-{fault.kind.value[:10]}-{transport.value[:2]}".replace("_", "")
        sim.faults.add(Fault(**{**fault.__dict__, "venue": "binance", "client_order_id": cid}))
        receipt = await venue.submit(_order(cid, transport))
        assert receipt.status is status, receipt
        assert len(sim.truth.attempts(cid)) == 1  # sent once
        assert bool(sim.truth.orders_for(cid)) is executed
    finally:
        await venue.close()


async def test_ws_drop_after_frame_is_unknown(sim: SimExchange) -> None:
    venue = make_venue(sim, request_timeout=1.0)
    await venue.start(RecordingSink())
    try:
        sim.faults.add(Fault(FaultKind.WS_DROP, venue="binance", client_order_id="wsdrop1", executed=True))
        receipt = await venue.submit(_order("wsdrop1", Transport.WEBSOCKET))
        assert receipt.status is UNKNOWN
        assert sim.truth.order("wsdrop1") is not None
    finally:
        await venue.close()


async def test_duplicate_client_id_is_evidence_on_the_sim(venue: BinanceUsdm, sim: SimExchange) -> None:
    first = await venue.submit(_order("dup-1"))
    second = await venue.submit(_order("dup-1"))
    assert first.status is CommandStatus.ACCEPTED
    assert (second.status, second.native_code) == (UNKNOWN, "-4116")
    assert len(sim.truth.orders_for("dup-1")) == 1


async def test_connection_refused_is_safe_to_resubmit() -> None:
    venue = BinanceUsdm("k", "s", rest_url="http://127.0.0.1:9", ws_api_url=None, stream_url=None)
    from venues.base import InstrumentFilters

    venue._set_filters(
        InstrumentFilters("binance", "BTC/USDT:USDT", "BTCUSDT", Decimal("0.1"), Decimal("0.001"),
                          Decimal("0.001"), Decimal("1000"), Decimal("5"))
    )  # fmt: skip
    try:
        receipt = await venue.submit(_order())
        assert (receipt.status, receipt.safe_to_resubmit) == (REJECTED, True)
    finally:
        await venue.close()


# --------------------------------------------------------------------------- reads never decide outcomes


READ_ROWS: list[tuple[str, Any, type[Exception]]] = [
    ("refused", httpx.ConnectError("refused"), VenueUnreachable),
    ("timeout", httpx.ReadTimeout("slow"), VenueUnreachable),
    ("503", httpx.Response(503, content=b"Service Unavailable."), VenueUnreachable),
    (
        "429",
        httpx.Response(429, headers={"Retry-After": "3"}, content=J({"code": -1003, "msg": "x"})),
        VenueRateLimited,
    ),
    ("418", httpx.Response(418, content=J({"code": -1003, "msg": "banned"})), VenueRateLimited),
    ("bad request", httpx.Response(400, content=J({"code": -1102, "msg": "x"})), VenueReadError),
    ("unparsable", httpx.Response(200, content=b"[{"), VenueReadError),
]


@pytest.mark.parametrize(("row", "answer", "error"), READ_ROWS, ids=[r[0] for r in READ_ROWS])
async def test_read_failures_raise_read_errors(
    mocked: tuple[BinanceUsdm, respx.MockRouter], row: str, answer: Any, error: type[Exception]
) -> None:
    venue, router = mocked
    route = router.get("/fapi/v1/openOrders")
    if isinstance(answer, Exception):
        route.side_effect = answer
    else:
        route.return_value = answer
    with pytest.raises(error):
        await venue.open_orders("BTC/USDT:USDT")


async def test_query_not_found_is_none_and_weight_header_is_tracked(
    mocked: tuple[BinanceUsdm, respx.MockRouter],
) -> None:
    venue, router = mocked
    router.get("/fapi/v1/order").respond(
        400, headers={"X-MBX-USED-WEIGHT-1M": "42"}, content=J({"code": -2013, "msg": "Order does not exist."})
    )
    assert await venue.query_order("BTC/USDT:USDT", client_order_id="nope") is None
    assert (venue.rate_limit().used, venue.rate_limit().limit) == (42, 6000)
    assert venue.read_count() == 1


async def test_secret_never_in_logs(
    mocked: tuple[BinanceUsdm, respx.MockRouter], caplog: pytest.LogCaptureFixture
) -> None:
    venue, router = mocked
    caplog.set_level("DEBUG")
    router.post("/fapi/v1/order").side_effect = httpx.ReadTimeout("slow")
    receipt = await venue.submit(_order())
    assert "secret" not in caplog.text and "secret" not in receipt.message


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
    # A cancel is a DELETE: an HTTP client that re-sends "idempotent" requests on a dropped
    # keep-alive connection would send it twice and report the second answer (-2011, REJECTED).
    venue = make_venue(sim, request_timeout=1.0)
    try:
        await venue.start(RecordingSink())
        cid = f"cx-{fault.kind.value[:12]}-{transport.value[:2]}".replace("_", "")
        assert (await venue.submit(_order(cid, transport))).status is CommandStatus.ACCEPTED
        sim.faults.add(Fault(**{**fault.__dict__, "venue": "binance", "client_order_id": cid}))
        receipt = await venue.cancel(
            CancelRequest(venue="binance", instrument="BTC/USDT:USDT", client_order_id=cid, transport=transport), "r1"
        )
        assert receipt.status is UNKNOWN, receipt
        assert [a.operation for a in sim.truth.attempts(cid)] == ["create", "cancel"]  # sent once
    finally:
        await venue.close()
