"""The simulator's Bybit v5 dialect (``category=linear``): REST ``/v5/...``, trade WebSocket and private stream.

``register(app, venue)`` mounts everything on the shared aiohttp app; ``DIALECT`` is what the
shared server knows of this venue. The dialect translates
Bybit requests into ``MatchingEngine`` calls and engine state into Bybit payloads, with the
venue's JSON types (``retCode``/``time``/``positionIdx``/``seq`` numbers, every decimal and every
``createdTime``/``updatedTime``/``execTime`` a string), retCodes and headers, as written down in
``shared/venues/bybit-v5.md``:

- envelope (§3): every REST answer is ``{"retCode", "retMsg", "result", "retExtInfo", "time"}``
  on HTTP 200, business errors included, with ``X-Bapi-Limit``, ``X-Bapi-Limit-Status`` and
  ``X-Bapi-Limit-Reset-Timestamp``. Per-account per-endpoint 1-second windows (create/cancel
  10/s, reads 50/s) are counted always and enforced (``10006 Too many visits!``) only when
  ``state.enforce_rate_limits`` is true (tests and benchmarks place thousands of orders).
- signing (§2): ``timestamp + apiKey + recvWindow + (raw query string | raw body bytes)``, lowercase
  hex HMAC-SHA256 (``sign_rest``); ``10003`` missing/unknown key, ``10004`` bad sign, ``10002``
  outside ``server - recvWindow <= ts < server + 1000``.
- REST (§4): market time, instruments-info, tickers (mark prices), order create/cancel
  (acks only), order realtime/history, execution list; opaque cursors, newest first.
- trade WebSocket ``/v5/trade`` (§5): ``auth`` / ``order.create`` / ``order.cancel`` / ``order.amend`` /
  ``order.create-batch`` / ``order.cancel-batch`` / ``ping``, ``reqId`` echo, ``20006`` for a ``reqId``
  still in flight on the connection.
- amend and batches (wave2 §2-§3, ``manage``): ``/v5/order/amend`` (an ack; the change shows on the
  ``order`` topic), ``/v5/order/create-batch`` and ``/v5/order/cancel-batch`` (at most 20 items,
  ``result.list`` + ``retExtInfo.list`` per item).
- private stream ``/v5/private`` (§6): ``auth`` / ``subscribe`` (``order``, ``execution`` and their
  ``.linear`` forms) / ``ping``; an ``order`` message for every engine event of the account and an
  ``execution`` message for every fill, rendered at event time.
- faults: every write asks ``venue.take_fault("create"|"cancel", ...)``, every order read
  ``"query"``, every private-stream event ``"stream"``; each ``FaultKind`` does what the table in
  ``venues/sim/faults.py`` says (answers: ``fault_wire.py``), and every write lands in ground truth.

Modules: ``state`` (settings), ``errors`` (retCodes, parameter readers), ``signing``, ``limits``,
``payloads`` (envelope and JSON shapes), ``orders`` (operations shared by REST and WS), ``rest``,
``ws_api`` (trade socket), ``streams`` (private stream), ``fault_wire``, ``dialect`` (the parts wired),
``safety`` (``POST /v5/order/cancel-all``, disconnect cancel-all: DCP window, ``dcp.future``, query).

Choices where the venue facts are silent (all documented in ``shared/venues/bybit-v5.md`` terms):

- A PostOnly order that would take is acknowledged and then canceled on the stream with
  ``cancelType: UNKNOWN``, ``rejectReason: EC_PostOnlyWillTakeLiquidity`` (wave2 §6), no execution.
- A cancel of an order that exists but is no longer open answers ``110001`` (what linear answers
  in practice), not ``110008``/``110010``.
- ``orderLinkId`` uniqueness is over every order the account ever created (``110072``). A create
  without ``orderLinkId`` is shown with ``orderLinkId: ""``; internally the engine gets a private
  ``~auto-...`` id (never valid on the wire) so two such orders don't collide.
- Trade-WS: a ``reqId`` is "in flight" from receipt until its answer is sent; a request that is
  never answered (``ACCEPT_THEN_TIMEOUT``) keeps its ``reqId`` in flight for the connection's life.
  An unauthenticated order request answers ``10003``; an unknown op ``10404``; the header
  ``X-BAPI-TIMESTAMP`` is required (``state.ws_require_timestamp``).
- History hides fully cancelled/expired orders without fills after 24 h
  (``state.history_cancel_retention_ms``); realtime ``openOnly=1`` shows the 500 most
  recent closed orders. Engine ``EXPIRED`` (IOC/FOK/market remainder) shows as ``Cancelled``.

Deliberately left out: hedge mode (``positionIdx`` 1/2 answer ``10001``), conditional/TP-SL orders,
amend-batch (``10017``), spot/inverse/option categories.
"""

from __future__ import annotations

from aiohttp import web

from venues.sim.bybit import account, market, safety
from venues.sim.bybit.dialect import BybitDialect
from venues.sim.bybit.rest import routes
from venues.sim.bybit.signing import sign, sign_rest, sign_ws_auth
from venues.sim.bybit.state import BybitState
from venues.sim.bybit.ws_api import trade_ws
from venues.sim.venue import DialectSpec, SimVenue

__all__ = ["DIALECT", "BybitDialect", "BybitState", "register", "sign", "sign_rest", "sign_ws_auth"]


def register(app: web.Application, venue: SimVenue[BybitState]) -> None:
    """Mount the Bybit v5 linear dialect for ``venue`` on the shared simulator app."""
    d = BybitDialect(venue)
    routes(d, app, trade_ws)
    account.routes(d, app)
    d.switches = safety.BybitSwitches(d)
    safety.routes(d.switches, app)
    market.routes(d, app)


def _owns_path(path: str) -> bool:
    # The WebSocket handshakes (trade, private, public) log their frames themselves, not the upgrade request.
    return path.startswith("/v5/") and path not in ("/v5/trade", "/v5/private", "/v5/public/linear")


DIALECT: DialectSpec[BybitState] = DialectSpec(
    name="bybit",
    id_style="uuid",
    ws_api_path="/v5/trade",
    stream_path="/v5/private",
    unknown_codes=(10000, 10016),
    owns_path=_owns_path,
    new_state=BybitState,
    register=register,
    post_only_cancels=True,
)
