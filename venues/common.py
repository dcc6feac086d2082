"""What every venue adapter shares: the write path that turns outcomes into receipts, filters,
transport choice, rate-limit guards for reads, decimal/number parsing, and secret hygiene.

A dialect subclasses ``AdapterBase`` and implements only its wire work:
``_load_markets``, ``_submit_rest``/``_submit_ws``, ``_cancel_rest``/``_cancel_ws`` (each
raising the ``venues.base`` outcome errors), ``_start_streams``/``_close_streams`` and the reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from gateway.model import (
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    OrderReport,
    OrderRequest,
    Transport,
    utc_now,
)
from venues.base import (
    InstrumentFilters,
    InvalidOrderError,
    InvalidReadRequest,
    NotSent,
    RateLimitState,
    UnknownInstrumentError,
    VenueError,
    VenueEventSink,
    VenueRateLimited,
    VenueUnreachable,
    receipt_for_error,
)
from venues.transport import HttpKind, RestClient, make_rest_client

__all__ = [
    "AdapterBase",
    "ParseError",
    "UpdateFilter",
    "check_id",
    "dec_field",
    "epoch_ms",
    "filter_value",
    "fmt_decimal",
    "field",
    "hmac_sha256_hex",
    "int_field",
    "opt_dec_field",
    "opt_int_field",
    "query_string",
    "to_decimal",
    "to_int",
]


def epoch_ms() -> int:
    return int(time.time() * 1000)


def hmac_sha256_hex(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def fmt_decimal(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: Decimal('1E+1') -> '10', '0.0100' -> '0.01'.

    Exact: ``normalize()`` would round to the context's 28 digits and send another number.
    Callers pass amounts ``check_amount`` admitted (finite, at most 20 + 20 digits).
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# Left unescaped in query keys/values: RFC 3986 query characters other than the '&', '=', '+',
# ';' delimiters. aiohttp (yarl) unescapes exactly these when it sends a URL, so escaping them
# would sign one string and send another (-1022 / 10004).
QUERY_SAFE = "!$'()*,:/?@"


def query_string(params: Iterable[tuple[str, str]]) -> str:
    """``k=v&...`` with every key and value percent-encoded, in the given order; sign this exact string."""
    return "&".join(f"{quote(k, safe=QUERY_SAFE)}={quote(v, safe=QUERY_SAFE)}" for k, v in params)


def check_id(field: str, value: object, pattern: re.Pattern[str], rule: str, *, venue: str) -> str:
    """``value`` when it is a ``str`` that ``pattern`` fully matches, else ``InvalidOrderError`` naming ``rule``."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidOrderError(field, f"{value!r} {rule}", venue=venue)
    return value


def to_decimal(value: Any) -> Decimal:
    """A venue number (JSON string or number) as Decimal; raises ValueError on anything else."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a decimal: {value!r}")
    try:
        return Decimal(str(value)) if isinstance(value, int | float) else Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal: {value!r}") from exc


def to_int(value: Any) -> int:
    """A venue integer that recordings may stringify (``"1707907323983"`` or ``1707907323983``)."""
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


# --------------------------------------------------------------------------- payload fields


class ParseError(ValueError):
    """A venue payload lacks a field or carries a value of the wrong shape."""


def field(payload: Mapping[str, Any], key: str) -> Any:
    """``payload[key]``; ``ParseError`` naming the field when it is missing or null."""
    try:
        value = payload[key]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"missing field {key!r}") from exc
    if value is None:
        raise ParseError(f"field {key!r} is null")
    return value


def dec_field(payload: Mapping[str, Any], key: str) -> Decimal:
    try:
        return to_decimal(field(payload, key))
    except ValueError as exc:
        raise ParseError(f"field {key!r}: {exc}") from exc


def opt_dec_field(payload: Mapping[str, Any], key: str) -> Decimal | None:
    """A decimal where the venue's "0" or "" means "none" (price of a MARKET order, average before a fill)."""
    if payload.get(key) in (None, ""):
        return None
    value = dec_field(payload, key)
    return value if value else None


