"""Binance USD-M error codes, grouped by what an answer *proves*.

Venue facts: docs/venues/binance-usdm.md §3, §9; classes: docs/venues/README.md; every documented
code with its class and citation: ``code_table.TABLE``.

Sets are named by outcome, never by action (no ``RETRY_*``: nautilus retried ``-1007``,
which resends an order that may have executed). ``CODES`` hands them to the shared
classification (``venues.codebook``); for Binance it reads:

    write:  -2xx parseable order          ACCEPTED (not here)
            429 / 418 / RATE_LIMIT_CODES  Rejected(retriable, retry_after)
            any 5xx, 408, UNKNOWN_CODES   OutcomeUnknown
            DUPLICATE_CODES               DuplicateEvidence (reconcile by client id)
            REJECT_CODES, 401/403         Rejected
            any other code / no code      OutcomeUnknown (never assume a rejection)
    read:   429 / 418 / rate codes        VenueRateLimited
            5xx, 408, unknown codes       VenueUnreachable
            anything else                 VenueReadError
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from venues.binance.code_table import TABLE
from venues.codebook import CodeBook, CodeClass

__all__ = [
    "CODES",
    "TABLE",
    "DUPLICATE_CODES",
    "NOT_FOUND_CODES",
    "RATE_LIMIT_CODES",
    "REJECT_CODES",
    "UNKNOWN_CODES",
    "read_error",
    "retry_after_seconds",
    "write_error",
]

# The sets by outcome, from the complete documented table (venues/binance/code_table.py).
# Unknown includes the project rule's -1001 and -1008 (docs/venues/README.md).
UNKNOWN_CODES: frozenset[int] = TABLE.codes(CodeClass.UNKNOWN)

# Refused before processing: not executed, may be retried after the venue's wait.
RATE_LIMIT_CODES: frozenset[int] = TABLE.codes(CodeClass.RATE_LIMITED)

# An open order already holds this client order id: evidence an earlier attempt landed.
DUPLICATE_CODES: frozenset[int] = TABLE.codes(CodeClass.EVIDENCE)

# A read answer, not an error: the order does not exist (within retention).
NOT_FOUND_CODES: frozenset[int] = frozenset({-2013})

# Definite rejections: parameters, filters, auth, clock, margin, reduce-only, order type, account rules.
REJECT_CODES: frozenset[int] = TABLE.codes(CodeClass.REJECTED)

_BANNED_UNTIL = re.compile(r"banned until (\d{12,14})")
DEFAULT_429_WAIT = 60.0
DEFAULT_418_WAIT = 120.0


def retry_after_seconds(
    status: int, headers: Mapping[str, str], msg: str = "", retry_after_ms: int | None = None
) -> float:
    """The venue's wait: ``Retry-After`` header, a ``banned until <ms>`` message, a WS ``retryAfter`` (ms epoch)."""
    header = headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    now_ms = time.time() * 1000
    if retry_after_ms is not None:
        return max(0.0, (retry_after_ms - now_ms) / 1000)
    match = _BANNED_UNTIL.search(msg)
    if match:
        return max(0.0, (int(match.group(1)) - now_ms) / 1000)
    return DEFAULT_418_WAIT if status == 418 else DEFAULT_429_WAIT


CODES = CodeBook(
    reject=REJECT_CODES,
    unknown=UNKNOWN_CODES,
    rate_limit=RATE_LIMIT_CODES,
    duplicate=DUPLICATE_CODES,
    rate_limit_statuses=frozenset({429, 418}),
    edge_reject_statuses=frozenset({401, 403}),  # auth / WAF, without a code
    retry_after=retry_after_seconds,
)
write_error = CODES.write_error
read_error = CODES.read_error
