"""``AdapterBase``: every flow the venue adapters share, so a dialect supplies only its wire work.

Owned here: construction (keys, URLs, timeouts, recv window, the dialect's defaults), the clock
offset, loading filters and marks at start, validation, transport choice, the write template
(one per operation and transport: check, build, send once, judge the answer, make the receipt),
read budgets, the history and trade reads' parsing and de-duplication, the sockets' lifecycle.

A dialect (``venues/binance``, ``venues/bybit``) subclasses it and supplies, besides its
``codes``, ``schemas`` and ``signing`` modules:

- ``DIALECT``: name, URLs and history lag by default, the write routes, history/trade paths
  and parsers, how its write answer is named in messages;
- ``_build`` (its REST client, ``self.rest``), ``_make_order_socket`` / ``_make_user_stream``
  and ``_order_socket`` / ``_user_stream`` (where it keeps them);
- ``_server_time_ms``, ``_instrument_filters``, ``_mark_prices``: the market reads at start;
- ``_check_client_order_id``, ``_check_order_id``, ``_order_params``, ``_cancel_params``,
  ``_ws_params`` and ``_write_answer`` (its write-answer schema);
- ``query_order``, ``open_orders`` and ``_window`` (how it pages a time window).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from gateway.logs import mask_secret
from gateway.model import (
    AmendRequest,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    OrderReport,
    OrderRequest,
    TradeReport,
    Transport,
    utc_now,
)
from venues.account import AccountMixin
from venues.base import (
    InstrumentFilters,
    InvalidOrderError,
    InvalidReadRequest,
    NotSent,
    OutcomeUnknown,
    RateLimitState,
    Rejected,
    UnknownInstrumentError,
    VenueError,
    VenueEventSink,
    VenueRateLimited,
    VenueReadError,
    VenueUnreachable,
    check_amount,
    receipt_accepted,
    receipt_for_error,
)
from venues.common import ParseError, WriteAnswer, epoch_ms, hmac_sha256_hex
from venues.dialect import DEFAULT, Dialect, DialectDefault, UserStream, VenueRest
from venues.manage import ManageMixin
from venues.marks import MarkBook, MarkFeed
from venues.safety import SafetyMixin
from venues.transport import HttpKind, RestClient, make_rest_client
from venues.websocket import OrderSocket

__all__ = ["AdapterBase"]

T = TypeVar("T")
# A venue clock within this of ours is left alone: correcting a few ms of jitter only adds noise.
CLOCK_TOLERANCE_MS = 250


class AdapterBase(AccountMixin, ManageMixin, SafetyMixin, ABC):
    """Shared half of every adapter; see the module docstring. Never prints its secret."""

    DIALECT: ClassVar[Dialect]
    rest: VenueRest

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        rest_url: str | DialectDefault = DEFAULT,
        ws_api_url: str | DialectDefault | None = DEFAULT,
        stream_url: str | DialectDefault | None = DEFAULT,
        request_timeout: float = 10.0,
        recv_window_ms: int = 5000,
        http: HttpKind = "aiohttp",
        name: str | DialectDefault = DEFAULT,
        history_lag_seconds: float | DialectDefault = DEFAULT,
        connect_wait_seconds: float = 5.0,
        market_stream_url: str | DialectDefault | None = DEFAULT,
        dead_mans_switch_seconds: float | None = None,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("api_key and api_secret are required")
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be > 0, got {request_timeout}")
        if not 0 < recv_window_ms <= 60_000:
            raise ValueError(f"recv_window_ms must be in (0, 60000], got {recv_window_ms}")
        spec = self.DIALECT
        self.name = spec.name if name is DEFAULT else name
        self.api_key = api_key
        self._secret = api_secret.encode()
        mask_secret(api_key, api_secret)  # never in a formatted log line (gateway/logs.py)
        self.rest_url = (spec.rest_url if rest_url is DEFAULT else rest_url).rstrip("/")
        self.ws_api_url = spec.ws_api_url if ws_api_url is DEFAULT else ws_api_url
        self.stream_url = spec.stream_url if stream_url is DEFAULT else stream_url
        # The public mark stream: by default on the user stream's host (venues/marks.py); None turns it off.
        if market_stream_url is DEFAULT:
            derived = self.stream_url and spec.mark_stream and spec.mark_stream.url(self.stream_url)
            self.market_stream_url: str | None = derived or None
        else:
            self.market_stream_url = market_stream_url
        self.request_timeout = request_timeout
        self.recv_window_ms = recv_window_ms
        self.history_lag_seconds = spec.history_lag_seconds if history_lag_seconds is DEFAULT else history_lag_seconds
        self._http_kind = http
        self._rest: RestClient = make_rest_client(http, request_timeout)
        self._filters: dict[str, InstrumentFilters] = {}
        self._native_to_unified: dict[str, str] = {}
        self.marks = MarkBook()
        self.mark_feed: MarkFeed | None = None
        self._rate = RateLimitState()
        self._reads = 0
        self._sink: VenueEventSink | None = None
        self._clock_offset_ms = 0
        self._connect_wait = min(connect_wait_seconds, request_timeout)
        self._build()
        self._init_safety(dead_mans_switch_seconds)  # cancel-all, the dead-man's switch (venues/safety.py)

    def __repr__(self) -> str:
        key = self.api_key[:4] + "…" if len(self.api_key) > 4 else "…"
        return f"{type(self).__name__}(name={self.name!r}, rest_url={self.rest_url!r}, api_key={key!r})"

    @abstractmethod
    def _build(self) -> None:
        """Create the dialect's REST client as ``self.rest`` (and anything else built once)."""

    # ------------------------------------------------------------------ signing and clock

    def _sign(self, payload: str | bytes) -> str:
        """The one place the secret is used."""
        return hmac_sha256_hex(self._secret, payload.encode() if isinstance(payload, str) else payload)

    def _now_ms(self) -> int:
        """Our clock corrected by the measured venue offset: what request timestamps carry."""
        return epoch_ms() + self._clock_offset_ms

    async def _sync_clock(self) -> None:
        """Offset = venue time - the midpoint of our read; applied only beyond ``CLOCK_TOLERANCE_MS``."""
        t0 = epoch_ms()
        server_ms = await self._server_time_ms()
        t1 = epoch_ms()
        if server_ms is not None:
            offset = server_ms - (t0 + t1) // 2
            self._clock_offset_ms = offset if abs(offset) > CLOCK_TOLERANCE_MS else 0

    @abstractmethod
    async def _server_time_ms(self) -> int | None:
        """The venue's clock in ms (an unsigned read), None when its answer has none."""

    # ------------------------------------------------------------------ filters & instruments

    def _set_filters(self, filters: InstrumentFilters) -> None:
        self._filters[filters.instrument] = filters
        self._native_to_unified[filters.native_symbol] = filters.instrument

    def filters(self, instrument: str) -> InstrumentFilters:
        found = self._filters.get(instrument)
        if found is None:
            raise UnknownInstrumentError(instrument, self.name)
        return found

    def native(self, instrument: str) -> str:
        return self.filters(instrument).native_symbol

    def unified(self, native_symbol: str) -> str:
        """Unified id for a native symbol; unknown symbols map to a best-effort id, never raise."""
        return self._native_to_unified.get(native_symbol, native_symbol)

    def reference_price(self, instrument: str) -> Decimal | None:
        return self.marks.price(instrument)

    def reference_age(self, instrument: str) -> float | None:
        return self.marks.age(instrument)

    def mark(self, instrument: str, price: Decimal) -> None:
        """Update the reference price used for MARKET notional checks."""
        self.marks.set(instrument, price)

    def watch_reference(self, instrument: str) -> None:
        """Keep ``instrument``'s mark live on the public mark stream (once; cheap when already watched)."""
        if self.mark_feed is not None:
            self.mark_feed.watch(instrument)

    async def refresh_reference(self, instrument: str) -> Decimal | None:
        """The REST fallback: read the marks now (one unsigned read); ``instrument``'s mark after it."""
        await self._before_read(10)
        for symbol, price in await self._mark_prices():
            found = self._native_to_unified.get(symbol)
            if found is not None:
                self.marks.set(found, price)
        return self.marks.price(instrument)

    async def _load_markets(self) -> None:
        """Clock offset, every instrument's filters, then the marks of the listed ones."""
        await self._sync_clock()
        for filters in await self._instrument_filters():
            self._set_filters(filters)
        for symbol, price in await self._mark_prices():
            instrument = self._native_to_unified.get(symbol)
            if instrument is not None:
                self.marks.set(instrument, price)

    @abstractmethod
    async def _instrument_filters(self) -> list[InstrumentFilters]:
        """Every tradable instrument's filters (unsigned reads, paged as the venue needs)."""

    @abstractmethod
    async def _mark_prices(self) -> Iterable[tuple[str, Decimal]]:
        """``(native symbol, mark price)`` pairs; unreadable items are left out."""

    # ------------------------------------------------------------------ validation

    @abstractmethod
    def _check_client_order_id(self, client_order_id: str) -> None:
        """Raise ``InvalidOrderError`` unless the id is valid for this venue (each dialect states its rule)."""

    @abstractmethod
    def _check_order_id(self, order_id: str) -> None:
        """Raise ``InvalidOrderError`` unless the venue order id has this venue's shape."""

    def validate(self, request: OrderRequest) -> None:
        filters = self.filters(request.instrument)
        if request.client_order_id is not None:
            self._check_client_order_id(request.client_order_id)
        filters.check(request, self.reference_price(request.instrument))

    def _check_ids(self, client_order_id: str | None, order_id: str | None) -> None:
        """Both ids, when given, valid for this venue; at least one given."""
        if client_order_id is None and order_id is None:
            raise InvalidOrderError("order_id", "client_order_id or order_id is required", venue=self.name)
        if client_order_id is not None:
            self._check_client_order_id(client_order_id)
        if order_id is not None:
            self._check_order_id(order_id)

    def validate_cancel(self, request: CancelRequest) -> None:
        """The instrument is listed here and each id has this venue's shape (before anything is sent)."""
        self.filters(request.instrument)
        self._check_ids(request.client_order_id, request.order_id)

    def _check_read_ids(self, client_order_id: str | None, order_id: str | None) -> None:
        """``_check_ids`` for reads, which raise ``VenueReadError`` subclasses only."""
        try:
            self._check_ids(client_order_id, order_id)
        except InvalidOrderError as exc:
            raise InvalidReadRequest(exc.field, exc.rule, venue=self.name) from exc

    @staticmethod
    def _client_id(request: OrderRequest) -> str:
        if request.client_order_id is None:
            raise InvalidOrderError("client_order_id", "must be set before sending (the gateway assigns one)")
        return request.client_order_id

    def _check_order(self, request: OrderRequest) -> None:
        """Every value of a create checked for this venue before it is built into a request."""
        self._check_client_order_id(self._client_id(request))
        where = {"venue": self.name, "instrument": request.instrument}
        check_amount("quantity", request.quantity, **where)
        if request.price is not None:
            check_amount("price", request.price, **where)

    # ------------------------------------------------------------------ transport choice

    def _order_socket(self) -> OrderSocket | None:
        """The order-entry socket, once ``start`` made one."""
        return None

    def _ws_up(self) -> bool:
        socket = self._order_socket()
        return socket is not None and socket.is_up

    def transport_for(self, requested: Transport) -> Transport:
        if requested is Transport.AUTO:
            return Transport.WEBSOCKET if self._ws_up() else Transport.REST
        return requested

    # ------------------------------------------------------------------ the write path

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        if request.client_order_id is None:
            raise InvalidOrderError("client_order_id", "must be set before sending (the gateway assigns one)")
        self._note_traded(request.instrument)
        # Its instrument's dead-man's switch is armed first (no coroutine at all when there is none).
        refusal = None if self.switch is None else await self._guard_order(request)
        if refusal is not None:
            return receipt_for_error(
                request,
                refusal,
                operation=CommandOperation.CREATE_ORDER,
                client_order_id=request.client_order_id,
                request_id=None,
                transport=self.transport_for(request.transport),
                sent_at=utc_now(),
            )
        return await self._send(request, CommandOperation.CREATE_ORDER, None)

    async def cancel(self, request: CancelRequest, request_id: str) -> CommandReceipt:
        return await self._send(request, CommandOperation.CANCEL_ORDER, request_id)

    async def _send(
        self, request: OrderRequest | CancelRequest, operation: CommandOperation, request_id: str | None
    ) -> CommandReceipt:
        """A receipt for every venue outcome: ``_write``'s, or the one its outcome error proves."""
        transport = self.transport_for(request.transport)
        sent_at = utc_now()
        try:
            return await self._write(request, operation, transport, sent_at, request_id)
        except VenueError as exc:
            self._rate.noted(exc)  # a rate-limit answer over the WS API counts like one over REST
            return receipt_for_error(
                request,
                exc,
                operation=operation,
                client_order_id=request.client_order_id,
                request_id=request_id,
                transport=transport,
                sent_at=sent_at,
                order_id=request.order_id if isinstance(request, CancelRequest) else None,
            )

    async def _write(
        self,
        request: OrderRequest | CancelRequest,
        operation: CommandOperation,
        transport: Transport,
        sent_at: datetime,
        request_id: str | None,
    ) -> CommandReceipt:
        """The one write template: check, build, send once over ``transport``, judge the answer."""
        socket = self._ready_to_send(transport)
        if isinstance(request, OrderRequest):
            self._check_order(request)
            params = self._order_params(request)
        else:
            self.validate_cancel(request)
            params = self._cancel_params(request)
        answer = await self._send_once(operation, params, socket)
        try:
            accepted = self._write_answer(request, answer)
        except ParseError as exc:
            # The receipt keeps the request's ids (receipt_for_error), so the reconciler can find the order.
            raise OutcomeUnknown(f"{operation.value}: {self.DIALECT.answer} failed validation: {exc}") from exc
        return self._accepted_receipt(request, operation, accepted, request_id, transport, sent_at)

    def _ready_to_send(self, transport: Transport) -> OrderSocket | None:
        """Refuse before anything is sent while the venue's rate-limit wait runs or the socket is down.

        Returns the order-entry socket to send on (None: REST).
        """
        wait = self._rate.ban_left()
        if wait > 0:
            # The venue told us to back off (429 / 418 / a rate-limit code): sending anyway only
            # lengthens a ban (Binance escalates it), so refuse here, before anything is sent.
            raise Rejected(
                f"{self.name}: not sent: the venue rate-limited us; {wait:.1f}s left before it takes requests",
                native_code="RATE_LIMITED_LOCALLY",
                retriable=True,
                retry_after=wait,
            )
        if transport is not Transport.WEBSOCKET:
            return None
        socket = self._order_socket()
        if socket is None or not socket.is_up:
            raise NotSent(f"{self.name}: WebSocket API is not connected")
        return socket

    async def _send_once(self, operation: CommandOperation, params: dict[str, Any], socket: OrderSocket | None) -> Any:
        """One write on the operation's route: over ``socket`` when given, else REST."""
        route = self.DIALECT.writes[operation]
        if socket is not None:
            return await socket.call(route.ws_method, self._ws_params(params), self.request_timeout)
        return await self.rest.write(route.method, route.path, params)

    def _accepted_receipt(
        self,
        request: OrderRequest | CancelRequest | AmendRequest,
        operation: CommandOperation,
        accepted: WriteAnswer,
        request_id: str | None,
        transport: Transport,
        sent_at: datetime,
        *,
        client_order_id: str | None = None,
    ) -> CommandReceipt:
        """The ACCEPTED receipt a validated answer proves (``client_order_id``: the fallback id)."""
        return receipt_accepted(
            request,
            operation=operation,
            order_id=accepted.order_id,
            client_order_id=accepted.client_order_id or request.client_order_id or client_order_id,
            request_id=request_id,
            transport=transport,
            sent_at=sent_at,
            order_state=accepted.state,
            filled_quantity=accepted.filled_quantity,
            average_price=accepted.average_price,
            message=self.DIALECT.ack_message,
        )

    @abstractmethod
    def _order_params(self, request: OrderRequest) -> dict[str, Any]:
        """A create's wire params, in the order they are sent (values already checked)."""

    @abstractmethod
    def _cancel_params(self, request: CancelRequest) -> dict[str, Any]:
        """A cancel's wire params (ids already checked)."""

    def _ws_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The params as the WebSocket call takes them (a copy: the call adds its auth fields)."""
        return dict(params)

    @abstractmethod
    def _write_answer(self, request: OrderRequest | CancelRequest, answer: dict[str, Any]) -> WriteAnswer:
        """What the success answer proves, by the dialect's write-answer schema; ``ParseError`` when nothing."""

    # ------------------------------------------------------------------ reads

    def rate_limit(self) -> RateLimitState:
        return self._rate

    def read_count(self) -> int:
        return self._reads

    def stream_stats(self) -> dict[str, int]:
        """The sockets' counters so far, for metrics read at scrape time (nothing is counted for them)."""
        from venues.streams import UserStreamBase

        stats: dict[str, int] = {}
        stream, socket = self._user_stream(), self._order_socket()
        if isinstance(stream, UserStreamBase):
            stats["user_stream_reconnects"] = max(0, stream.conn.connects - 1)
            stats["user_stream_drops"] = stream.conn.drops
            stats["user_stream_duplicates"] = stream.dropped_duplicates
            stats["user_stream_updates"] = stream.delivered
        if socket is not None:
            stats["order_socket_reconnects"] = max(0, socket.rpc.conn.connects - 1)
            stats["order_socket_drops"] = socket.rpc.conn.drops
        return stats

    async def _before_read(self, weight: int = 1, max_wait: float = 5.0) -> None:
        """Count the read and respect the venue's budget: wait out a short ban, refuse a long one."""
        self._reads += 1
        now = time.monotonic()
        rate = self._rate
        if rate.banned_until > now:
            wait = rate.banned_until - now
            if wait > max_wait:
                raise VenueRateLimited(f"{self.name}: rate-limited for {wait:.1f}s more", retry_after=wait)
            await asyncio.sleep(wait)
        elif rate.limit and rate.used + weight > rate.limit * 0.9 and rate.reset_at > now:
            # Leave the last 10% of the budget to writes: reads wait for the window to roll.
            wait = rate.reset_at - now
            if wait > max_wait:
                raise VenueRateLimited(
                    f"{self.name}: read budget nearly spent; resets in {wait:.1f}s", retry_after=wait
                )
            await asyncio.sleep(wait)
        rate.count_read(weight)

    def _parsed(self, items: Iterable[Any], what: str, parse: Callable[..., T]) -> list[T]:
        """Every item through the dialect's parser; a malformed one fails the whole read."""
        try:
            return [parse(item, venue=self.name, unify=self.unified) for item in items]
        except ParseError as exc:
            raise VenueReadError(f"{what}: {exc}") from exc

    def _order_reports(self, items: Iterable[Any], what: str) -> list[OrderReport]:
        return self._parsed(items, what, self.DIALECT.parse_order)

    @abstractmethod
    async def _window(self, path: str, instrument: str, start_ms: int, end_ms: int) -> list[Any]:
        """Every item of a time-windowed list read over [start_ms, end_ms]; raises rather than return part."""

    async def order_history(self, instrument: str, start_ms: int, end_ms: int) -> list[OrderReport]:
        """Every order in the window, the last view of each (pages may repeat an order)."""
        path = self.DIALECT.history_path
        items = await self._window(path, instrument, start_ms, end_ms)
        return list({r.order_id: r for r in self._order_reports(items, f"GET {path}")}.values())

    async def trades(self, instrument: str, start_ms: int, end_ms: int) -> list[TradeReport]:
        """Every fill of ours in the window, de-duplicated by trade id."""
        spec = self.DIALECT
        items = await self._window(spec.trades_path, instrument, start_ms, end_ms)
        fills = self._parsed((i for i in items if spec.is_fill(i)), f"GET {spec.trades_path}", spec.parse_trade)
        return list({t.trade_id: t for t in fills}.values())

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: VenueEventSink) -> None:
        """Load filters and marks (reads retried), then open the dialect's sockets (best effort)."""
        self._sink = sink
        self.marks.listeners.append(lambda instrument, price: sink.mark_update(self.name, instrument, price))
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(VenueUnreachable),
            stop=stop_after_attempt(3),
            wait=wait_exponential_jitter(multiplier=0.2, max=2.0),
            reraise=True,
        ):
            with attempt:
                await self._load_markets()
        await self._start_switch()  # before the streams: Bybit's private stream subscribes its DCP
        await asyncio.gather(*self._open_streams(sink))

    def _open_streams(self, sink: VenueEventSink) -> list[Awaitable[None]]:
        """Make the order-entry socket and the user stream where their URLs are set; return their starts."""
        starts: list[Awaitable[None]] = []
        if self.ws_api_url:
            starts.append(self._make_order_socket(self.ws_api_url).start(self._connect_wait))
        if self.stream_url:
            starts.append(self._make_user_stream(self.stream_url, sink).start(self._connect_wait))
        spec = self.DIALECT.mark_stream
        if self.market_stream_url and spec is not None:
            self.mark_feed = MarkFeed(
                self.market_stream_url, spec, name=self.name, book=self.marks, native=self.native, unify=self.unified
            )
            starts.append(self.mark_feed.start(0))  # best effort: REST marks stand in until it is up
        return starts

    @abstractmethod
    def _make_order_socket(self, url: str) -> OrderSocket:
        """Build the order-entry socket and keep it where ``_order_socket`` finds it."""

    @abstractmethod
    def _make_user_stream(self, url: str, sink: VenueEventSink) -> UserStream:
        """Build the user stream and keep it where ``_user_stream`` finds it."""

    def _user_stream(self) -> UserStream | None:
        return None

    def _socket_down(self, what: str) -> Callable[[str], None]:
        """An ``on_down`` for an order-entry socket: a lost socket is a stream gap to reconcile."""

        def down(reason: str) -> None:
            if self._sink is not None and reason != "closed":
                self._sink.stream_gap(self.name, f"{what} {reason}")

        return down

    async def close(self) -> None:
        await self._close_switch()  # disarmed while the REST client and the streams are still open
        stream, socket = self._user_stream(), self._order_socket()
        if self.mark_feed is not None:
            await self.mark_feed.close()
        if stream is not None:
            await stream.close()
        if socket is not None:
            await socket.close()
        await self._rest.close()
