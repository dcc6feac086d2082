"""SimExchange: one real aiohttp server on 127.0.0.1 serving both venue dialects side by side.

- ``sim.binance`` / ``sim.bybit`` (``SimVenue``): the venue's URLs, its ``MatchingEngine``
  and its request log (every REST request and WS frame, for read-count assertions).
- ``sim.faults``: the shared ``FaultPlan`` (scripted ``Fault``s and seeded campaigns).
- ``sim.truth``: ground truth across both venues: orders that really exist, every write
  attempt received per client order id, duplicates.
- Admin HTTP endpoints (``/admin/truth``, ``/admin/faults``, ``/admin/mark``,
  ``/admin/requests``) expose the same to other processes.

Credentials: one account is provisioned at start (``sim.api_key`` / ``sim.api_secret``,
generated when not given) and accepted by both dialects; ``add_account()`` makes more.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import orjson
from aiohttp import web

from venues.sim.engine import MatchingEngine, SimInstrument, SimOrder, WriteAttempt, default_instruments, now_ms
from venues.sim.faults import Fault, FaultCampaign, FaultKind, FaultPlan

__all__ = ["GroundTruth", "RequestRecord", "SimExchange", "SimVenue", "WriteResult"]

log = logging.getLogger(__name__)

VenueName = Literal["binance", "bybit"]
_DIALECTS: dict[VenueName, str] = {"binance": "venues.sim.binance", "bybit": "venues.sim.bybit"}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    venue: str
    method: str  # HTTP verb, or "WS" for a WebSocket request frame
    path: str  # URL path, or the WS method/op
    time_ms: int


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What became of one write: not executed (fault only), refused (``error``), or ``order``."""

    fault: Fault | None
    order: SimOrder | None = None
    error: Exception | None = None


@dataclass
class SimVenue:
    """One simulated venue inside the shared server."""

    name: VenueName
    engine: MatchingEngine
    faults: FaultPlan
    accounts: dict[str, str]  # api key -> secret (shared by both venues)
    base_http: str = ""
    base_ws: str = ""
    requests: list[RequestRecord] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Dialect-owned state (listen keys, rate-limit windows, sockets); opaque to the server.
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def rest_url(self) -> str:
        return self.base_http

    @property
    def ws_api_url(self) -> str:
        return self.base_ws + ("/ws-fapi/v1" if self.name == "binance" else "/v5/trade")

    @property
    def stream_url(self) -> str:
        return self.base_ws if self.name == "binance" else self.base_ws + "/v5/private"

    def secret_for(self, api_key: str | None) -> str | None:
        return None if api_key is None else self.accounts.get(api_key)

    def log(self, method: str, path: str) -> None:
        self.requests.append(RequestRecord(self.name, method, path, now_ms()))

    def reads(self, since_ms: int = 0) -> list[RequestRecord]:
        """Read requests (GET and WS status queries) logged since ``since_ms``."""
        return [
            r
            for r in self.requests
            if r.time_ms >= since_ms and (r.method == "GET" or (r.method == "WS" and "status" in r.path))
        ]

    def write(
        self,
        operation: Literal["create", "cancel"],
        transport: Literal["rest", "ws"],
        act: Callable[[], SimOrder],
        *,
        client_order_id: str | None,
        order_id: str | None,
        symbol: str | None,
        rejection: type[Exception],
        recorded_id: Callable[[SimOrder], str | None] = lambda order: order.client_order_id,
    ) -> WriteResult:
        """One create/cancel the venue received, under the fault plan, recorded in ground truth.

        Takes the write's fault (stream kinds never apply to a write); a fault that does not
        execute skips ``act``; a ``rejection`` raised by ``act`` is the venue refusing it; a
        DELAYED_VISIBILITY create is hidden from reads. Every outcome lands in ``attempts``.
        """
        fault = self.faults.take(
            self.name, operation, transport=transport, client_order_id=client_order_id, symbol=symbol
        )
        if fault is not None and fault.kind.is_stream:
            fault = None
        if fault is not None and not fault.executes:
            self.record_attempt(
                operation, transport, client_order_id=client_order_id, order_id=order_id, processed=False,
                outcome=f"fault:{fault.kind.value}", fault=fault,
            )  # fmt: skip
            return WriteResult(fault)
        try:
            order = act()
        except rejection as err:
            self.record_attempt(
                operation, transport, client_order_id=client_order_id, order_id=order_id, processed=False,
                outcome=f"rejected:{getattr(err, 'code', '?')}", fault=fault,
            )  # fmt: skip
            return WriteResult(fault, error=err)
        self.record_attempt(
            operation, transport, client_order_id=recorded_id(order), order_id=order.order_id, processed=True,
            outcome="created" if operation == "create" else "canceled", fault=fault,
        )  # fmt: skip
        if operation == "create" and fault is not None and fault.kind is FaultKind.DELAYED_VISIBILITY:
            self.engine.hide_for(order, fault.delay_seconds)
        return WriteResult(fault, order=order)

    def record_attempt(
        self,
        operation: Literal["create", "cancel"],
        transport: Literal["rest", "ws"],
        *,
        client_order_id: str | None,
        order_id: str | None,
        processed: bool,
        outcome: str,
        fault: Fault | None,
    ) -> None:
        self.engine.record_attempt(
            WriteAttempt(
                venue=self.name,
                operation=operation,
                transport=transport,
                client_order_id=client_order_id,
                order_id=order_id,
                processed=processed,
                outcome=outcome,
                fault=fault.kind.value if fault else None,
                time_ms=now_ms(),
            )
        )


