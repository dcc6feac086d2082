"""One simulated venue inside the shared server (``SimVenue``) and what the server asks of a dialect (``DialectSpec``).

The shared code never asks which venue it serves: each dialect package (``venues.sim.binance``,
``venues.sim.bybit``) hands in a ``DialectSpec`` naming its URLs, its order-id style, which HTTP
paths are its own, its "status unknown" codes and how to mount it, plus a typed settings object
(``VenueState`` subclass) that tests tune, e.g. ``sim.binance.state.weight_limit = 3``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from aiohttp import web

from venues.sim.engine import MatchingEngine, SimInstrument, SimOrder, WriteAttempt, now_ms
from venues.sim.faults import Fault, FaultKind, FaultPlan, Operation

__all__ = ["BatchItem", "DialectSpec", "RequestRecord", "SimVenue", "VenueName", "VenueState", "WriteResult"]

VenueName = Literal["binance", "bybit"]
WriteKind = Literal["create", "cancel", "amend"]
_OUTCOMES = {"create": "created", "cancel": "canceled", "amend": "amended"}


@dataclass
class VenueState:
    """A dialect's settings. Also read and set by name (``state["weight_limit"] = 3``) for callers that
    spell a setting as text; only declared fields are names, so a typo is a ``KeyError``, not a new key."""

    clock_offset_ms: int = 0  # server clock skew, for timestamp-window drills
    hedge_mode: bool = False  # the account's position mode: True answers as a hedge-mode account
    mark_interval_seconds: float = 1.0  # how often the public mark streams push (venues/sim/market.py)

    def server_ms(self) -> int:
        return now_ms() + self.clock_offset_ms

    def _check(self, key: str) -> None:
        if key not in {f.name for f in dataclasses.fields(self)}:
            raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        self._check(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._check(key)
        setattr(self, key, value)


S = TypeVar("S", bound=VenueState)


@dataclass(frozen=True, slots=True)
class DialectSpec(Generic[S]):
    """What the shared server needs from one dialect."""

    name: VenueName
    id_style: Literal["int", "uuid"]  # engine order ids: numeric (Binance) or UUID (Bybit)
    ws_api_path: str  # order entry over WebSocket, below ``ws://host:port``
    stream_path: str  # the user / private stream
    unknown_codes: tuple[int, ...]  # "status unknown" codes a random campaign draws from
    owns_path: Callable[[str], bool]  # HTTP paths logged as this venue's requests
    new_state: Callable[[], S]
    register: Callable[[web.Application, SimVenue[S]], None]
    post_only_cancels: bool = False  # a post-only order that would take: acked then canceled (Bybit)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    venue: str
    method: str  # HTTP verb, or "WS" for a WebSocket request frame
    path: str  # URL path, or the WS method/op
    time_ms: int


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One item of a batch write: the ids it names (for ground truth) and what the venue does with it."""

    client_order_id: str | None
    order_id: str | None
    act: Callable[[], SimOrder]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What became of one write: not executed (fault only), refused (``error``), or ``order``."""

    fault: Fault | None
    order: SimOrder | None = None
    error: Exception | None = None


@dataclass
class SimVenue(Generic[S]):
    """One simulated venue inside the shared server."""

    dialect: DialectSpec[S]
    engine: MatchingEngine
    faults: FaultPlan
    accounts: dict[str, str]  # api key -> secret (shared by both venues)
    state: S
    base_http: str = ""
    base_ws: str = ""
    requests: list[RequestRecord] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_mark: list[Callable[[str], None]] = field(default_factory=list)  # told the symbol whose mark moved

    def mark_moved(self, symbol: str) -> None:
        """Push ``symbol``'s new mark on the public streams at once (the periodic push would within a second)."""
        for hook in self.on_mark:
            hook(symbol)

    @classmethod
    def open(
        cls,
        dialect: DialectSpec[S],
        instruments: list[SimInstrument],
        faults: FaultPlan,
        accounts: dict[str, str],
        *,
        history_lag_ms: int = 0,
    ) -> SimVenue[S]:
        engine = MatchingEngine(
            dialect.name,
            instruments,
            id_style=dialect.id_style,
            history_lag_ms=history_lag_ms,
            post_only_cancels=dialect.post_only_cancels,
        )
        return cls(dialect, engine, faults, accounts, dialect.new_state())

    def mount(self, app: web.Application) -> None:
        self.dialect.register(app, self)

    @property
    def name(self) -> VenueName:
        return self.dialect.name

    @property
    def rest_url(self) -> str:
        return self.base_http

    @property
    def ws_api_url(self) -> str:
        return self.base_ws + self.dialect.ws_api_path

    @property
    def stream_url(self) -> str:
        return self.base_ws + self.dialect.stream_path

    def secret_for(self, api_key: str | None) -> str | None:
        return None if api_key is None else self.accounts.get(api_key)

    def log(self, method: str, path: str) -> None:
        self.requests.append(RequestRecord(self.name, method, path, now_ms()))

    def reads(self, since_ms: int = 0) -> list[RequestRecord]:
        """Read requests (GET and WS status queries) logged since ``since_ms``."""
        return [
            r
            for r in self.requests
            if r.time_ms >= since_ms and (r.method == "GET" or (r.method == "WS" and "status" in r.path))
        ]

    def take_fault(
        self,
        operation: Operation,
        *,
        transport: Literal["rest", "ws"] | None = None,
        client_order_id: str | None = None,
        symbol: str | None = None,
    ) -> Fault | None:
        """The fault for one request or stream event: stream kinds hit only stream events, the rest only requests."""
        fault = self.faults.take(
            self.name, operation, transport=transport, client_order_id=client_order_id, symbol=symbol,
            unknown_codes=self.dialect.unknown_codes,
        )  # fmt: skip
        if fault is not None and fault.kind.is_stream != (operation == "stream"):
            return None
        return fault

    def write(
        self,
        operation: WriteKind,
        transport: Literal["rest", "ws"],
        act: Callable[[], SimOrder],
        *,
        client_order_id: str | None,
        order_id: str | None,
        symbol: str | None,
        rejection: type[Exception],
        recorded_id: Callable[[SimOrder], str | None] = lambda order: order.client_order_id,
    ) -> WriteResult:
        """One create/cancel/amend the venue received, under the fault plan, recorded in ground truth.

        Takes the write's fault; a fault that does not execute skips ``act``; a ``rejection``
        raised by ``act`` is the venue refusing it; a DELAYED_VISIBILITY create is hidden from
        reads. Every outcome lands in ``attempts``.
        """
        fault = self.take_fault(operation, transport=transport, client_order_id=client_order_id, symbol=symbol)
        if fault is not None and not fault.executes:
            self.record_attempt(
                operation, transport, client_order_id=client_order_id, order_id=order_id, processed=False,
                outcome=f"fault:{fault.kind.value}", fault=fault,
            )  # fmt: skip
            return WriteResult(fault)
        try:
            order = act()
        except rejection as err:
            self.record_attempt(
                operation, transport, client_order_id=client_order_id, order_id=order_id, processed=False,
                outcome=f"rejected:{getattr(err, 'code', '?')}", fault=fault,
            )  # fmt: skip
            return WriteResult(fault, error=err)
        self.record_attempt(
            operation, transport, client_order_id=recorded_id(order), order_id=order.order_id, processed=True,
            outcome=_OUTCOMES[operation], fault=fault,
        )  # fmt: skip
        if operation == "create" and fault is not None and fault.kind is FaultKind.DELAYED_VISIBILITY:
            self.engine.hide_for(order, fault.delay_seconds)
        return WriteResult(fault, order=order)

    def write_batch(
        self,
        operation: Literal["create", "cancel"],
        transport: Literal["rest", "ws"],
        items: list[BatchItem],
        *,
        symbol: str | None,
        rejection: type[Exception],
        recorded_id: Callable[[SimOrder], str | None] = lambda order: order.client_order_id,
    ) -> tuple[Fault | None, list[WriteResult]]:
        """One batch request: its one fault (operation "batch"), then each item as the venue runs them.

        A fault that does not execute skips every item; one that does runs the first
        ``fault.executed_items`` items (all when None) and skips the rest: a batch whose answer is
        lost after some of its items executed. Each item lands in ``attempts`` like a single write.
        """
        first = next((item.client_order_id for item in items if item.client_order_id), None)
        fault = self.take_fault("batch", transport=transport, client_order_id=first, symbol=symbol)
        if fault is None or not fault.executes:
            runs = 0 if fault is not None else len(items)
        else:
            runs = len(items) if fault.executed_items is None else min(len(items), fault.executed_items)
        results: list[WriteResult] = []
        for index, item in enumerate(items):
            if index >= runs:
                self.record_attempt(
                    operation, transport, client_order_id=item.client_order_id, order_id=item.order_id,
                    processed=False, outcome=f"fault:{fault.kind.value}" if fault else "skipped", fault=fault,
                )  # fmt: skip
                results.append(WriteResult(fault))
                continue
            try:
                order = item.act()
            except rejection as err:
                self.record_attempt(
                    operation, transport, client_order_id=item.client_order_id, order_id=item.order_id,
                    processed=False, outcome=f"rejected:{getattr(err, 'code', '?')}", fault=fault,
                )  # fmt: skip
                results.append(WriteResult(fault, error=err))
                continue
            self.record_attempt(
                operation, transport, client_order_id=recorded_id(order), order_id=order.order_id, processed=True,
                outcome=_OUTCOMES[operation], fault=fault,
            )  # fmt: skip
            results.append(WriteResult(fault, order=order))
        return fault, results

    def record_attempt(
        self,
        operation: WriteKind,
        transport: Literal["rest", "ws"],
        *,
        client_order_id: str | None,
        order_id: str | None,
        processed: bool,
        outcome: str,
        fault: Fault | None,
    ) -> None:
        self.engine.record_attempt(
            WriteAttempt(
                venue=self.name,
                operation=operation,
                transport=transport,
                client_order_id=client_order_id,
                order_id=order_id,
                processed=processed,
                outcome=outcome,
                fault=fault.kind.value if fault else None,
                time_ms=now_ms(),
            )
        )
