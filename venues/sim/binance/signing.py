"""Binance request signing (§2, §6): the API key, the timestamp window and the HMAC over what was sent.

REST: ``totalParams`` = raw query string + raw form body, ``signature`` removed, hex HMAC-SHA256,
key in ``X-MBX-APIKEY``; ``-2014``/``-2015`` (HTTP 401), ``-1022``, ``-1021``, recvWindow.
WS API: the same HMAC over the sorted ``k=v`` of every param but ``signature``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from venues.sim.binance.errors import ApiError, mandatory, ws_param_text
from venues.sim.binance.state import BinanceState
from venues.sim.venue import SimVenue

__all__ = ["Signer"]


class Signer:
    """Checks one venue's signed requests against its accounts."""

    def __init__(self, venue: SimVenue[BinanceState]):
        self.venue = venue
        self.state = venue.state

    def account_for_key(self, api_key: str | None) -> tuple[str, str]:
        if not api_key:
            raise ApiError(-2014, status=401)
        secret = self.venue.secret_for(api_key)
        if secret is None:
            raise ApiError(-2015, status=401)
        return api_key, secret

    def check_time(self, params: dict[str, str] | dict[str, Any]) -> None:
        raw_ts = params.get("timestamp")
        if raw_ts is None or raw_ts == "":
            raise mandatory("timestamp")
        try:
            ts = int(str(raw_ts))
        except ValueError as exc:
            raise mandatory("timestamp") from exc
        raw_rw = params.get("recvWindow")
        recv_window = 5000
        if raw_rw is not None and raw_rw != "":
            try:
                recv_window = int(str(raw_rw))
            except ValueError as exc:
                raise mandatory("recvWindow") from exc
            max_rw = self.state.max_recv_window
            if recv_window > max_rw or recv_window <= 0:
                raise ApiError(-1102, f"Param 'recvWindow' must be in (0, {max_rw}].")
        server = self.state.server_ms()
        if not (ts < server + 1000 and server - ts <= recv_window):
            raise ApiError(-1021)

    async def signed_rest(self, request: web.Request) -> tuple[str, dict[str, str]]:
        """Verify a TRADE/USER_DATA request exactly as §2 describes; returns (account, params)."""
        account, secret = self.account_for_key(request.headers.get("X-MBX-APIKEY"))
        query = request.rel_url.raw_query_string
        body = ""
        if request.can_read_body:
            raw = await request.read()
            try:
                body = raw.decode()
            except UnicodeDecodeError as exc:
                raise ApiError(-1102, "Request body is not valid form data.") from exc
        signature: str | None = None
        kept: list[str] = []
        for part_source in (query, body):
            segments = [s for s in part_source.split("&")] if part_source else []
            own: list[str] = []
            for seg in segments:
                if seg.startswith("signature="):
                    signature = seg[len("signature=") :]
                else:
                    own.append(seg)
            kept.append("&".join(own))
        params = dict(parse_qsl(body, keep_blank_values=True))
        params.update(parse_qsl(query, keep_blank_values=True))  # a name in both: the query wins
        params.pop("signature", None)
        if not signature:
            raise mandatory("signature")
        self.check_time(params)
        total = kept[0] + kept[1]
        expected = hmac.new(secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022)
        return account, params

    def signed_ws(self, params: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """Verify a WS API request (§6): sorted ``k=v`` of every param but ``signature``."""
        account, secret = self.account_for_key(params.get("apiKey"))
        signature = params.get("signature")
        if not signature or not isinstance(signature, str):
            raise mandatory("signature")
        self.check_time(params)
        payload = "&".join(f"{k}={ws_param_text(params[k])}" for k in sorted(params) if k != "signature")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022)
        return account, {k: ws_param_text(v) for k, v in params.items() if k != "signature"}

    # ------------------------------------------------------------------ payloads
