"""Bybit request signing (§2, §5, §6): lowercase hex HMAC-SHA256 over what was sent, and the timestamp window.

REST: ``timestamp + apiKey + recvWindow + (raw query string | raw body bytes)`` in
``X-BAPI-SIGN``; HTTP 401 without an ``X-BAPI-API-KEY``, ``10003`` unknown key, ``10004`` bad sign, ``10002`` outside
``server - recvWindow <= ts < server + 1000``. WS ``auth`` (trade and private sockets):
``"GET/realtime" + expires``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from venues.sim.bybit.errors import MESSAGES, ApiError, param_error, text
from venues.sim.bybit.state import BybitState
from venues.sim.venue import SimVenue

__all__ = ["Signer", "sign", "sign_rest", "sign_ws_auth"]


def sign(secret: str, payload: str | bytes) -> str:
    """Lowercase hex HMAC-SHA256, the only signature primitive of this dialect."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def sign_rest(secret: str, timestamp: int | str, api_key: str, recv_window: int | str, payload: str | bytes) -> str:
    """REST: ``timestamp + apiKey + recvWindow + (query string | body)``."""
    data = payload.encode() if isinstance(payload, str) else payload
    return sign(secret, f"{timestamp}{api_key}{recv_window}".encode() + data)


def sign_ws_auth(secret: str, expires: int | str) -> str:
    """WS auth (trade and private sockets): ``"GET/realtime" + expires``."""
    return sign(secret, f"GET/realtime{expires}")


class Signer:
    """Checks one venue's signed requests against its accounts."""

    def __init__(self, venue: SimVenue[BybitState]):
        self.venue = venue
        self.state = venue.state

    def secret(self, api_key: str | None) -> str:
        if not api_key:
            raise ApiError(10003)
        secret = self.venue.secret_for(api_key)
        if secret is None:
            raise ApiError(10003)
        return secret

    def check_time(self, raw_ts: Any, raw_rw: Any) -> tuple[int, int]:
        ts_text, rw_text = text(raw_ts), text(raw_rw)
        if not ts_text.isdigit():
            raise ApiError(10002, "invalid request, please check your timestamp")
        recv_window = 5000
        if rw_text:
            if not rw_text.isdigit() or int(rw_text) <= 0:
                raise param_error("recv_window invalid")
            recv_window = int(rw_text)
        ts = int(ts_text)
        server = self.state.server_ms()
        if not (server - recv_window <= ts < server + 1000):
            raise ApiError(
                10002,
                f"{MESSAGES[10002]}. req_timestamp[{ts}],server_timestamp[{server}],recv_window[{recv_window}]",
            )
        return ts, recv_window

    async def signed_rest(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        """Verify a private REST request exactly as §2 describes; returns (account, params)."""
        api_key = request.headers.get("X-BAPI-API-KEY")
        if not api_key:
            # No key at all is refused at the edge with HTTP 401 (ER "HTTP Code"), not an envelope;
            # a key that is present but unknown is 10003.
            raise web.HTTPUnauthorized()
        secret = self.secret(api_key)
        assert api_key is not None
        raw_ts = request.headers.get("X-BAPI-TIMESTAMP")
        raw_rw = request.headers.get("X-BAPI-RECV-WINDOW")
        self.check_time(raw_ts, raw_rw)
        if request.method == "GET":
            payload = request.rel_url.raw_query_string.encode()
        else:
            payload = await request.read() if request.can_read_body else b""
        given = request.headers.get("X-BAPI-SIGN", "")
        expected = sign_rest(secret, raw_ts or "", api_key, raw_rw if raw_rw is not None else "", payload)
        # A client that omits X-BAPI-RECV-WINDOW signs with nothing there; 5000 is only the window.
        if not given or not hmac.compare_digest(expected, given.lower()):
            raise ApiError(
                10004, f"error sign! origin_string[{raw_ts}{api_key}{raw_rw or ''}{payload.decode(errors='replace')}]"
            )
        if request.method == "GET":
            params: dict[str, Any] = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        else:
            try:
                body = orjson.loads(payload) if payload else {}
            except orjson.JSONDecodeError as exc:
                raise param_error("request body is not valid JSON") from exc
            if not isinstance(body, dict):
                raise param_error("request body is not a JSON object")
            params = body
        return api_key, params

    def ws_auth(self, args: Any) -> str:
        """Verify WS ``auth`` args ``[apiKey, expires, signature]``; returns the account (api key)."""
        if not isinstance(args, list) or len(args) != 3:
            raise param_error("auth args must be [apiKey, expires, signature]")
        api_key, expires, signature = args
        if not isinstance(api_key, str):
            raise ApiError(10003)
        secret = self.secret(api_key)
        exp_text = text(expires)
        if not exp_text.isdigit():
            raise param_error("expires invalid")
        if int(exp_text) <= self.state.server_ms():
            raise param_error("expires is before now")
        if not isinstance(signature, str) or not hmac.compare_digest(sign_ws_auth(secret, exp_text), signature.lower()):
            raise ApiError(10004, "Invalid signature")
        return api_key
