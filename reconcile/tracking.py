"""The reconciler's tracked set and its pass loop.

``TrackedSet`` holds every command being settled, one ``Tracked`` entry each (its timing, its
misses and reads so far, its open attempt), indexed by the orders it names, ``(kind, venue,
id)`` with kind ``"cid"`` or ``"oid"``: a stream update finds its commands by lookup, never by
a scan, so it costs the same with ten thousand tracked commands as with none. ``PassLoop``
runs a pass every interval, or at once when woken.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from gateway.model import OrderReport, ReconcileTrigger
from gateway.ports import PendingCommand

__all__ = ["Key", "PassLoop", "Tracked", "TrackedSet", "order_keys", "target_keys"]

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # ("cid" | "oid", venue, id)

_SLOW_FACTOR = 4.0  # polling slows down this much after STILL_UNCERTAIN
_MAX_DOUBLINGS = 6


def target_keys(command: PendingCommand) -> list[Key]:
    """The order a command names: a create's own ids, or a cancel's target."""
    keys: list[Key] = []
    if command.client_order_id:
        keys.append(("cid", command.venue, command.client_order_id))
    if command.order_id:
        keys.append(("oid", command.venue, command.order_id))
    return keys


def order_keys(order: OrderReport) -> list[Key]:
    """The keys a venue view of an order is known by."""
    keys: list[Key] = [("oid", order.venue, order.order_id)]
    if order.client_order_id:
        keys.append(("cid", order.venue, order.client_order_id))
    return keys


@dataclass
class Tracked:
    """One command being settled, and what the reconciler learned about it so far."""

    command: PendingCommand
    trigger: ReconcileTrigger
    sent_s: float  # epoch seconds of the send
    grace_s: float
    deadline_s: float
    next_due: float = 0.0  # epoch seconds
    misses: int = 0  # not-found reads (query or batch)
    complete_misses: int = 0  # of which complete batch reads
    last_miss_s: float = 0.0
    reads: int = 0
    queried: bool = False  # a query by id is worth one try; after a miss only batches re-read it
    uncertain_reported: bool = False
    waits: int = 0  # passes spent inside the grace window after a complete miss (backs off)
    attempt_open: bool = True
    reason: str = "grace window not passed"
    keys: tuple[Key, ...] = ()  # the index entries this command is filed under

    def schedule_after_miss(self, now: float, interval_s: float) -> None:
        """When to read again after a pass without proof.

        Inside the grace window a read can only find a late order (the stream may tell us
        first): after a complete miss polls back off, doubling, but the next one lands the
        moment the window ends, when absence becomes provable. After STILL_UNCERTAIN polling
        is slower.
        """
        interval = interval_s * (_SLOW_FACTOR if self.uncertain_reported else 1.0)
        grace_ends = self.sent_s + self.grace_s
        if self.complete_misses and now < grace_ends:
            self.waits += 1
            self.next_due = min(now + interval * 2 ** min(self.waits, _MAX_DOUBLINGS), grace_ends)
        else:
            self.next_due = now + interval


class TrackedSet:
    """Tracked commands by command id, and their ids by the order keys they name."""

    def __init__(self) -> None:
        self.entries: dict[str, Tracked] = {}
        self.index: dict[Key, set[str]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, command_id: str) -> bool:
        return command_id in self.entries

    def get(self, command_id: str) -> Tracked | None:
        return self.entries.get(command_id)

    def all(self) -> list[Tracked]:
        return list(self.entries.values())

    def add(self, entry: Tracked) -> None:
        """File ``entry`` under the keys its command names, replacing any entry of the same command."""
        command_id = entry.command.command_id
        self.remove(command_id)
        self.entries[command_id] = entry
        entry.keys = tuple(target_keys(entry.command))
        for key in entry.keys:
            self.index.setdefault(key, set()).add(command_id)

    def remove(self, command_id: str) -> Tracked | None:
        entry = self.entries.pop(command_id, None)
        if entry is None:
            return None
        for key in entry.keys:
            ids = self.index.get(key)
            if ids is not None:
                ids.discard(command_id)
                if not ids:
                    del self.index[key]
        return entry

    def ids_for(self, keys: Iterable[Key]) -> set[str]:
        """Ids of the tracked commands naming any of ``keys``."""
        found: set[str] = set()
        for key in keys:
            found.update(self.index.get(key, ()))
        return found

    def due(self, now: float, *, force: bool) -> list[Tracked]:
        return [entry for entry in self.entries.values() if force or entry.next_due <= now]


class PassLoop:
    """Runs ``run_pass`` every ``interval_s``, or at once when woken, while ``busy()`` says there is work."""

    def __init__(self, interval_s: float, run_pass: Callable[[], Awaitable[object]], busy: Callable[[], bool]) -> None:
        self._interval_s = interval_s
        self._run_pass = run_pass
        self._busy = busy
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="reconciler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, not ``await task`` under suppress(CancelledError): a cancel of the
            # caller itself must still reach the caller.
            await asyncio.wait([self._task])
            self._task = None

    async def _loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands as the
            # wake event fires, and the loop (and close()) would then run forever.
            try:
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._busy():
                continue
            try:
                await self._run_pass()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any bug in one pass
                log.exception("reconciliation pass failed; continuing")
