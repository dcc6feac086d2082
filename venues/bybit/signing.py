"""Bybit v5 request signing (docs/venues/bybit-v5.md §2, §5, §6): the only code that signs a request.

- REST: ``timestamp + apiKey + recvWindow + payload`` where payload is the exact query string
  sent (GET) or the exact JSON body bytes sent (POST); lowercase hex HMAC-SHA256.
- WebSocket auth (trade and private sockets): ``"GET/realtime" + expires`` (ms, in the future).

The secret lives in the adapter (``AdapterBase._sign``); ``sign`` is here for tests and tools.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["rest_signing_payload", "sign", "ws_auth_payload"]


def sign(secret: str | bytes, payload: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def rest_signing_payload(
    timestamp_ms: int | str, api_key: str, recv_window_ms: int | str, payload: str | bytes
) -> bytes:
    """What a REST signature covers: the prefix, then the query string or body, byte for byte."""
    body = payload if isinstance(payload, bytes) else payload.encode()
    return f"{timestamp_ms}{api_key}{recv_window_ms}".encode() + body


def ws_auth_payload(expires_ms: int | str) -> str:
    return f"GET/realtime{expires_ms}"
