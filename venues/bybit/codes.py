"""Bybit v5 retCodes and HTTP statuses, grouped by what an answer *proves*.

Venue facts: docs/venues/bybit-v5.md §3, §5, §8; classes: docs/venues/README.md.

Bybit's envelope rule: a business error comes back as HTTP 200 with ``retCode != 0``, so a
retCode is classified first and the HTTP status only when there is no envelope.
``write_error`` and ``read_error`` are the only places an answer becomes an outcome:

    write:  retCode 0 + orderId               ACCEPTED (an ack; not here)
            RATE_LIMIT_CODES, HTTP 429 / 403  Rejected(retriable, retry_after)
            any 5xx, 408, UNKNOWN_CODES       OutcomeUnknown
            DUPLICATE_CODES                   DuplicateEvidence (reconcile by orderLinkId)
            REJECT_CODES, CANCEL_REJECT_CODES Rejected
            HTTP 401 / 404 without envelope   Rejected (refused at the edge)
            any other code / no code          OutcomeUnknown (never assume a rejection)
    read:   rate codes / 429 / 403            VenueRateLimited
            5xx, 408, unknown codes           VenueUnreachable
            anything else                     VenueReadError
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from venues.base import (
    DuplicateEvidence,
    OutcomeUnknown,
    Rejected,
    VenueError,
    VenueRateLimited,
    VenueReadError,
    VenueUnreachable,
)

__all__ = [
    "CANCEL_REJECT_CODES",
    "DUPLICATE_CODES",
    "RATE_LIMIT_CODES",
    "REJECT_CODES",
    "UNKNOWN_CODES",
    "read_error",
    "retry_after_seconds",
    "write_error",
]

# Server timeout / internal error / service restarting: the request may have executed. 10019
# (WS trade service restarting) is documented as "not accepted", but the project rule (docs/venues/README.md)
# treats it as unknown: reconciliation proves ABSENT quickly, a wrong REJECTED could duplicate.
UNKNOWN_CODES: frozenset[int] = frozenset({10000, 10016, 10019})

# Refused before processing; retry after the venue's wait.
RATE_LIMIT_CODES: frozenset[int] = frozenset({10006, 10429, 10403, 20003})

# orderLinkId already used: evidence that an earlier attempt landed.
DUPLICATE_CODES: frozenset[int] = frozenset({110072})

# The cancel target is not open: the *cancel* is rejected; the order's own state is unknown.
CANCEL_REJECT_CODES: frozenset[int] = frozenset({110001, 110008, 110010})

# Definite rejections: parameters, auth, clock, permissions, balance, filters, limits.
REJECT_CODES: frozenset[int] = frozenset(
    {
        10001, 10002, 10003, 10004, 10005, 10007, 10010, 10017, 10027, 10029, 10404, 20006,
        110003, 110004, 110007, 110012, 110017, 110020, 110079, 110094,
    }
)  # fmt: skip

DEFAULT_RATE_LIMIT_WAIT = 1.0  # the UID window is one second
IP_BAN_WAIT = 600.0  # HTTP 403 "access too frequent": stop for at least ten minutes (RL)


def retry_after_seconds(status: int, headers: Mapping[str, str]) -> float:
    """The venue's wait: ``X-Bapi-Limit-Reset-Timestamp`` (ms epoch), ``Retry-After``, or the documented default."""
    reset = headers.get("x-bapi-limit-reset-timestamp")
    if reset and reset.isdigit():
        wait = (int(reset) - time.time() * 1000) / 1000
        if wait > 0:
            return wait
    header = headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    return IP_BAN_WAIT if status == 403 else DEFAULT_RATE_LIMIT_WAIT


def write_error(
    status: int, code: int | None, msg: str, *, what: str, headers: Mapping[str, str] | None = None
) -> VenueError:
    """Classify a create/cancel answer that is not an ack (see the module docstring)."""
    native = str(code) if code is not None else f"HTTP {status}"
    text = f"{what}: {msg}" if msg else f"{what}: HTTP {status}"
    if code is not None:
        if code in RATE_LIMIT_CODES:
            wait = retry_after_seconds(status, headers or {})
            return Rejected(text, native_code=native, retriable=True, retry_after=wait)
        if code in UNKNOWN_CODES or status >= 500:
            return OutcomeUnknown(text, native_code=native)
        if code in DUPLICATE_CODES:
            return DuplicateEvidence(text, native_code=native)
        if code in REJECT_CODES or code in CANCEL_REJECT_CODES:
            return Rejected(text, native_code=native)
        return OutcomeUnknown(f"{text} (unrecognised retCode: outcome not proven)", native_code=native)
    if status in (429, 403):
        wait = retry_after_seconds(status, headers or {})
        return Rejected(text, native_code=native, retriable=True, retry_after=wait)
    if status in (401, 404):
        return Rejected(text, native_code=native)
    return OutcomeUnknown(text, native_code=native)


def read_error(
    status: int, code: int | None, msg: str, *, what: str, headers: Mapping[str, str] | None = None
) -> VenueReadError:
    """Classify a failed read (it never decides a command's outcome)."""
    text = f"{what}: " + (f"{code} {msg}" if code is not None else f"HTTP {status} {msg}".rstrip())
    if (code is not None and code in RATE_LIMIT_CODES) or (code is None and status in (429, 403)):
        return VenueRateLimited(text, retry_after=retry_after_seconds(status, headers or {}))
    if status >= 500 or status == 408 or (code is not None and code in UNKNOWN_CODES):
        return VenueUnreachable(text)
    return VenueReadError(text)
