"""Sequenced event bus: stamps every lifecycle event and routes it to its command's handles.

- Every event gets a gateway-wide, strictly increasing ``sequence`` (the audit order the
  journal records and ``StateReplica`` replays).
- Routing is by command identity only, through dict lookups: ``("cid", venue, client id)``,
  ``("oid", venue, order id)``, ``("cmd", command id)``. Never by instrument, never by
  scanning handles, so routing cost does not grow with the number of live handles.
- A handle marked final is dropped from every route, so memory stays bounded by the
  commands still in flight.
- Taps (the journal, a live ``StateReplica``) see every event after it is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.handle import CommandHandle
from gateway.model import EvidenceSource, LifecycleEvent, OrderReport, OrderUpdate

__all__ = ["EventBus", "RouteKey"]

log = logging.getLogger(__name__)

RouteKey = tuple[str, ...]


class EventBus:
    def __init__(self) -> None:
        self._sequence = 0
        self._routes: dict[RouteKey, list[CommandHandle]] = {}
        self._keys: dict[int, list[RouteKey]] = {}  # id(handle) -> its route keys
        self._taps: list[Callable[[LifecycleEvent], None]] = []

    # ------------------------------------------------------------------ sequence

    @property
    def sequence(self) -> int:
        """The last sequence handed out."""
        return self._sequence

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def resume_from(self, sequence: int) -> None:
        """Continue numbering after a journal's last sequence (sequences never repeat)."""
        self._sequence = max(self._sequence, sequence)

    # ------------------------------------------------------------------ routes

    @staticmethod
    def client_key(venue: str, client_order_id: str) -> RouteKey:
        return ("cid", venue, client_order_id)

    @staticmethod
    def order_key(venue: str, order_id: str) -> RouteKey:
        return ("oid", venue, order_id)

    @staticmethod
    def command_key(command_id: str) -> RouteKey:
        return ("cmd", command_id)

    def register(self, handle: CommandHandle, *keys: RouteKey) -> None:
        self.add_routes(handle, self.command_key(handle.command_id), *keys)

    def add_routes(self, handle: CommandHandle, *keys: RouteKey) -> None:
        owned = self._keys.setdefault(id(handle), [])
        for key in keys:
            if key in owned:
                continue
            owned.append(key)
            self._routes.setdefault(key, []).append(handle)

    def drop(self, handle: CommandHandle) -> None:
        """Forget a final handle: it receives nothing more and holds no bus memory."""
        for key in self._keys.pop(id(handle), ()):
            handles = self._routes.get(key)
            if handles is None:
                continue
            try:
                handles.remove(handle)
            except ValueError:
                pass
            if not handles:
                del self._routes[key]

    def has_route(self, key: RouteKey) -> bool:
        return key in self._routes

    def handles_for(self, *keys: RouteKey) -> list[CommandHandle]:
        found: list[CommandHandle] = []
        for key in keys:
            for handle in self._routes.get(key, ()):
                if handle not in found:
                    found.append(handle)
        return found

    @property
    def route_count(self) -> int:
        return len(self._routes)

    # ------------------------------------------------------------------ publishing

    def add_tap(self, tap: Callable[[LifecycleEvent], None]) -> None:
        self._taps.append(tap)

    def emit(
        self, handle: CommandHandle | None, kind: type[LifecycleEvent], command_id: str, **fields: Any
    ) -> LifecycleEvent:
        """Stamp one event with the next sequence, deliver it to ``handle`` (if live), then tap it."""
        event = kind(sequence=self.next_sequence(), command_id=command_id, **fields)
        if handle is not None:
            handle._deliver(event)
        for tap in self._taps:
            try:
                tap(event)
            except Exception:  # an audit consumer must never break delivery
                log.exception("bus tap failed on event %s", event.sequence)
        return event

    def route_order_update(self, order: OrderReport, source: EvidenceSource) -> list[CommandHandle]:
        """Deliver a venue order update to every live handle of that order (its create, its cancels)."""
        keys: list[RouteKey] = []
        if order.client_order_id:
            keys.append(self.client_key(order.venue, order.client_order_id))
        if order.order_id:
            keys.append(self.order_key(order.venue, order.order_id))
        handles = self.handles_for(*keys)
        for handle in handles:
            if order.order_id and handle.order_id is None:
                self.add_routes(handle, self.order_key(order.venue, order.order_id))
            self.emit(handle, OrderUpdate, handle.command_id, order=order, source=source)
        return handles
