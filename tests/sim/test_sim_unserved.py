"""Answers the venues give that clients parse before anything else (issue 21): an unknown route is the
venue's JSON error, recorded in ``sim.unserved``; a Bybit request without an API key is HTTP 401."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from venues.sim import SimExchange


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(seed=3) as s:
        yield s


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/fapi/v1/noSuchThing", {"code": -1099, "msg": "Not found, unauthenticated, or unauthorized."}),
        ("GET", "/sapi/v1/noSuchThing", {"code": -1099, "msg": "Not found, unauthenticated, or unauthorized."}),
        ("PATCH", "/fapi/v1/order", {"code": -1099, "msg": "Not found, unauthenticated, or unauthorized."}),
        ("GET", "/v5/no/such-thing", {"retCode": 10017, "retMsg": "Route not found."}),
        ("DELETE", "/v5/order/create", {"retCode": 10017, "retMsg": "Route not found."}),
    ],
)
async def test_an_unknown_route_is_the_venues_json_and_is_recorded(
    sim: SimExchange, method: str, path: str, body: dict[str, object]
) -> None:
    async with aiohttp.ClientSession() as s, s.request(method, sim.base_url + path) as r:
        assert r.status == 404 and r.content_type == "application/json"
        answer = await r.json()
    assert {k: answer[k] for k in body} == body
    assert [(u.method, u.path) for u in sim.unserved] == [(method, path)]
    async with aiohttp.ClientSession() as s, s.get(sim.base_url + "/admin/requests") as r:
        listed = (await r.json())["unserved"]
    assert [(u["venue"], u["method"], u["path"]) for u in listed] == [
        ("bybit" if path.startswith("/v5") else "binance", method, path)
    ]


async def test_served_routes_and_unknown_admin_paths_are_not_recorded(sim: SimExchange) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(sim.base_url + "/fapi/v1/time") as r:
            assert r.status == 200
        async with s.get(sim.base_url + "/v5/market/time") as r:
            assert r.status == 200
        async with s.get(sim.base_url + "/admin/nothing") as r:
            assert r.status == 404
    assert sim.unserved == []


async def test_a_bybit_request_without_an_api_key_is_http_401(sim: SimExchange) -> None:
    body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01",
            "price": "40000", "orderLinkId": "no-key"}  # fmt: skip
    async with aiohttp.ClientSession() as s, s.post(sim.base_url + "/v5/order/create", json=body) as r:
        assert r.status == 401
    assert sim.truth.attempts() == [] and sim.truth.orders_for("no-key") == []