class GroundTruth:
    """What really happened on both venues, whatever any client was told."""

    def __init__(self, venues: dict[str, SimVenue]):
        self._venues = venues

    def _engines(self, venue: str | None) -> list[MatchingEngine]:
        return [v.engine for name, v in self._venues.items() if venue in (None, name)]

    def orders(self, venue: str | None = None) -> list[SimOrder]:
        return [o for e in self._engines(venue) for o in e.orders.values()]

    def order(self, client_order_id: str, venue: str | None = None) -> SimOrder | None:
        found = self.orders_for(client_order_id, venue)
        return found[-1] if found else None

    def orders_for(self, client_order_id: str, venue: str | None = None) -> list[SimOrder]:
        return [o for e in self._engines(venue) for o in e.orders_for(client_order_id)]

    def attempts(self, client_order_id: str | None = None, venue: str | None = None) -> list[WriteAttempt]:
        return [
            a
            for e in self._engines(venue)
            for a in e.attempts
            if client_order_id is None or a.client_order_id == client_order_id
        ]

    def duplicates(self, venue: str | None = None) -> list[str]:
        """Client order ids for which more than one order was created (must always be empty)."""
        return sorted({cid for e in self._engines(venue) for cid in e.duplicate_client_ids()})

    def to_json(self) -> dict[str, Any]:
        return {
            name: {
                "orders": [_order_json(o) for o in v.engine.orders.values()],
                "attempts": [
                    {
                        "operation": a.operation,
                        "transport": a.transport,
                        "client_order_id": a.client_order_id,
                        "order_id": a.order_id,
                        "processed": a.processed,
                        "outcome": a.outcome,
                        "fault": a.fault,
                        "time_ms": a.time_ms,
                    }
                    for a in v.engine.attempts
                ],
                "duplicates": v.engine.duplicate_client_ids(),
            }
            for name, v in self._venues.items()
        }


def _order_json(o: SimOrder) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": o.side,
        "type": o.type,
        "qty": str(o.qty),
        "price": None if o.price is None else str(o.price),
        "status": o.status,
        "filled_qty": str(o.filled_qty),
        "avg_price": str(o.avg_price),
        "created_ms": o.created_ms,
    }


