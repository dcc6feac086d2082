"""HandleRegistry: the gateway's command handles, live and recently final, and when a handle retires.

A handle is live from its creation until the fold (``gateway.fold``) says its command is final:
then its bus routes are dropped and it moves to a bounded list of recent handles, where
``Gateway.handle`` still finds it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from gateway.bus import EventBus
from gateway.handle import CommandHandle, HandleState
from gateway.model import AmendRequest, CancelAllRequest, CancelRequest, CommandOperation, CommandStatus, OrderRequest

__all__ = ["HandleRegistry"]

_RECENT_HANDLES = 10_000


class HandleRegistry:
    """Live handles by command id, and the last ``_RECENT_HANDLES`` final ones."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.live: dict[str, CommandHandle] = {}
        self._recent: OrderedDict[str, CommandHandle] = OrderedDict()
        # The gate's catch-up (GateQueue.caught_up) when a gate is on: every handle's resolved() awaits it.
        self.caught_up: Callable[[], Awaitable[None]] | None = None

    def __contains__(self, command_id: str) -> bool:
        return command_id in self.live or command_id in self._recent

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
        """Drop the handle's routes and move it to the recent handles."""
        self._bus.drop(handle)
        self.live.pop(handle.command_id, None)
        self._recent[handle.command_id] = handle
        while len(self._recent) > _RECENT_HANDLES:
            self._recent.popitem(last=False)

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
