"""The simulator's Binance USD-M dialect: REST (``/fapi``), WebSocket API (``/ws-fapi/v1``) and user data streams.

``register(app, venue)`` mounts everything on the shared aiohttp app; ``DIALECT`` is what the
shared server knows of this venue. The dialect translates
Binance requests into ``MatchingEngine`` calls and engine state into Binance payloads, with
the venue's JSON types (numbers for ``orderId``/``time``/``updateTime``, strings for every
decimal), error codes and headers, as written down in ``shared/venues/binance-usdm.md``:

- signing (§2): ``totalParams`` = raw query string + raw form body (signature removed), hex
  HMAC-SHA256, ``X-MBX-APIKEY``; ``-2014``/``-2015`` (HTTP 401), ``-1022``, ``-1021``, recvWindow.
- limits (§3, §4): per-IP request weight per calendar minute (``state.weight_limit``,
  default 2400) reported in ``X-MBX-USED-WEIGHT-1M`` on every response; past it ``429 -1003``,
  and a client that keeps going past ``ban_after_429`` refusals is banned (``418``) for
  ``ban_seconds``. Per-account order counts in ``X-MBX-ORDER-COUNT-10S``/``-1M``; ``-1015`` is
  enforced only when ``state.enforce_order_limits`` is true (benchmarks place
  thousands of orders on loopback).
- WebSocket API (§6): ``order.place``/``order.cancel``/``order.status`` (+ ``userDataStream.*``),
  HMAC over the sorted params, ``rateLimits`` in every answer.
- user data (§1, §7): ``/ws/<key>``, ``/private/ws?listenKey=``, ``/private/ws/<key>``,
  ``/private/stream`` + SUBSCRIBE (and ``/stream?streams=``) share one listenKey registry;
  ``ORDER_TRADE_UPDATE`` for every engine event of the account, ``ACCOUNT_UPDATE`` on fills,
  ``listenKeyExpired`` when a key lapses (TTL ``state.listen_key_ttl_seconds``).
- faults: every write asks ``venue.take_fault("create"|"cancel", ...)``, every order read
  ``"query"``, every user-stream event ``"stream"``; each ``FaultKind`` does what the table in
  ``venues/sim/faults.py`` says (answers: ``fault_wire.py``), and every write lands in ground truth.

Modules: ``state`` (settings), ``errors`` (codes, parameter readers), ``signing``, ``limits``,
``payloads`` (JSON shapes), ``orders`` (operations shared by REST and WS), ``rest``, ``ws_api``,
``streams`` (listen keys, user-data sockets), ``fault_wire``, ``dialect`` (the parts wired together),
``safety`` (``DELETE /fapi/v1/allOpenOrders``, ``POST /fapi/v1/countdownCancelAll``).

``bands`` (``PERCENT_PRICE`` against the mark: ``-4016`` / ``-4024``), ``market`` (market data, account
settings, and the spot reads clients make on their way in).

Hedge mode is a setting for the position-mode read only (``state.hedge_mode``: ``GET
/fapi/v1/positionSide/dual`` answers ``dualSidePosition: true``, so a gateway refuses to start;
``account.py`` serves it with the mark-price streams). Deliberately left out: hedge-mode orders
(``positionSide`` LONG/SHORT answers ``-4061``), algo orders
(``-4120``).
"""

from __future__ import annotations

from aiohttp import web

from venues.sim.binance import account, market, safety
from venues.sim.binance.dialect import BinanceDialect
from venues.sim.binance.rest import routes
from venues.sim.binance.state import BinanceState
from venues.sim.binance.ws_api import ws_api
from venues.sim.venue import DialectSpec, SimVenue

__all__ = ["DIALECT", "BinanceDialect", "BinanceState", "register"]


def register(app: web.Application, venue: SimVenue[BinanceState]) -> None:
    """Mount the Binance USD-M dialect for ``venue`` on the shared simulator app."""
    d = BinanceDialect(venue)
    routes(d, app, ws_api)
    account.routes(d, app)
    safety.routes(d.switches, app)
    market.routes(d, app)


DIALECT: DialectSpec[BinanceState] = DialectSpec(
    name="binance",
    id_style="int",
    ws_api_path="/ws-fapi/v1",
    stream_path="",  # user-data sockets hang off the root: /ws/<listenKey>, /private/..., /stream
    unknown_codes=(-1007, -1006, -1000),
    owns_path=lambda path: path.startswith("/fapi"),
    new_state=BinanceState,
    register=register,
)