class SimExchange:
    """The simulator as an async context manager (see the module docstring)."""

    def __init__(
        self,
        seed: int | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Iterable[Fault] = (),
        campaign: FaultCampaign | None = None,
        instruments: list[SimInstrument] | None = None,
        history_lag_ms: int = 0,
    ):
        self.seed = seed
        self._rng = secrets.SystemRandom() if seed is None else __import__("random").Random(seed)
        self.api_key = api_key or self._token(32)
        self.api_secret = api_secret or self._token(48)
        self.accounts: dict[str, str] = {self.api_key: self.api_secret}
        self.faults = FaultPlan(faults, campaign)
        self.host = host
        self._port = port
        self.binance = SimVenue(
            "binance",
            MatchingEngine(
                "binance", instruments or default_instruments(), id_style="int", history_lag_ms=history_lag_ms
            ),
            self.faults,
            self.accounts,
        )
        self.bybit = SimVenue(
            "bybit",
            MatchingEngine(
                "bybit", instruments or default_instruments(), id_style="uuid", history_lag_ms=history_lag_ms
            ),
            self.faults,
            self.accounts,
        )
        self.venues: dict[str, SimVenue] = {"binance": self.binance, "bybit": self.bybit}
        self.truth = GroundTruth(self.venues)
        self._runner: web.AppRunner | None = None

    def _token(self, n: int) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        return "".join(self._rng.choice(alphabet) for _ in range(n))

    def add_account(self) -> tuple[str, str]:
        key, secret = self._token(32), self._token(48)
        self.accounts[key] = secret
        return key, secret

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    async def __aenter__(self) -> SimExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._log_middleware])
        for name, module in _DIALECTS.items():
            try:
                dialect = importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
                # A dialect not installed in this build: the other venue still serves.
                log.warning("simulator dialect %s is not available; %s is not served", module, name)
                continue
            dialect.register(app, self.venues[name])
        app.router.add_get("/admin/truth", self._admin_truth)
        app.router.add_post("/admin/faults", self._admin_faults)
        app.router.add_post("/admin/mark", self._admin_mark)
        app.router.add_get("/admin/requests", self._admin_requests)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and getattr(server, "sockets", None)
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        for venue in self.venues.values():
            venue.base_http = f"http://{self.host}:{self._port}"
            venue.base_ws = f"ws://{self.host}:{self._port}"

    async def close(self) -> None:
        for venue in self.venues.values():
            for hook in venue.on_close:
                with contextlib.suppress(Exception):
                    await hook()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ market control

    def set_mark(self, symbol: str, price: Decimal | str, venue: str | None = None) -> None:
        """Move the mark on one venue (or both); resting orders it crosses fill."""
        for name, v in self.venues.items():
            if venue in (None, name):
                v.engine.set_mark(symbol, Decimal(price))

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _log_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith("/fapi"):
            self.binance.log(request.method, path)
        elif path.startswith("/v5/") and path not in ("/v5/trade", "/v5/private"):
            self.bybit.log(request.method, path)
        return await handler(request)

    async def _admin_truth(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(self.truth.to_json()), content_type="application/json")

    async def _admin_requests(self, request: web.Request) -> web.Response:
        data = {
            name: [{"method": r.method, "path": r.path, "time_ms": r.time_ms} for r in v.requests]
            for name, v in self.venues.items()
        }
        return web.Response(body=orjson.dumps(data), content_type="application/json")

    async def _admin_faults(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            items = body if isinstance(body, list) else [body]
            faults = [Fault(**{**item, "kind": FaultKind(item["kind"])}) for item in items]
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": f"bad fault: {exc}"}, status=400)
        for fault in faults:
            self.faults.add(fault)
        return web.json_response({"added": len(faults), "pending": len(self.faults.pending)})

    async def _admin_mark(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            self.set_mark(body["symbol"], Decimal(str(body["price"])), body.get("venue"))
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            return web.json_response({"error": f"bad mark: {exc}"}, status=400)
        return web.json_response({"ok": True})


async def hold_then_drop(request: web.Request, seconds: float) -> web.StreamResponse:
    """ACCEPT_THEN_TIMEOUT: keep the client waiting, then close the connection with no answer."""
    await asyncio.sleep(seconds)
    transport = request.transport
    if transport is not None:
        transport.close()
    raise asyncio.CancelledError  # aiohttp drops the request without writing anything


def reset_connection(request: web.Request) -> web.StreamResponse:
    """ACCEPT_THEN_RESET: abort the TCP connection before any answer is written."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError
