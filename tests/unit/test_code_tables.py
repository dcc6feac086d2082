"""The code tables (venues/<venue>/code_table.py): complete against the venues' documentation, each
row classified by what it proves, and every row classified that way through the adapters (issue 21).

The documentation extract is ``tests/fixtures/venue_error_codes.json`` (provenance in its README).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
import respx

from gateway.model import CommandStatus, OrderRequest, OrderType, Side, Transport
from tests.binance.conftest import RecordingSink
from tests.binance.conftest import fixture_entries as binance_entries
from tests.bybit.conftest import fixture_entries as bybit_entries
from tests.fixtures import load_fixture
from venues.base import DuplicateEvidence, OutcomeUnknown, Rejected, VenueError
from venues.binance import BinanceUsdm
from venues.binance import codes as binance_codes
from venues.bybit import BybitLinear
from venues.bybit import codes as bybit_codes
from venues.codebook import CodeBook, CodeClass, CodeRow, CodeTable

DOCS = load_fixture("venue_error_codes")
TABLES: dict[str, tuple[CodeTable, CodeBook]] = {
    "binance": (binance_codes.TABLE, binance_codes.CODES),
    "bybit": (bybit_codes.TABLE, bybit_codes.CODES),
}
# How each venue sends a business error: Binance HTTP 400 {"code","msg"}, Bybit HTTP 200 with a retCode.
BUSINESS_STATUS = {"binance": 400, "bybit": 200}
# The definite rejections issue 21 found missing (they used to wait out the grace window and end ABSENT).
ISSUE_21_REJECTIONS = {
    "binance": [-1002, -1011, -1099, -2017, -4109, -4192, -4400, -4401, -4402, -5039, -5040, -5041],
    "bybit": [10008, 10009, 10024, 110006, 110044, 110021, 110023, 110040, 110045, 110066, 110074, 33004],
}
ALL_ROWS = [(venue, row) for venue, (table, _) in TABLES.items() for row in table.rows]
R, RL, U, E = CodeClass.REJECTED, CodeClass.RATE_LIMITED, CodeClass.UNKNOWN, CodeClass.EVIDENCE


def _documented(venue: str) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for item in DOCS[venue]["codes"]:
        if item["code"] != 0:  # Bybit's "OK"
            out.setdefault(item["code"], []).append(item)
    return out


@pytest.mark.parametrize("venue", sorted(TABLES))
def test_every_documented_code_has_a_row(venue: str) -> None:
    table, _ = TABLES[venue]
    missing = sorted(set(_documented(venue)) - {row.code for row in table.rows})
    assert not missing, f"{venue}: documented codes without a row: {missing}"


@pytest.mark.parametrize("venue", sorted(TABLES))
def test_every_row_cites_where_it_is_documented(venue: str) -> None:
    table, _ = TABLES[venue]
    documented = _documented(venue)
    page = "EC" if venue == "binance" else "ER"
    for row in table.rows:
        assert row.name and row.source, row
        if row.code in documented:
            # the citation names the page and the group or section the code is listed under
            assert row.source.startswith(f"{page} "), row
            if venue == "binance":
                assert row.name == documented[row.code][0]["name"], row
                assert row.source == f"EC {documented[row.code][0]['section'].split(' - ')[0]}", row
            else:
                for item in documented[row.code]:
                    assert item["section"].split()[0] in row.source or "rate limit" in row.source, row
        else:
            assert not row.source.startswith(f"{page} "), f"{row} cites the page, which does not list it"


def test_only_codes_that_prove_not_executed_are_rejections() -> None:
    # Spot checks of the rule: every "status unknown", internal-error, project-rule and partial-batch
    # code is UNKNOWN; a duplicate is EVIDENCE; the refusals before processing are RATE_LIMITED.
    binance, bybit = binance_codes.TABLE, bybit_codes.TABLE
    assert binance.codes(U) == {-1000, -1001, -1006, -1007, -1008, -1010, -2012, -4078, -4083}
    assert binance.codes(RL) == {-1003, -1015}
    assert binance.codes(E) == {-4115, -4116}
    assert bybit.codes(U) == {429, 10000, 10016, 10019, 40004, 3400214}
    assert bybit.codes(RL) == {10006, 10018, 10403, 10429, 20003}
    assert bybit.codes(E) == {10014, 110030, 110072}
    for table in (binance, bybit):
        for row in table.rows:
            if row.cls is not R:
                assert row.why, f"{table.venue} {row.code}: a class other than REJECTED says why"


@pytest.mark.parametrize("venue", sorted(TABLES))
def test_the_codes_issue_21_found_missing_are_rejections(venue: str) -> None:
    table, book = TABLES[venue]
    for code in ISSUE_21_REJECTIONS[venue]:
        row = table.row(code)
        assert row is not None and row.cls is R, (venue, code, row)
        err = book.write_error(BUSINESS_STATUS[venue], code, "x", what="create")
        assert type(err) is Rejected and not err.retriable, (venue, code, err)


def test_a_code_in_no_table_is_still_unknown() -> None:
    for venue, (table, book) in TABLES.items():
        assert table.row(-987654) is None
        err = book.write_error(BUSINESS_STATUS[venue], -987654, "?", what="create")
        assert type(err) is OutcomeUnknown, err


def test_a_table_refuses_a_code_twice() -> None:
    row = CodeRow(1, R, "x", "EC 10xx")
    with pytest.raises(ValueError, match="twice"):
        CodeTable("v", (row, row))


def _expect(err: VenueError, cls: CodeClass) -> bool:
    if cls is R:
        return type(err) is Rejected and not err.retriable
    if cls is RL:
        return type(err) is Rejected and err.retriable
    if cls is E:
        return type(err) is DuplicateEvidence
    return type(err) is OutcomeUnknown


@pytest.mark.parametrize(("venue", "row"), ALL_ROWS, ids=[f"{v}{r.code}" for v, r in ALL_ROWS])
def test_each_row_classifies_as_its_class(venue: str, row: CodeRow) -> None:
    _, book = TABLES[venue]
    err = book.write_error(BUSINESS_STATUS[venue], row.code, row.name, what="create")
    assert _expect(err, row.cls), (row, err)
    assert err.native_code == str(row.code)


# --------------------------------------------------------------------------- through the adapters

RECEIPT = {  # class -> (status, safe_to_resubmit, retriable)
    R: (CommandStatus.REJECTED, True, False),
    RL: (CommandStatus.REJECTED, True, True),
    U: (CommandStatus.UNKNOWN_EXECUTION, False, True),
    E: (CommandStatus.UNKNOWN_EXECUTION, False, True),
}


def _order(venue: str, cid: str) -> OrderRequest:
    return OrderRequest(
        venue=venue, instrument="BTC/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.01"),
        price=Decimal("49000"), client_order_id=cid, transport=Transport.REST,
    )  # fmt: skip


async def _every_row_through(
    venue: Any, router: respx.MockRouter, path: str, answer: Callable[[int], httpx.Response], table: CodeTable
) -> None:
    await venue.start(RecordingSink())
    try:
        route = router.post(path)
        wrong = []
        for n, row in enumerate(table.rows):
            route.return_value = answer(row.code)
            before = route.call_count
            receipt = await venue.submit(_order(venue.name, f"row-{n}"))
            got = (receipt.status, receipt.safe_to_resubmit, receipt.retriable)
            if got != RECEIPT[row.cls] or receipt.native_code != str(row.code) or route.call_count != before + 1:
                wrong.append((row.code, row.cls, got, receipt.native_code, route.call_count - before))
        assert not wrong, f"{len(wrong)} rows classified wrongly: {wrong[:10]}"
    finally:
        await venue.close()


async def test_every_binance_row_through_the_adapter() -> None:
    base = "https://fapi.test"
    with respx.mock(base_url=base, assert_all_called=False) as router:
        router.get("/fapi/v1/time").respond(json={"serverTime": 0})
        router.get("/fapi/v1/exchangeInfo").respond(json=binance_entries()["binance-naut-N2"]["response"])
        router.get("/fapi/v1/premiumIndex").respond(json=[{"symbol": "BTCUSDT", "markPrice": "50000"}])
        venue = BinanceUsdm("key", "secret", rest_url=base, ws_api_url=None, stream_url=None, http="httpx")

        def answer(code: int) -> httpx.Response:
            # Retry-After 0: a rate-limit row records no wait that would hold the next row locally
            return httpx.Response(400, headers={"Retry-After": "0"}, content=orjson.dumps({"code": code, "msg": "m"}))

        await _every_row_through(venue, router, "/fapi/v1/order", answer, binance_codes.TABLE)


async def test_every_bybit_row_through_the_adapter() -> None:
    base = "https://bybit.test"

    def env(code: int, result: Any = None) -> bytes:
        return orjson.dumps({"retCode": code, "retMsg": "m", "result": result or {}, "retExtInfo": {}, "time": 1})

    with respx.mock(base_url=base, assert_all_called=False) as router:
        router.get("/v5/market/time").respond(content=env(0, {"timeSecond": "0", "timeNano": "0"}))
        router.get("/v5/market/instruments-info").respond(json=bybit_entries()["bybit-naut-M8"]["response"])
        router.get("/v5/market/tickers").respond(content=env(0, {"list": [{"symbol": "BTCUSDT", "markPrice": "5"}]}))
        venue = BybitLinear("key", "secret", rest_url=base, ws_api_url=None, stream_url=None, http="httpx")

        def answer(code: int) -> httpx.Response:
            return httpx.Response(200, headers={"Retry-After": "0"}, content=env(code))

        await _every_row_through(venue, router, "/v5/order/create", answer, bybit_codes.TABLE)
