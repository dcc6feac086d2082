"""The one classification of a venue's non-success answers, over a per-venue ``CodeBook``.

A dialect's ``codes`` module names its code sets by what an answer *proves* (``REJECT_CODES``,
``UNKNOWN_CODES``, ``RATE_LIMIT_CODES``, ``DUPLICATE_CODES``), the HTTP statuses that mean a rate
limit or a refusal at the edge, and how to read the venue's wait; ``CodeBook.write_error`` and
``CodeBook.read_error`` are then the only places an HTTP status + venue code becomes an outcome:

    write:  rate-limit code or status        Rejected(retriable, retry_after)
            any 5xx, 408                     OutcomeUnknown
            no code: edge-refusal status     Rejected; any other status: OutcomeUnknown
            UNKNOWN_CODES                    OutcomeUnknown
            DUPLICATE_CODES                  DuplicateEvidence (reconcile by client id)
            REJECT_CODES                     Rejected
            any other code                   OutcomeUnknown (never assume a rejection)
    read:   rate-limit code or status        VenueRateLimited
            5xx, 408, UNKNOWN_CODES          VenueUnreachable
            anything else                    VenueReadError

The sets come from the dialect's ``code_table`` module: a ``CodeTable`` with one ``CodeRow`` per
code the venue documents (class, name, citation, and why when the class is not obvious), so a
documented rejection can never fall through to "unrecognised".

``code_decides`` is for venues whose business errors arrive in an envelope (Bybit: HTTP 200
with ``retCode != 0``): when a code is present it alone decides, and the rate-limit statuses and
a 408 count only for an answer without one (a 5xx is unknown either way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from venues.base import (
    DuplicateEvidence,
    OutcomeUnknown,
    Rejected,
    VenueError,
    VenueRateLimited,
    VenueReadError,
    VenueUnreachable,
)

__all__ = ["CodeBook", "CodeClass", "CodeRow", "CodeTable", "RetryAfter"]


class CodeClass(StrEnum):
    """What a venue code proves about the request it answers (docs/venues/README.md)."""

    REJECTED = "REJECTED"  # provably not executed
    RATE_LIMITED = "RATE_LIMITED"  # refused before processing; not executed, retriable after the wait
    UNKNOWN = "UNKNOWN"  # may have executed: reconcile, never re-send
    EVIDENCE = "EVIDENCE"  # an earlier attempt exists: reconcile by client order id


@dataclass(frozen=True, slots=True)
class CodeRow:
    """One documented code: its name or text, its class, where it is documented, and why when not obvious."""

    code: int
    cls: CodeClass
    name: str
    source: str
    why: str = ""


@dataclass(frozen=True, slots=True)
class CodeTable:
    """A venue's complete documented code list, one row per code."""

    venue: str
    rows: tuple[CodeRow, ...]

    def __post_init__(self) -> None:
        seen = [row.code for row in self.rows]
        if len(seen) != len(set(seen)):
            raise ValueError(f"{self.venue}: a code appears twice in its table")

    def codes(self, cls: CodeClass) -> frozenset[int]:
        return frozenset(row.code for row in self.rows if row.cls is cls)

    def row(self, code: int) -> CodeRow | None:
        return next((row for row in self.rows if row.code == code), None)


class RetryAfter(Protocol):
    def __call__(self, status: int, headers: Mapping[str, str], msg: str, retry_after_ms: int | None) -> float:
        """Seconds the venue asks us to wait, from its headers, message or WS field."""


@dataclass(frozen=True, slots=True)
class CodeBook:
    """One venue's codes grouped by outcome, and how its rate-limit answers say how long to wait."""

    reject: frozenset[int]
    unknown: frozenset[int]
    rate_limit: frozenset[int]
    duplicate: frozenset[int]
    rate_limit_statuses: frozenset[int]
    edge_reject_statuses: frozenset[int]  # refused before the venue's engine: auth, WAF, no route
    retry_after: RetryAfter
    code_decides: bool = False
    code_name: str = "code"  # how the venue calls its code, for the "unrecognised" message

    def _rate_limited(self, status: int, code: int | None) -> bool:
        if code is not None and code in self.rate_limit:
            return True
        return status in self.rate_limit_statuses and (code is None or not self.code_decides)

    def write_error(
        self,
        status: int,
        code: int | None,
        msg: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        retry_after_ms: int | None = None,
    ) -> VenueError:
        """Classify a non-success answer to a create or cancel (see the module docstring)."""
        native = str(code) if code is not None else f"HTTP {status}"
        text = f"{what}: {msg}" if msg else f"{what}: HTTP {status}"
        if self._rate_limited(status, code):
            wait = self.retry_after(status, headers or {}, msg, retry_after_ms)
            return Rejected(text, native_code=native, retriable=True, retry_after=wait)
        if status >= 500 or (status == 408 and (code is None or not self.code_decides)):
            return OutcomeUnknown(text, native_code=native)
        if code is None:
            if status in self.edge_reject_statuses:
                return Rejected(text, native_code=native)
            return OutcomeUnknown(text, native_code=native)
        if code in self.unknown:
            return OutcomeUnknown(text, native_code=native)
        if code in self.duplicate:
            return DuplicateEvidence(text, native_code=native)
        if code in self.reject:
            return Rejected(text, native_code=native)
        return OutcomeUnknown(f"{text} (unrecognised {self.code_name}: outcome not proven)", native_code=native)

    def read_error(
        self,
        status: int,
        code: int | None,
        msg: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        retry_after_ms: int | None = None,
    ) -> VenueReadError:
        """Classify a failed read (it never decides a command's outcome)."""
        text = f"{what}: " + (f"{code} {msg}" if code is not None else f"HTTP {status} {msg}".rstrip())
        if self._rate_limited(status, code):
            return VenueRateLimited(text, retry_after=self.retry_after(status, headers or {}, msg, retry_after_ms))
        if status >= 500 or status == 408 or (code is not None and code in self.unknown):
            return VenueUnreachable(text)
        return VenueReadError(text)