def int_field(payload: Mapping[str, Any], key: str) -> int:
    try:
        return to_int(field(payload, key))
    except ValueError as exc:
        raise ParseError(f"field {key!r}: {exc}") from exc


def filter_value(payload: Mapping[str, Any], key: str) -> Decimal:
    """A filter bound; absent or empty is 0, which ``InstrumentFilters`` reads as "no bound"."""
    value = payload.get(key)
    return Decimal(0) if value in (None, "") else to_decimal(value)


def opt_int_field(payload: Mapping[str, Any], key: str) -> int | None:
    return None if payload.get(key) in (None, "") else int_field(payload, key)


# --------------------------------------------------------------------------- stream hygiene


class UpdateFilter:
    """Drops user-stream order updates that tell nothing new, for every venue.

    An update is dropped when its identity ``key`` was already delivered (an exact duplicate),
    or when it is older than what was delivered for the order: less filled, open after a
    terminal state, or the same filled quantity and state again (Bybit's double ``Filled``
    when a cancel races a fill). Bounded: the oldest entries are forgotten first.
    """

    def __init__(self, max_entries: int = 20_000):
        self._max = max_entries
        self._seen: OrderedDict[Hashable, None] = OrderedDict()
        self._progress: OrderedDict[str, tuple[Decimal, str, bool]] = OrderedDict()
        self.dropped = 0

    def admit(self, key: Hashable, order: OrderReport) -> bool:
        if key in self._seen:
            self.dropped += 1
            return False
        self._seen[key] = None
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        last = self._progress.get(order.order_id)
        terminal = order.state.is_terminal
        if last is not None:
            filled, state, was_terminal = last
            stale = order.filled_quantity < filled or (was_terminal and not terminal)
            repeat = order.filled_quantity == filled and order.state.value == state
            if stale or repeat:
                self.dropped += 1
                return False
        self._progress[order.order_id] = (order.filled_quantity, order.state.value, terminal)
        if len(self._progress) > self._max:
            self._progress.popitem(last=False)
        return True


