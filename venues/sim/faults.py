"""Fault injection for the simulator: scripted faults and seeded random campaigns, passed in as data.

A ``Fault`` names what goes wrong and which request it hits (venue, operation, transport,
client order id, symbol). The dialects ask the ``FaultPlan`` once per request with
``take(...)``; a scripted fault is consumed (``times``), then a running campaign may draw one.

Kinds, and what the *venue* really did (ground truth) versus what the client sees:

======================  =============  =====================================================
kind                    executed?      client sees
======================  =============  =====================================================
ACCEPT_THEN_TIMEOUT     yes            no answer (server holds the request past the timeout)
ACCEPT_THEN_RESET       yes            connection closed before the answer
ACCEPT_THEN_5XX         yes            HTTP 5xx (``status``; 503 "Unknown error" by default)
REJECT_THEN_5XX         no             HTTP 5xx: the venue failed before acting
UNKNOWN_CODE            ``executed``   a "status unknown" code (Binance -1007/-1006/-1000,
                                       Bybit 10000/10016): ``code`` picks it
REJECT_CODE             no             a definite rejection code (``code``)
RATE_LIMIT              no             429 / 418 / -1003 / Bybit 10006 with a wait
DELAYED_VISIBILITY      yes            a normal answer, but the order is invisible to every
                                       read for ``delay_seconds``
WS_DROP                 ``executed``   the WebSocket is closed after the request frame arrived
MALFORMED_2XX           yes            HTTP 200 / WS success with a truncated, unparsable body
STREAM_DUPLICATE        —              the next user-stream event for the order is sent twice
STREAM_OUT_OF_ORDER     —              the next two user-stream events swap places
STREAM_GAP              —              the user stream is dropped; events meanwhile are lost
======================  =============  =====================================================

Operations: ``create``, ``cancel``, ``amend`` (one order each), ``batch`` (one batch request:
its fault hits the whole answer; ``executed_items`` says how many items ran first), ``cancel_all``
(one cancel-all request), ``countdown`` (a Binance countdownCancelAll call), ``dcp`` (a Bybit
disconnected-cancel-all setting), ``query``
(``read`` matches it too), ``stream``, ``any``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

__all__ = ["Fault", "FaultCampaign", "FaultKind", "FaultPlan", "Operation"]

Operation = Literal[
    "create", "cancel", "amend", "batch", "cancel_all", "countdown", "dcp", "query", "read", "stream", "any"
]


class FaultKind(StrEnum):
    ACCEPT_THEN_TIMEOUT = "ACCEPT_THEN_TIMEOUT"
    ACCEPT_THEN_RESET = "ACCEPT_THEN_RESET"
    ACCEPT_THEN_5XX = "ACCEPT_THEN_5XX"
    REJECT_THEN_5XX = "REJECT_THEN_5XX"
    UNKNOWN_CODE = "UNKNOWN_CODE"
    REJECT_CODE = "REJECT_CODE"
    RATE_LIMIT = "RATE_LIMIT"
    DELAYED_VISIBILITY = "DELAYED_VISIBILITY"
    WS_DROP = "WS_DROP"
    MALFORMED_2XX = "MALFORMED_2XX"
    STREAM_DUPLICATE = "STREAM_DUPLICATE"
    STREAM_OUT_OF_ORDER = "STREAM_OUT_OF_ORDER"
    STREAM_GAP = "STREAM_GAP"

    @property
    def is_stream(self) -> bool:
        return self in (FaultKind.STREAM_DUPLICATE, FaultKind.STREAM_OUT_OF_ORDER, FaultKind.STREAM_GAP)


# What the venue really does with the request under each write fault (None: see ``executed``).
_EXECUTES: dict[FaultKind, bool | None] = {
    FaultKind.ACCEPT_THEN_TIMEOUT: True,
    FaultKind.ACCEPT_THEN_RESET: True,
    FaultKind.ACCEPT_THEN_5XX: True,
    FaultKind.REJECT_THEN_5XX: False,
    FaultKind.UNKNOWN_CODE: None,
    FaultKind.REJECT_CODE: False,
    FaultKind.RATE_LIMIT: False,
    FaultKind.DELAYED_VISIBILITY: True,
    FaultKind.WS_DROP: None,
    FaultKind.MALFORMED_2XX: True,
}


@dataclass(frozen=True)
class Fault:
    """One fault; fields left None match anything."""

    kind: FaultKind
    venue: Literal["binance", "bybit"] | None = None
    operation: Operation = "create"
    transport: Literal["rest", "ws"] | None = None
    client_order_id: str | None = None
    symbol: str | None = None
    times: int = 1
    # kind parameters
    status: int | None = None  # HTTP status for *_5XX / RATE_LIMIT (e.g. 502, 503, 429, 418)
    code: int | None = None  # venue code for UNKNOWN_CODE / REJECT_CODE / RATE_LIMIT
    message: str | None = None
    executed: bool = True  # UNKNOWN_CODE / WS_DROP: did the venue act before failing?
    delay_seconds: float = 2.0  # DELAYED_VISIBILITY hide time; ACCEPT_THEN_TIMEOUT hold time
    retry_after_seconds: float = 1.0  # RATE_LIMIT
    # A batch whose fault executes: how many of its items the venue ran before the answer was
    # lost (None: all of them). The rest were never run.
    executed_items: int | None = None

    @property
    def executes(self) -> bool:
        decided = _EXECUTES.get(self.kind)
        return self.executed if decided is None else decided

    def matches(
        self,
        venue: str,
        operation: Operation,
        transport: str | None,
        client_order_id: str | None,
        symbol: str | None,
    ) -> bool:
        # Stream kinds apply to user-stream events (operation "stream") whatever ``operation``
        # says (its default is "create"), and no other kind is ever consumed by a stream event.
        if self.kind.is_stream or operation == "stream":
            if self.kind.is_stream != (operation == "stream"):
                return False
            op_matches = True
        else:
            op_matches = (
                self.operation == "any"
                or self.operation == operation
                or (self.operation == "read" and operation == "query")
            )
        return (
            (self.venue is None or self.venue == venue)
            and op_matches
            and (self.transport is None or transport is None or self.transport == transport)
            and (self.client_order_id is None or self.client_order_id == client_order_id)
            and (self.symbol is None or self.symbol == symbol)
        )


# Kinds a random write campaign draws from by default (each one the reconciler must settle).
CAMPAIGN_KINDS: tuple[FaultKind, ...] = (
    FaultKind.ACCEPT_THEN_TIMEOUT,
    FaultKind.ACCEPT_THEN_RESET,
    FaultKind.ACCEPT_THEN_5XX,
    FaultKind.REJECT_THEN_5XX,
    FaultKind.UNKNOWN_CODE,
    FaultKind.DELAYED_VISIBILITY,
    FaultKind.WS_DROP,
    FaultKind.MALFORMED_2XX,
)


@dataclass
class FaultCampaign:
    """Seeded random faults on writes: each create/cancel is hit with ``probability``."""

    seed: int = 0
    probability: float = 0.2
    kinds: tuple[FaultKind, ...] = CAMPAIGN_KINDS
    operations: tuple[Operation, ...] = ("create", "cancel")
    venue: Literal["binance", "bybit"] | None = None
    timeout_hold_seconds: float = 2.0
    visibility_delay_seconds: float = 1.5
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(
        self, venue: str, operation: Operation, transport: str | None, unknown_codes: Sequence[int] = ()
    ) -> Fault | None:
        """One drawn fault or None; an UNKNOWN_CODE fault carries one of the venue's ``unknown_codes``."""
        if operation not in self.operations or (self.venue is not None and self.venue != venue):
            return None
        if self.rng.random() >= self.probability:
            return None
        kinds = [k for k in self.kinds if k is not FaultKind.WS_DROP or transport == "ws"]
        kind = self.rng.choice(kinds)
        code: int | None = None
        if kind is FaultKind.UNKNOWN_CODE and unknown_codes:
            code = self.rng.choice(unknown_codes)
        status = (
            self.rng.choice([502, 503, 504]) if kind in (FaultKind.ACCEPT_THEN_5XX, FaultKind.REJECT_THEN_5XX) else None
        )
        # A lost batch answer may come after only some of its items ran.
        executed_items = self.rng.randint(0, 3) if operation == "batch" and self.rng.random() < 0.5 else None
        return Fault(
            kind=kind,
            venue=venue,  # type: ignore[arg-type]
            operation=operation,
            executed_items=executed_items,
            code=code,
            status=status,
            executed=self.rng.random() < 0.5,
            delay_seconds=self.timeout_hold_seconds
            if kind is FaultKind.ACCEPT_THEN_TIMEOUT
            else self.visibility_delay_seconds,
        )


