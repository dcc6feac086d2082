"""Bybit v5 retCodes and HTTP statuses, grouped by what an answer *proves*.

Venue facts: docs/venues/bybit-v5.md §3, §5, §8; classes: docs/venues/README.md; every documented
retCode with its class and citation: ``code_table.TABLE``.

Bybit's envelope rule: a business error comes back as HTTP 200 with ``retCode != 0``, so a
retCode is classified first and the HTTP status only when there is no envelope
(``code_decides``). ``CODES`` hands the sets to the shared classification
(``venues.codebook``); for Bybit it reads:

    write:  retCode 0 + orderId               ACCEPTED (an ack; not here)
            RATE_LIMIT_CODES, HTTP 429 / 403  Rejected(retriable, retry_after)
            any 5xx, UNKNOWN_CODES, 408 bare  OutcomeUnknown
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

from venues.bybit.code_table import TABLE
from venues.codebook import CodeBook, CodeClass

__all__ = [
    "CANCEL_REJECT_CODES",
    "CODES",
    "TABLE",
    "DUPLICATE_CODES",
    "RATE_LIMIT_CODES",
    "REJECT_CODES",
    "UNKNOWN_CODES",
    "read_error",
    "retry_after_seconds",
    "write_error",
]

# The sets by outcome, from the complete documented table (venues/bybit/code_table.py). Unknown
# includes 10019 (WS trade service restarting): documented as "not accepted", but the project rule
# (docs/venues/README.md) treats it as unknown: reconciliation proves ABSENT quickly, a wrong
# REJECTED could duplicate.
UNKNOWN_CODES: frozenset[int] = TABLE.codes(CodeClass.UNKNOWN)

# Refused before processing; retry after the venue's wait.
RATE_LIMIT_CODES: frozenset[int] = TABLE.codes(CodeClass.RATE_LIMITED)

# orderLinkId already used (or an identical earlier request): evidence that an earlier attempt landed.
DUPLICATE_CODES: frozenset[int] = TABLE.codes(CodeClass.EVIDENCE)

# The cancel target is not open: the *cancel* is rejected; the order's own state is unknown.
CANCEL_REJECT_CODES: frozenset[int] = frozenset({110001, 110008, 110010})

# Definite rejections: parameters, auth, clock, permissions, balance, filters, limits, account rules.
REJECT_CODES: frozenset[int] = TABLE.codes(CodeClass.REJECTED) - CANCEL_REJECT_CODES

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


def _wait(status: int, headers: Mapping[str, str], msg: str, retry_after_ms: int | None) -> float:
    return retry_after_seconds(status, headers)  # Bybit says how long only in headers


CODES = CodeBook(
    reject=REJECT_CODES | CANCEL_REJECT_CODES,
    unknown=UNKNOWN_CODES,
    rate_limit=RATE_LIMIT_CODES,
    duplicate=DUPLICATE_CODES,
    rate_limit_statuses=frozenset({429, 403}),  # 403: "access too frequent", an IP ban
    edge_reject_statuses=frozenset({401, 404}),
    retry_after=_wait,
    code_decides=True,  # the envelope rule
    code_name="retCode",
)
write_error = CODES.write_error
read_error = CODES.read_error
