"""What the simulator answers for a path or method it does not serve, and the record of each such request.

The venues answer an unknown route in their own JSON error shape, not aiohttp's ``text/plain``
"404: Not Found" (a client that parses every answer, like python-binance, otherwise reports
"Invalid JSON" instead of the real cause):

- Bybit (``/v5/...`` and its older prefixes): HTTP 404 with the envelope ``retCode 10017``
  "Route not found." (docs/venues/bybit-v5.md §8; that the envelope rides on the 404 is unconfirmed).
- Binance (everything else: ``/fapi``, ``/sapi``, ``/api``, ``/dapi``, ...): HTTP 404 ``{"code": -1099,
  "msg": "Not found, unauthenticated, or unauthorized."}`` (EC 10xx; the code for an unknown path is
  unconfirmed).

A method the route does not take (aiohttp's 405) is answered the same way. Every such request
lands in ``SimExchange.unserved``, so a test can assert a client called nothing the simulator
does not serve.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from venues.sim.engine import now_ms
from venues.sim.venue import RequestRecord

__all__ = ["BYBIT_PREFIXES", "add_missing", "not_found", "unserved_middleware"]

BYBIT_PREFIXES = ("/v5/", "/v3/", "/v2/", "/spot/", "/contract/", "/unified/", "/derivatives/", "/asset/", "/user/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_missing(app: web.Application, method: str, path: str, handler: Handler) -> bool:
    """Mount ``handler`` unless another module already serves ``method path``; True when it was added."""
    if any(route.method == method and route.resource is not None and route.resource.canonical == path
           for route in app.router.routes()):  # fmt: skip
        return False
    app.router.add_route(method, path, handler)
    return True


def _venue(path: str) -> str:
    return "bybit" if path.startswith(BYBIT_PREFIXES) else "binance"


def not_found(request: web.Request) -> web.Response:
    """The owning venue's answer to a route it does not have."""
    if _venue(request.path) == "bybit":
        body = {"retCode": 10017, "retMsg": "Route not found.", "result": {}, "retExtInfo": {}, "time": now_ms()}
    else:
        body = {"code": -1099, "msg": "Not found, unauthenticated, or unauthorized."}
    return web.Response(status=404, body=orjson.dumps(body), content_type="application/json")


def unserved_middleware(record: list[RequestRecord]) -> Middleware:
    """An aiohttp middleware: the router's 404/405 become the venue's JSON, each one appended to ``record``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            if request.path.startswith("/admin/"):
                raise
            record.append(RequestRecord(_venue(request.path), request.method, request.path, now_ms()))
            return not_found(request)

    return middleware