class FaultPlan:
    """Scripted faults (consumed in order of addition) plus an optional running campaign."""

    def __init__(self, faults: Iterable[Fault] = (), campaign: FaultCampaign | None = None):
        self._scripted: list[Fault] = []
        self.campaign = campaign
        self.applied: list[tuple[Fault, str | None]] = []  # (fault, client order id) in order
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("Fault.times must be >= 1")
        self._scripted.append(fault)

    def clear(self) -> None:
        self._scripted.clear()

    def start_campaign(self, campaign: FaultCampaign) -> None:
        self.campaign = campaign

    def stop_campaign(self) -> None:
        self.campaign = None

    @property
    def pending(self) -> list[Fault]:
        return list(self._scripted)

    def take(
        self,
        venue: str,
        operation: Operation,
        *,
        transport: str | None = None,
        client_order_id: str | None = None,
        symbol: str | None = None,
        unknown_codes: Sequence[int] = (),
    ) -> Fault | None:
        """The next scripted fault matching the request (consumed), else the campaign's draw, else None."""
        for i, fault in enumerate(self._scripted):
            if fault.matches(venue, operation, transport, client_order_id, symbol):
                if fault.times <= 1:
                    del self._scripted[i]
                else:
                    self._scripted[i] = replace(fault, times=fault.times - 1)
                self.applied.append((fault, client_order_id))
                return fault
        if self.campaign is not None:
            drawn = self.campaign.draw(venue, operation, transport, unknown_codes)
            if drawn is not None:
                self.applied.append((drawn, client_order_id))
            return drawn
        return None
