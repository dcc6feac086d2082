"""REST plumbing for Bybit v5: X-BAPI-* signed requests, one send, the envelope rule, rate headers.

GET signs the exact query string sent (percent-encoded here, ``query_string``); POST signs the
exact JSON body bytes sent (both built here, once). HTTP 200 with ``retCode != 0`` is a venue
answer, classified by ``codes``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from venues.base import NotSent, OutcomeUnknown, RateLimitState, VenueError, VenueReadError, VenueUnreachable
from venues.bybit.codes import read_error, write_error
from venues.bybit.schemas.frames import has_order_id
from venues.bybit.schemas.parse import ParseError, envelope
from venues.common import query_string
from venues.transport import RestClient, RestResponse

__all__ = ["BybitRest"]


class BybitRest:
    """Signed requests against ``rest_url``; read budgets from ``X-Bapi-Limit*`` go into ``rate``."""

    def __init__(
        self,
        client: RestClient,
        rest_url: str,
        api_key: str,
        sign: Callable[[bytes], str],
        recv_window_ms: int,
        rate: RateLimitState,
        clock: Callable[[], int],
    ):
        self._client = client
        self._url = rest_url
        self._api_key = api_key
        self._sign = sign
        self._recv = str(recv_window_ms)
        self._prefix_tail = (api_key + self._recv).encode()
        self._rate = rate
        self._clock = clock

    def signed_headers(self, payload: bytes) -> dict[str, str]:
        ts = str(self._clock())
        return {
            "X-BAPI-API-KEY": self._api_key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": self._recv,
            "X-BAPI-SIGN": self._sign(ts.encode() + self._prefix_tail + payload),
            "Content-Type": "application/json",
        }

    def note_read_headers(self, headers: Mapping[str, str]) -> None:
        limit, left = headers.get("x-bapi-limit"), headers.get("x-bapi-limit-status")
        reset = headers.get("x-bapi-limit-reset-timestamp")
        if limit and left and limit.isdigit() and left.isdigit():
            self._rate.limit = int(limit)
            self._rate.used = max(0, int(limit) - int(left))
            if reset and reset.isdigit():
                self._rate.reset_at = time.monotonic() + max(0.0, (int(reset) - time.time() * 1000) / 1000)

    def _note_write_headers(self, headers: Mapping[str, str]) -> None:
        """A write endpoint's own per-second budget (``X-Bapi-Limit*``): the account's order count in its window."""
        limit, left = headers.get("x-bapi-limit"), headers.get("x-bapi-limit-status")
        if limit and left and limit.isdigit() and left.isdigit():
            self._rate.orders["1s"] = (max(0, int(limit) - int(left)), int(limit))

    async def write(self, method: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a create/cancel (a POST) once; the ``result`` ack (with ``orderId``), or raise a write-outcome error."""
        what = f"{method} {path}"
        body = orjson.dumps(params)
        resp = await self._client.request(method, self._url + path, body=body, headers=self.signed_headers(body))
        self._note_write_headers(resp.headers)
        code: int | None = None
        msg = ""
        result: Any = None
        try:
            code, msg, result = envelope(orjson.loads(resp.body))
        except (orjson.JSONDecodeError, ParseError) as exc:
            if resp.status == 200:
                raise OutcomeUnknown(f"{what}: HTTP 200 with an unparsable body") from exc
            raise self._write_error(resp, None, resp.body[:200].decode(errors="replace").strip(), what) from exc
        if code == 0 and resp.status == 200:
            if not has_order_id(result):
                raise OutcomeUnknown(f"{what}: retCode 0 without an orderId")
            return result
        raise self._write_error(resp, code, msg, what)

    async def write_batch(self, path: str, params: Mapping[str, Any]) -> tuple[Any, Any]:
        """Send a batch (a POST) once; ``(result, retExtInfo)`` of a ``retCode 0`` answer, or raise an outcome error."""
        what = f"POST {path}"
        body = orjson.dumps(params)
        resp = await self._client.request("POST", self._url + path, body=body, headers=self.signed_headers(body))
        try:
            decoded = orjson.loads(resp.body)
            code, msg, result = envelope(decoded)
        except (orjson.JSONDecodeError, ParseError) as exc:
            if resp.status == 200:
                raise OutcomeUnknown(f"{what}: HTTP 200 with an unparsable body") from exc
            raise self._write_error(resp, None, resp.body[:200].decode(errors="replace").strip(), what) from exc
        if code == 0 and resp.status == 200:
            return result, decoded.get("retExtInfo")
        raise self._write_error(resp, code, msg, what)

    async def write_result(self, path: str, params: Mapping[str, Any]) -> Any:
        """Send a POST that answers no order (cancel-all, DCP) once; the ``result`` of ``retCode 0``, or raise."""
        what = f"POST {path}"
        body = orjson.dumps(params)
        resp = await self._client.request("POST", self._url + path, body=body, headers=self.signed_headers(body))
        try:
            code, msg, result = envelope(orjson.loads(resp.body))
        except (orjson.JSONDecodeError, ParseError) as exc:
            if resp.status == 200:
                raise OutcomeUnknown(f"{what}: HTTP 200 with an unparsable body") from exc
            raise self._write_error(resp, None, resp.body[:200].decode(errors="replace").strip(), what) from exc
        if code == 0 and resp.status == 200:
            return result
        raise self._write_error(resp, code, msg, what)

    def _write_error(self, resp: RestResponse, code: int | None, msg: str, what: str) -> VenueError:
        return self._rate.noted(write_error(resp.status, code, msg, what=what, headers=resp.headers))

    async def read(self, path: str, params: Sequence[tuple[str, str]] = (), *, signed: bool = True) -> Any:
        """A GET; the ``result`` of a ``retCode 0`` answer, else a ``VenueReadError`` subclass."""
        what = f"GET {path}"
        query = query_string(params)
        url = f"{self._url}{path}?{query}" if query else self._url + path
        headers = self.signed_headers(query.encode()) if signed else None
        try:
            resp = await self._client.request("GET", url, headers=headers)
        except (NotSent, OutcomeUnknown) as exc:
            raise VenueUnreachable(f"{what}: {exc.message}") from exc
        if signed:
            self.note_read_headers(resp.headers)
        try:
            code, msg, result = envelope(orjson.loads(resp.body))
        except (orjson.JSONDecodeError, ParseError) as exc:
            if resp.status == 200:
                raise VenueReadError(f"{what}: HTTP 200 with an unparsable body") from exc
            raise self._rate.noted(read_error(resp.status, None, "", what=what, headers=resp.headers)) from exc
        if code != 0 or resp.status != 200:
            raise self._rate.noted(read_error(resp.status, code, msg, what=what, headers=resp.headers))
        return result
