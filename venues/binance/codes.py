"""Binance USD-M error codes, grouped by what an answer *proves*.

Venue facts: docs/venues/binance-usdm.md §3, §9; classes: docs/venues/README.md.

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

from venues.codebook import CodeBook

__all__ = [
    "CODES",
    "DUPLICATE_CODES",
    "NOT_FOUND_CODES",
    "RATE_LIMIT_CODES",
    "REJECT_CODES",
    "UNKNOWN_CODES",
    "read_error",
    "retry_after_seconds",
    "write_error",
]

# Execution status unknown (§9 "U"), plus the codes this project treats as unknown whatever the
# docs say (-1001, -1008: the project rule in docs/venues/README.md).
UNKNOWN_CODES: frozenset[int] = frozenset({-1000, -1001, -1006, -1007, -1008})

# Refused before processing: not executed, may be retried after the venue's wait.
RATE_LIMIT_CODES: frozenset[int] = frozenset({-1003, -1015})

# An open order already holds this client order id: evidence an earlier attempt landed.
DUPLICATE_CODES: frozenset[int] = frozenset({-4116})

# A read answer, not an error: the order does not exist (within retention).
NOT_FOUND_CODES: frozenset[int] = frozenset({-2013})

# Definite rejections: parameters, filters, auth, clock, margin, reduce-only, order type.
REJECT_CODES: frozenset[int] = frozenset(
    {
        -1013, -1014, -1016, -1020, -1021, -1022, -1023,
        -1100, -1101, -1102, -1103, -1104, -1105, -1106, -1108, -1109, -1110, -1111, -1112, -1113, -1114,
        -1115, -1116, -1117, -1118, -1119, -1120, -1121, -1122, -1125, -1127, -1128, -1130, -1131,
        -2010, -2011, -2013, -2014, -2015, -2016, -2018, -2019, -2020, -2021, -2022, -2023, -2024, -2025,
        -2026, -2027, -2028,
        -4000, -4001, -4002, -4003, -4004, -4005, -4006, -4007, -4008, -4009, -4010, -4011, -4012, -4013,
        -4014, -4015, -4016, -4023, -4024, -4028, -4029, -4030, -4031, -4032, -4033, -4044, -4045, -4046,
        -4047, -4048, -4050, -4051, -4052, -4053, -4054, -4055, -4056, -4057, -4058, -4059, -4060, -4061,
        -4062, -4067, -4068, -4082, -4083, -4084, -4086, -4087, -4088, -4104, -4114, -4115, -4118, -4120,
        -4131, -4135, -4137, -4138, -4139, -4140, -4141, -4142, -4144, -4164, -4165, -4183, -4184,
        -5021, -5022, -5024, -5025, -5026, -5027, -5028, -5029,
    }
)  # fmt: skip

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
