"""What both simulator dialects share for "cancel everything": cancel-all, dead-man's-switch timers, ground truth.

- ``cancel_open``: every open order of an account on some symbols canceled at once, hidden
  (delayed-visibility) ones included, each with the engine's normal cancel event, so the user
  streams show them as any cancel.
- ``Countdowns``: one timer per (account, scope); arming replaces the running one, disarming
  drops it, and a timer that lapses calls the dialect back (Binance: one per symbol; Bybit DCP:
  one per account and product, started when its last subscribed private connection drops).
  ``lapse_now`` lets a test fire one without waiting.
- ``SwitchLog``: ground truth of these requests and timers (``sim.<venue>.state.dialect.switches``):
  every cancel-all received and what it canceled, every arm / disarm / lapse, whatever the
  client was told.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from venues.sim.engine import MatchingEngine, SimOrder, now_ms
from venues.sim.faults import Fault

__all__ = ["Countdowns", "SwitchEvent", "SwitchKind", "SwitchLog", "cancel_open"]

SwitchKind = Literal["cancel_all", "arm", "disarm", "lapse"]


@dataclass(frozen=True, slots=True)
class SwitchEvent:
    """One cancel-all request or switch change as the venue saw it (ground truth)."""

    kind: SwitchKind
    account: str
    scope: str  # a symbol, or "linear" for Bybit's account-wide forms
    processed: bool  # did the venue act on it (a fault that does not execute: False)
    canceled: tuple[str, ...] = ()  # order ids it canceled
    fault: str | None = None
    seconds: float | None = None  # the countdown armed
    time_ms: int = field(default_factory=now_ms)
    arrived_ns: int = field(default_factory=time.monotonic_ns)


class SwitchLog:
    """Every ``SwitchEvent`` of one venue, in arrival order."""

    def __init__(self) -> None:
        self.events: list[SwitchEvent] = []

    def record(
        self,
        kind: SwitchKind,
        account: str,
        scope: str,
        *,
        processed: bool,
        canceled: Iterable[SimOrder] = (),
        fault: Fault | None = None,
        seconds: float | None = None,
    ) -> SwitchEvent:
        event = SwitchEvent(
            kind,
            account,
            scope,
            processed,
            tuple(o.order_id for o in canceled),
            fault.kind.value if fault is not None else None,
            seconds,
        )
        self.events.append(event)
        return event

    def of(self, kind: SwitchKind) -> list[SwitchEvent]:
        return [e for e in self.events if e.kind == kind]

    def canceled_by_switches(self) -> set[str]:
        """Order ids a cancel-all or a lapsed switch canceled."""
        return {oid for e in self.events if e.kind in ("cancel_all", "lapse") for oid in e.canceled}


def cancel_open(
    engine: MatchingEngine,
    account: str,
    symbols: Iterable[str],
    limit: int | None = None,
    reason: str = "canceled by user",
) -> list[SimOrder]:
    """Cancel every open order of ``account`` on ``symbols`` (oldest first, at most ``limit``), for ``reason``."""
    wanted = set(symbols)
    open_orders = sorted(
        (o for o in engine.orders.values() if o.account == account and o.symbol in wanted and o.is_open),
        key=lambda o: o.numeric_id,
    )
    if limit is not None:
        open_orders = open_orders[:limit]
    for order in open_orders:
        engine.cancel(account, order.symbol, order_id=order.order_id, reason=reason)
    return open_orders


class Countdowns:
    """Dead-man's-switch timers keyed by (account, scope); ``fire(account, scope)`` when one lapses."""

    def __init__(self, fire: Callable[[str, str], None]):
        self._fire = fire
        self._timers: dict[tuple[str, str], tuple[asyncio.TimerHandle, float]] = {}

    def arm(self, account: str, scope: str, seconds: float) -> None:
        """Start (or restart: a heartbeat) the countdown."""
        self.disarm(account, scope)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(seconds, self._lapse, account, scope)
        self._timers[(account, scope)] = (handle, time.monotonic() + seconds)

    def disarm(self, account: str, scope: str) -> bool:
        """Stop the countdown; whether one was running."""
        found = self._timers.pop((account, scope), None)
        if found is not None:
            found[0].cancel()
        return found is not None

    def deadline(self, account: str, scope: str) -> float | None:
        """When (monotonic seconds) the running countdown lapses, None when none runs."""
        found = self._timers.get((account, scope))
        return None if found is None else found[1]

    def armed(self) -> list[tuple[str, str]]:
        return list(self._timers)

    def lapse_now(self, account: str, scope: str) -> None:
        """Tests: let a running countdown lapse at once."""
        if (account, scope) in self._timers:
            self.disarm(account, scope)
            self._fire(account, scope)

    def _lapse(self, account: str, scope: str) -> None:
        self._timers.pop((account, scope), None)
        self._fire(account, scope)

    def close(self) -> None:
        for handle, _ in self._timers.values():
            handle.cancel()
        self._timers.clear()
