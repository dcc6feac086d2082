"""SimExchange: one real aiohttp server on 127.0.0.1 serving both venue dialects side by side.

- ``sim.binance`` / ``sim.bybit`` (``SimVenue``, ``venues/sim/venue.py``): the venue's URLs, its
  ``MatchingEngine``, its typed settings (``state``) and its request log (every REST request and
  WS frame, for read-count assertions). Each is built from its dialect package's ``DIALECT``;
  nothing here depends on which venue it is.
- ``sim.faults``: the shared ``FaultPlan`` (scripted ``Fault``s and seeded campaigns).
- ``sim.truth``: ground truth across both venues: orders that really exist, every write
  attempt received per client order id, duplicates.
- ``sim.unserved``: every request for a path or method no dialect serves, answered in the venue's
  JSON error shape (``venues/sim/unserved.py``).
- Account events (``venues/sim/account.py``): ``set_position`` (no event: a position held before
  a gateway starts, or one changed behind its back), ``external_trade`` (another client's order),
  ``liquidate`` (the venue's own order, liquidation or ADL), ``set_hedge_mode``; ``set_mark`` also
  pushes the new mark on the public mark streams (``venues/sim/market.py``).
- Admin HTTP endpoints (``/admin/truth``, ``/admin/faults``, ``/admin/mark``,
  ``/admin/requests``, which also lists ``unserved``, and the account events' ``/admin/position``,
  ``/admin/external_trade``, ``/admin/liquidate``, ``/admin/hedge_mode``) expose the same to other
  processes.

Credentials: one account is provisioned at start (``sim.api_key`` / ``sim.api_secret``,
generated when not given) and accepted by both dialects; ``add_account()`` makes more.
"""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, Literal

import orjson
from aiohttp import web

from venues.sim import account as sim_account
from venues.sim.binance import DIALECT as BINANCE
from venues.sim.binance import BinanceState
from venues.sim.bybit import DIALECT as BYBIT
from venues.sim.bybit import BybitState
from venues.sim.engine import MatchingEngine, SimInstrument, SimOrder, WriteAttempt, default_instruments
from venues.sim.faults import Fault, FaultCampaign, FaultKind, FaultPlan
from venues.sim.partition import Partition
from venues.sim.unserved import unserved_middleware
from venues.sim.venue import RequestRecord, SimVenue, WriteResult

__all__ = ["GroundTruth", "RequestRecord", "SimExchange", "SimVenue", "WriteResult"]


class GroundTruth:
    """What really happened on both venues, whatever any client was told."""

    def __init__(self, venues: dict[str, SimVenue[Any]]):
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
        self._rng = secrets.SystemRandom() if seed is None else random.Random(seed)
        self.api_key = api_key or self._token(32)
        self.api_secret = api_secret or self._token(48)
        self.accounts: dict[str, str] = {self.api_key: self.api_secret}
        self.faults = FaultPlan(faults, campaign)
        self.host = host
        self._port = port
        self.binance: SimVenue[BinanceState] = SimVenue.open(
            BINANCE, instruments or default_instruments(), self.faults, self.accounts, history_lag_ms=history_lag_ms
        )
        self.bybit: SimVenue[BybitState] = SimVenue.open(
            BYBIT, instruments or default_instruments(), self.faults, self.accounts, history_lag_ms=history_lag_ms
        )
        self.venues: dict[str, SimVenue[Any]] = {v.name: v for v in (self.binance, self.bybit)}
        self.truth = GroundTruth(self.venues)
        self._partition = Partition(self.binance, self.bybit)
        # every request for a path or method no dialect serves (venues/sim/unserved.py)
        self.unserved: list[RequestRecord] = []
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
        app = web.Application(
            middlewares=[self._partition.middleware, unserved_middleware(self.unserved), self._log_middleware]
        )
        for venue in self.venues.values():
            venue.mount(app)
        app.router.add_get("/admin/truth", self._admin_truth)
        app.router.add_post("/admin/faults", self._admin_faults)
        app.router.add_post("/admin/mark", self._admin_mark)
        app.router.add_get("/admin/requests", self._admin_requests)
        sim_account.admin_routes(app, self)  # outside trades, liquidations, positions, hedge mode
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
                v.mark_moved(symbol)

    # ------------------------------------------------------------------ account events (venues/sim/account.py)

    def _venue(self, venue: str) -> SimVenue[Any]:
        found = self.venues.get(venue)
        if found is None:
            raise KeyError(f"no simulated venue {venue!r}: {sorted(self.venues)}")
        return found

    def external_trade(
        self,
        venue: str,
        symbol: str,
        side: Literal["BUY", "SELL"],
        qty: Decimal | str,
        price: Decimal | str | None = None,
        *,
        client_order_id: str | None = None,
        account: str | None = None,
    ) -> SimOrder:
        """Another client of the account trades: MARKET (no price) fills at the mark, LIMIT rests or crosses."""
        return sim_account.external_trade(
            self._venue(venue).engine, account or self.api_key, symbol, side, Decimal(qty),
            None if price is None else Decimal(price), client_order_id=client_order_id,
        )  # fmt: skip

    def liquidate(
        self,
        venue: str,
        symbol: str,
        *,
        qty: Decimal | str | None = None,
        price: Decimal | str | None = None,
        adl: bool = False,
        account: str | None = None,
    ) -> SimOrder:
        """The venue closes (part of) the position with its own order, shown as the venue shows a liquidation."""
        return sim_account.liquidate(
            self._venue(venue).engine, account or self.api_key, symbol,
            qty=None if qty is None else Decimal(qty), price=None if price is None else Decimal(price), adl=adl,
            bybit_style=venue == "bybit",
        )  # fmt: skip

    def set_position(
        self,
        venue: str,
        symbol: str,
        qty: Decimal | str,
        entry_price: Decimal | str | None = None,
        *,
        account: str | None = None,
    ) -> None:
        """Set a position with no event at all: one held before a gateway starts, or a change behind its back."""
        sim_account.set_position(
            self._venue(venue).engine, account or self.api_key, symbol, Decimal(qty),
            None if entry_price is None else Decimal(entry_price),
        )  # fmt: skip

    def set_hedge_mode(self, venue: str, hedge: bool = True) -> None:
        """Answer as a hedge-mode account (position mode reads, position rows) from now on."""
        self._venue(venue).state.hedge_mode = hedge

    async def partition(self, seconds: float) -> int:
        """Cut the network to every client for ``seconds`` (``venues/sim/partition.py``); returns sockets cut."""
        return await self._partition.start(seconds)

    def heal(self) -> None:
        """End a partition now."""
        self._partition.heal()

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _log_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        for venue in self.venues.values():
            if venue.dialect.owns_path(request.path):
                venue.log(request.method, request.path)
                break
        return await handler(request)

    async def _admin_truth(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(self.truth.to_json()), content_type="application/json")

    async def _admin_requests(self, request: web.Request) -> web.Response:
        data: dict[str, Any] = {
            name: [{"method": r.method, "path": r.path, "time_ms": r.time_ms} for r in v.requests]
            for name, v in self.venues.items()
        }
        data["unserved"] = [
            {"venue": r.venue, "method": r.method, "path": r.path, "time_ms": r.time_ms} for r in self.unserved
        ]
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
