"""HandleRegistry: the gateway's command handles, live and recently final, and when a handle retires.

A handle is live from its creation until the fold (``gateway.fold``) says its command is final:
then its bus routes are dropped and the registry keeps it only weakly, where ``Gateway.handle``
still finds it for as long as anyone holds it (the journal answers for the others), and keeps its
id among the last ``_RECENT_HANDLES`` final ones, so a client order id is refused if reused.

Why weakly: a final handle held here for 10,000 more commands outlives two young collections,
so every one of its ~23 GC-tracked objects (models, their dicts and field sets, queues) reached
the oldest generation, and CPython's full collections, each walking every such object, then came
often enough to cost ~40 µs of CPU per order on the 50-in-flight benchmark rows (issue 16).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from gateway.bus import EventBus
from gateway.handle import CommandHandle, HandleState
from gateway.model import AmendRequest, CancelAllRequest, CancelRequest, CommandOperation, CommandStatus, OrderRequest

__all__ = ["HandleRegistry"]

_RECENT_HANDLES = 10_000


class HandleRegistry:
    """Live handles by command id; final ones while held elsewhere; the last ``_RECENT_HANDLES`` final ids."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.live: dict[str, CommandHandle] = {}
        self._recent: weakref.WeakValueDictionary[str, CommandHandle] = weakref.WeakValueDictionary()
        self._recent_ids: OrderedDict[str, None] = OrderedDict()
        # The gate's catch-up (GateQueue.caught_up) when a gate is on: every handle's resolved() awaits it.
        self.caught_up: Callable[[], Awaitable[None]] | None = None

    def __contains__(self, command_id: str) -> bool:
        return command_id in self.live or command_id in self._recent_ids or command_id in self._recent

    def get(self, command_id: str) -> CommandHandle | None:
        return self.live.get(command_id) or self._recent.get(command_id)

    def create(
        self,
        command_id: str,
        operation: CommandOperation,
        venue: str,
        instrument: str,
        client_order_id: str | None,
        request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest | None,
    ) -> CommandHandle:
        """A new live handle (not routed yet: the caller registers its bus keys)."""
        handle = CommandHandle._create(
            command_id=command_id,
            operation=operation,
            venue=venue,
            instrument=instrument,
            client_order_id=client_order_id,
            request=request,
        )
        handle._caught_up = self.caught_up
        self.live[command_id] = handle
        return handle

    def settle_if_final(self, handle: CommandHandle) -> None:
        """Retire the handle once its command is final (the one rule, shared with the replica and recovery)."""
        if handle.final:
            self.retire(handle)
            handle._mark_final()

    def retire(self, handle: CommandHandle) -> None:
        """Drop the handle's routes; keep it weakly and its id among the recent ones."""
        self._bus.drop(handle)
        self.live.pop(handle.command_id, None)
        self._recent[handle.command_id] = handle
        self._recent_ids[handle.command_id] = None
        while len(self._recent_ids) > _RECENT_HANDLES:
            self._recent_ids.popitem(last=False)

    def live_creates(self, venue: str) -> list[CommandHandle]:
        """The creates on ``venue`` whose order the gateway believes may still be live.

        Answered and not final, and either ACCEPTED with a non-terminal state or with a known
        order id (an unknown whose order the stream named). A walk over the live handles: it runs
        once per stream gap, not per update.
        """
        found = []
        for handle in self.live.values():
            if (
                handle.venue != venue
                or handle.operation is not CommandOperation.CREATE_ORDER
                or handle.state is not HandleState.ANSWERED
            ):
                continue
            resolution = handle._current_resolution()
            if resolution is not None and resolution.status is CommandStatus.REJECTED:
                continue
            state, _ = handle._venue_view()
            if state is not None and state.is_terminal:
                continue
            accepted = resolution is not None and resolution.status is CommandStatus.ACCEPTED
            if accepted or handle.order_id:
                found.append(handle)
        return found
