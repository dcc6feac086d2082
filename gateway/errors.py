"""Every error the gateway's parts raise, in one module at the bottom of the dependency graph.

Caller mistakes (raised before anything is sent)::

    InvalidOrderError (ValueError)  a request breaks a rule; names the field and the rule
      UnknownInstrumentError        the instrument is not listed on the venue
      UnknownVenueError             the venue is not configured on this gateway
      DuplicateCommandError         a client order id this gateway already used
    RiskRejected                    the portfolio gate refused: names the limit, current, requested, cap

Write outcomes, classified by what the evidence *proves*, never by what is likely::

    VenueError
      NotSent            nothing was written: connect refused, DNS/TLS, pool wait, local check.
                         The command provably did not execute -> REJECTED, safe_to_resubmit.
      Rejected           the venue answered with a code that rejects the request (filters,
                         margin, signature, clock) or a rate-limit answer given before
                         processing (429/418/-1003/10006...) -> REJECTED (retriable + retry_after
                         for rate limits; safe_to_resubmit because the venue refused it).
      OutcomeUnknown     the request may have been written and no proof came back: timeout
                         after write, reset, any 5xx, "status unknown" codes, a 2xx body that
                         cannot be parsed, a WebSocket closed before its answer
                         -> UNKNOWN_EXECUTION: reconcile, never resend.
      DuplicateEvidence  the venue says this client order id already exists: an earlier
                         attempt landed -> UNKNOWN_EXECUTION, reconciled by client id.

Adapters raise these inside their transport code and turn them into receipts with
``venues.base.receipt_for_error``; ``submit``/``cancel`` never raise for a venue outcome.
Reads (used by the reconciler and the gap refresh) raise ``VenueReadError`` subclasses; a read
never decides an outcome by itself failing. ``ResolutionTimeout``: ``handle.resolved()`` gave up
waiting, the command is still UNKNOWN_EXECUTION.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

__all__ = [
    "DuplicateCommandError",
    "DuplicateEvidence",
    "GatewayClosedError",
    "InvalidOrderError",
    "InvalidReadRequest",
    "NotSent",
    "OutcomeUnknown",
    "Rejected",
    "ResolutionTimeout",
    "RiskRejected",
    "UnknownInstrumentError",
    "UnknownVenueError",
    "VenueError",
    "VenueRateLimited",
    "VenueReadError",
    "VenueUnreachable",
]


# --------------------------------------------------------------------------- caller mistakes


class InvalidOrderError(ValueError):
    """A request breaks a venue rule; raised before anything is sent. Names the field and rule."""

    def __init__(self, field: str, rule: str, *, venue: str | None = None, instrument: str | None = None):
        self.field = field
        self.rule = rule
        where = " ".join(x for x in (venue, instrument) if x)
        super().__init__(f"{field}: {rule}" + (f" ({where})" if where else ""))


class UnknownInstrumentError(InvalidOrderError):
    def __init__(self, instrument: str, venue: str):
        super().__init__("instrument", f"{instrument!r} is not listed on {venue}", venue=venue)


class UnknownVenueError(InvalidOrderError):
    def __init__(self, venue: str, known: Sequence[str]):
        super().__init__("venue", f"{venue!r} is not configured; known venues: {', '.join(sorted(known)) or 'none'}")


class GatewayClosedError(RuntimeError):
    """The gateway is not open: use ``async with Gateway(...) as gw``."""


class DuplicateCommandError(InvalidOrderError):
    def __init__(self, client_order_id: str):
        super().__init__(
            "client_order_id", f"{client_order_id!r} is already used by a command of this gateway; ids are never reused"
        )


class RiskRejected(Exception):
    """A portfolio-gate refusal. Nothing was sent; the order is safe to resubmit once the limit allows."""

    def __init__(
        self,
        message: str,
        *,
        limit: str | None = None,
        current: Decimal | int | None = None,
        requested: Decimal | int | None = None,
        cap: Decimal | int | None = None,
    ):
        super().__init__(message)
        self.limit = limit
        self.current = current
        self.requested = requested
        self.cap = cap

    @classmethod
    def for_limit(
        cls, limit: str, *, current: Decimal | int, requested: Decimal | int, cap: Decimal | int
    ) -> RiskRejected:
        return cls(
            f"risk limit {limit}: current {_plain(current)} + requested {_plain(requested)}"
            f" would exceed cap {_plain(cap)}",
            limit=limit,
            current=current,
            requested=requested,
            cap=cap,
        )


def _plain(value: Decimal | int) -> str:
    """Decimals without exponent or trailing zeros, so every ledger words a refusal alike."""
    text = format(Decimal(value).normalize(), "f")
    return text


# --------------------------------------------------------------------------- write outcomes


class VenueError(Exception):
    """Base of the write-outcome tree; carries the native code and message when there is one."""

    def __init__(self, message: str, *, native_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.native_code = native_code


class NotSent(VenueError):
    """Nothing left this process (or nothing reached the venue): provably not executed."""


class Rejected(VenueError):
    """The venue refused the request with a definite code: not executed."""

    def __init__(
        self,
        message: str,
        *,
        native_code: str | None = None,
        retriable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message, native_code=native_code)
        self.retriable = retriable
        self.retry_after = retry_after


class OutcomeUnknown(VenueError):
    """The request may have executed and no answer proves either way: reconcile."""


class DuplicateEvidence(OutcomeUnknown):
    """The venue already holds this client order id: evidence an earlier attempt landed."""


# --------------------------------------------------------------------------- read failures


class VenueReadError(Exception):
    """A read for reconciliation failed; it proves nothing about any command."""


class InvalidReadRequest(VenueReadError):
    """A read named an id the venue cannot take (checked before anything is sent)."""

    def __init__(self, field: str, rule: str, *, venue: str | None = None):
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}" + (f" ({venue})" if venue else ""))


class VenueUnreachable(VenueReadError):
    """Connection refused / timed out / 5xx on a read."""


class VenueRateLimited(VenueReadError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# --------------------------------------------------------------------------- waiting


class ResolutionTimeout(asyncio.TimeoutError):
    """``resolved()`` gave up waiting: the command is still UNKNOWN_EXECUTION (never resend it)."""
