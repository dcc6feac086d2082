"""Binance request signing (docs/venues/binance-usdm.md §2 and §6): the only code that turns params into signed strings.

- REST: ``totalParams`` is the query string concatenated *directly* with the form body; the
  signature is the hex HMAC-SHA256 of it and travels as the last param, ``signature``.
- WebSocket API: every param except ``signature`` (``apiKey`` and ``timestamp`` included),
  sorted by name and joined ``k=v&...``; JSON booleans read ``true``/``false``.

The secret itself lives in the adapter (``AdapterBase._sign``); these helpers only build
payloads, and ``sign`` is here for tests and tools that hold a secret of their own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

__all__ = ["rest_total_params", "sign", "ws_param_text", "ws_signing_payload"]


def sign(secret: str | bytes, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` under ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def rest_total_params(query: str, body: str = "") -> str:
    """What a REST signature covers: query + body with no separator (§2, GI example 3)."""
    return query + body


def ws_param_text(value: Any) -> str:
    """How one WS API param value reads inside the signed payload."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def ws_signing_payload(params: Mapping[str, Any]) -> str:
    """The WS API signing payload: params minus ``signature``, sorted by name, ``k=v`` joined by ``&``."""
    # Most values are already text: only the others go through ws_param_text (a call per param otherwise).
    return "&".join(
        [
            f"{k}={v}" if type(v := params[k]) is str else f"{k}={ws_param_text(v)}"
            for k in sorted(params)
            if k != "signature"
        ]
    )