class AdapterBase:
    """Shared half of every adapter; see the module docstring. Never prints its secret."""

    name: str
    recv_window_ms: int
    history_lag_seconds: float

    def __init__(
        self,
        *,
        name: str,
        api_key: str,
        api_secret: str,
        rest_url: str,
        ws_api_url: str | None,
        stream_url: str | None,
        request_timeout: float,
        recv_window_ms: int,
        http: HttpKind,
        history_lag_seconds: float,
    ):
        if not api_key or not api_secret:
            raise ValueError("api_key and api_secret are required")
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be > 0, got {request_timeout}")
        if not 0 < recv_window_ms <= 60_000:
            raise ValueError(f"recv_window_ms must be in (0, 60000], got {recv_window_ms}")
        self.name = name
        self.api_key = api_key
        self._secret = api_secret.encode()
        self.rest_url = rest_url.rstrip("/")
        self.ws_api_url = ws_api_url
        self.stream_url = stream_url
        self.request_timeout = request_timeout
        self.recv_window_ms = recv_window_ms
        self.history_lag_seconds = history_lag_seconds
        self._http_kind = http
        self._rest: RestClient = make_rest_client(http, request_timeout)
        self._filters: dict[str, InstrumentFilters] = {}
        self._native_to_unified: dict[str, str] = {}
        self._marks: dict[str, Decimal] = {}
        self._rate = RateLimitState()
        self._reads = 0
        self._sink: VenueEventSink | None = None

    def __repr__(self) -> str:
        key = self.api_key[:4] + "…" if len(self.api_key) > 4 else "…"
        return f"{type(self).__name__}(name={self.name!r}, rest_url={self.rest_url!r}, api_key={key!r})"

    # ------------------------------------------------------------------ signing (the one place the secret is used)

    def _sign(self, payload: str | bytes) -> str:
        return hmac_sha256_hex(self._secret, payload.encode() if isinstance(payload, str) else payload)

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
        return self._marks.get(instrument)

    def _check_client_order_id(self, client_order_id: str) -> None:
        """Raise ``InvalidOrderError`` unless the id is valid for this venue (each dialect states its rule)."""
        raise NotImplementedError

    def _check_order_id(self, order_id: str) -> None:
        """Raise ``InvalidOrderError`` unless the venue order id has this venue's shape."""
        raise NotImplementedError

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

    # ------------------------------------------------------------------ transport choice

    def _ws_up(self) -> bool:
        return False

    def transport_for(self, requested: Transport) -> Transport:
        if requested is Transport.AUTO:
            return Transport.WEBSOCKET if self._ws_up() else Transport.REST
        return requested

    # ------------------------------------------------------------------ the write path

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        if request.client_order_id is None:
            raise InvalidOrderError("client_order_id", "must be set before sending (the gateway assigns one)")
        transport = self.transport_for(request.transport)
        sent_at = utc_now()
        try:
            if transport is Transport.WEBSOCKET:
                if not self._ws_up():
                    raise NotSent(f"{self.name}: WebSocket API is not connected")
                return await self._submit_ws(request, sent_at)
            return await self._submit_rest(request, sent_at)
        except VenueError as exc:
            return receipt_for_error(
                request,
                exc,
                operation=CommandOperation.CREATE_ORDER,
                client_order_id=request.client_order_id,
                request_id=None,
                transport=transport,
                sent_at=sent_at,
            )

    async def cancel(self, request: CancelRequest, request_id: str) -> CommandReceipt:
        transport = self.transport_for(request.transport)
        sent_at = utc_now()
        try:
            if transport is Transport.WEBSOCKET:
                if not self._ws_up():
                    raise NotSent(f"{self.name}: WebSocket API is not connected")
                return await self._cancel_ws(request, request_id, sent_at)
            return await self._cancel_rest(request, request_id, sent_at)
        except VenueError as exc:
            return receipt_for_error(
                request,
                exc,
                operation=CommandOperation.CANCEL_ORDER,
                client_order_id=request.client_order_id,
                request_id=request_id,
                transport=transport,
                sent_at=sent_at,
                order_id=request.order_id,
            )

    async def _submit_rest(self, request: OrderRequest, sent_at: Any) -> CommandReceipt:
        raise NotSent(f"{self.name}: REST orders are not supported by this adapter")

    async def _submit_ws(self, request: OrderRequest, sent_at: Any) -> CommandReceipt:
        raise NotSent(f"{self.name}: WebSocket orders are not supported by this adapter")

    async def _cancel_rest(self, request: CancelRequest, request_id: str, sent_at: Any) -> CommandReceipt:
        raise NotSent(f"{self.name}: REST cancels are not supported by this adapter")

    async def _cancel_ws(self, request: CancelRequest, request_id: str, sent_at: Any) -> CommandReceipt:
        raise NotSent(f"{self.name}: WebSocket cancels are not supported by this adapter")

    # ------------------------------------------------------------------ reads

    def rate_limit(self) -> RateLimitState:
        return self._rate

    def read_count(self) -> int:
        return self._reads

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

    def _note_ban(self, seconds: float) -> None:
        self._rate.banned_until = max(self._rate.banned_until, time.monotonic() + seconds)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: VenueEventSink) -> None:
        """Load filters and marks (reads retried), then open the dialect's sockets (best effort)."""
        self._sink = sink
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(VenueUnreachable),
            stop=stop_after_attempt(3),
            wait=wait_exponential_jitter(multiplier=0.2, max=2.0),
            reraise=True,
        ):
            with attempt:
                await self._load_markets()
        await asyncio.gather(*self._open_streams(sink))

    async def _load_markets(self) -> None:
        """Clock offset, instrument filters and mark prices (override)."""

    def _open_streams(self, sink: VenueEventSink) -> list[Awaitable[None]]:
        """Create the order-entry socket and the user stream; return their starts (override)."""
        return []

    def _socket_down(self, what: str) -> Callable[[str], None]:
        """An ``on_down`` for an order-entry socket: a lost socket is a stream gap to reconcile."""

        def down(reason: str) -> None:
            if self._sink is not None and reason != "closed":
                self._sink.stream_gap(self.name, f"{what} {reason}")

        return down

    async def close(self) -> None:
        await self._close_streams()
        await self._rest.close()

    async def _close_streams(self) -> None:
        """Close WS API and user-stream connections (override)."""
