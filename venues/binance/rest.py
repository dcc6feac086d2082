"""REST plumbing for Binance USD-M: signed query strings, one send, rate headers, answer classification.

Params travel in the query string for every verb (Binance accepts that for POST/DELETE, §2),
percent-encoded here (``query_string``) in the caller's order with ``signature`` last; the
signature covers exactly the string sent. § numbers cite docs/venues/binance-usdm.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from venues.base import NotSent, OutcomeUnknown, RateLimitState, VenueError, VenueReadError, VenueUnreachable
from venues.binance.codes import NOT_FOUND_CODES, read_error, write_error
from venues.binance.schemas.frames import error_code_msg, is_order_object, listen_key
from venues.common import ParseError, query_string
from venues.transport import RestClient, RestResponse

Params = Sequence[tuple[str, str]]

__all__ = ["BinanceRest", "NotFound"]


class NotFound(VenueReadError):
    """-2013: the venue says the order does not exist (within retention)."""


class BinanceRest:
    """Signed requests against ``rest_url``; tracks ``X-MBX-USED-WEIGHT-1M`` into ``rate``."""

    def __init__(
        self,
        client: RestClient,
        rest_url: str,
        api_key: str,
        sign: Callable[[str], str],
        recv_window_ms: int,
        rate: RateLimitState,
        clock: Callable[[], int],
    ):
        self._client = client
        self._url = rest_url
        self._headers = {"X-MBX-APIKEY": api_key}
        self._sign = sign
        self._tail = f"&recvWindow={recv_window_ms}&timestamp="
        self._rate = rate
        self._clock = clock

    def signed_url(self, path: str, params: Params) -> str:
        query = query_string(params)
        q = f"{query}{self._tail}{self._clock()}" if query else f"{self._tail[1:]}{self._clock()}"
        return f"{self._url}{path}?{q}&signature={self._sign(q)}"

    def note_headers(self, headers: Mapping[str, str]) -> None:
        used = headers.get("x-mbx-used-weight-1m")
        if used is not None and used.isdigit():
            self._rate.used = int(used)
            self._rate.reset_at = time.monotonic() + (60 - time.time() % 60)
        for window in ("10s", "1m"):
            # X-MBX-ORDER-COUNT-10S / -1M: this account's orders in the window, against exchangeInfo's limit
            count = headers.get(f"x-mbx-order-count-{window}")
            if count is not None and count.isdigit():
                self._rate.orders[window] = (int(count), self._rate.orders.get(window, (0, 0))[1])

    async def write(self, method: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a create/cancel once; the parsed 2xx object, or raise a write-outcome error."""
        what = f"{method} {path}"
        url = self.signed_url(path, list(params.items()))
        resp = await self._client.request(method, url, headers=self._headers)
        self.note_headers(resp.headers)
        if 200 <= resp.status < 300:
            try:
                body = orjson.loads(resp.body)
            except orjson.JSONDecodeError as exc:
                raise OutcomeUnknown(f"{what}: HTTP {resp.status} with an unparsable body") from exc
            if not is_order_object(body):
                raise OutcomeUnknown(f"{what}: HTTP {resp.status} without an order object")
            return body
        raise self._write_error(resp, what)

    async def write_batch(self, method: str, path: str, params: Mapping[str, Any]) -> list[Any]:
        """Send a batch write once; the 2xx answer's list (one item per order), or raise a write-outcome error."""
        what = f"{method} {path}"
        resp = await self._client.request(method, self.signed_url(path, list(params.items())), headers=self._headers)
        self.note_headers(resp.headers)
        if 200 <= resp.status < 300:
            try:
                body = orjson.loads(resp.body)
            except orjson.JSONDecodeError as exc:
                raise OutcomeUnknown(f"{what}: HTTP {resp.status} with an unparsable body") from exc
            if not isinstance(body, list):
                raise OutcomeUnknown(f"{what}: HTTP {resp.status} without a list of items")
            return body
        raise self._write_error(resp, what)

    async def write_body(self, method: str, path: str, params: Mapping[str, Any]) -> Any:
        """Send a write that answers no order (cancel-all, countdown) once; its parsed 2xx body, or raise."""
        what = f"{method} {path}"
        resp = await self._client.request(method, self.signed_url(path, list(params.items())), headers=self._headers)
        self.note_headers(resp.headers)
        if 200 <= resp.status < 300:
            try:
                return orjson.loads(resp.body)
            except orjson.JSONDecodeError as exc:
                raise OutcomeUnknown(f"{what}: HTTP {resp.status} with an unparsable body") from exc
        raise self._write_error(resp, what)

    def _write_error(self, resp: RestResponse, what: str) -> VenueError:
        code, msg = error_code_msg(resp.body)
        return self._rate.noted(write_error(resp.status, code, msg, what=what, headers=resp.headers))

    async def read(self, path: str, params: Params = (), *, signed: bool = True) -> Any:
        """A read; raises ``VenueReadError`` subclasses (``NotFound`` for -2013)."""
        what = f"GET {path}"
        query = query_string(params)
        url = self.signed_url(path, params) if signed else f"{self._url}{path}" + (f"?{query}" if query else "")
        try:
            resp = await self._client.request("GET", url, headers=self._headers)
        except (NotSent, OutcomeUnknown) as exc:
            raise VenueUnreachable(f"{what}: {exc.message}") from exc
        self.note_headers(resp.headers)
        if 200 <= resp.status < 300:
            try:
                return orjson.loads(resp.body)
            except orjson.JSONDecodeError as exc:
                raise VenueReadError(f"{what}: HTTP {resp.status} with an unparsable body") from exc
        code, msg = error_code_msg(resp.body)
        if code is not None and code in NOT_FOUND_CODES:
            raise NotFound(f"{what}: {code} {msg}")
        raise self._rate.noted(read_error(resp.status, code, msg, what=what, headers=resp.headers))

    async def user_stream_key(self, method: str) -> str:
        """POST/PUT /fapi/v1/listenKey (USER_STREAM: API key header only, §5)."""
        try:
            resp = await self._client.request(method, f"{self._url}/fapi/v1/listenKey", headers=self._headers)
        except (NotSent, OutcomeUnknown) as exc:
            raise VenueUnreachable(f"{method} /fapi/v1/listenKey: {exc.message}") from exc
        self.note_headers(resp.headers)
        if resp.status == 200:
            try:
                return listen_key(orjson.loads(resp.body))
            except (orjson.JSONDecodeError, ParseError) as exc:
                raise VenueReadError("listenKey: unparsable answer") from exc
        code, msg = error_code_msg(resp.body)
        raise read_error(resp.status, code, msg, what=f"{method} /fapi/v1/listenKey", headers=resp.headers)
