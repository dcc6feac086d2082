"""How the strict judge (``venues/sim/judge.py``) meets a cancel-all with its ground truth.

A cancel-all is one request per instrument at the venue; each that reached it is a ``cancel_all``
``SwitchEvent`` in the dialect's ``switches.log`` (processed or not, the orders it canceled).
Per instrument, the events are matched to our cancel-alls of that venue and symbol by time: an
event belongs to the cancel-all sent last before it arrived (a campaign sends the next cancel-all
of an instrument after the last one resolved, as ``Gateway.halt`` and a strategy do). Then:

- ACCEPTED ⇔ the venue processed it on every instrument;
- REJECTED ⇔ it canceled nothing: never processed, or processed with nothing left to cancel
  (what "proved to have done nothing" means for a cancel-all; resubmitting it is safe);
- UNKNOWN is *unresolved*; two events of one instrument in its window: *sent twice*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.model import CancelAllRequest, CommandStatus
from venues.sim.switches import SwitchEvent
from venues.sim.verdicts import CORRECT, UNRESOLVED, WRONG, Category, Finding, said

if TYPE_CHECKING:
    from venues.sim.judge import JudgedCommand
    from venues.sim.server import SimExchange

__all__ = ["CancelAllTruth", "cancel_all_truth", "judge_cancel_all", "native_symbols"]


@dataclass(frozen=True, slots=True)
class CancelAllTruth:
    """What the venue did with one cancel-all, instrument by instrument."""

    events: dict[str, list[SwitchEvent]]  # native symbol -> the events matched to this command

    @property
    def sent_twice(self) -> bool:
        return any(len(events) > 1 for events in self.events.values())

    @property
    def processed_everywhere(self) -> bool:
        return all(events and events[0].processed for events in self.events.values())

    @property
    def canceled_nothing(self) -> bool:
        return all(not (e.processed and e.canceled) for events in self.events.values() for e in events)

    def agrees(self, status: CommandStatus) -> bool:
        if status is CommandStatus.ACCEPTED:
            return self.processed_everywhere
        return status is CommandStatus.REJECTED and self.canceled_nothing

    def text(self) -> str:
        parts = []
        for symbol, events in sorted(self.events.items()):
            shown = ", ".join(
                f"{'processed' if e.processed else 'not processed'}"
                f"{f' ({e.fault})' if e.fault else ''}, canceled {len(e.canceled)}"
                for e in events
            )
            parts.append(f"{symbol}: {shown or 'never received'}")
        return "; ".join(parts)


def native_symbols(sim: SimExchange, venue: str, request: CancelAllRequest) -> list[str]:
    """The simulator's symbols for the request's unified instruments."""
    instruments = sim.venues[venue].engine.instruments.values()
    by_unified = {i.unified: i.symbol for i in instruments}
    return [by_unified.get(unified, unified) for unified in request.instruments]


def cancel_all_truth(
    sim: SimExchange,
    venue: str,
    request: CancelAllRequest,
    sent_ns: int,
    others: Sequence[tuple[int, CancelAllRequest]],
) -> CancelAllTruth:
    """The events of this cancel-all: per symbol, arrived after its send and before the next one's of that symbol.

    ``others`` are the campaign's other cancel-alls of ``venue``, with their sends.
    """
    dialect = sim.venues[venue].state.dialect
    log = dialect.switches.log if dialect is not None and dialect.switches is not None else None
    events: dict[str, list[SwitchEvent]] = {}
    for symbol in native_symbols(sim, venue, request):
        later = [t for t, other in others if t > sent_ns and symbol in native_symbols(sim, venue, other)]
        until = min(later, default=None)
        events[symbol] = [
            e
            for e in (log.of("cancel_all") if log is not None else [])
            if e.scope == symbol and e.arrived_ns >= sent_ns and (until is None or e.arrived_ns < until)
        ]
    return CancelAllTruth(events)


def judge_cancel_all(
    sim: SimExchange,
    command: JudgedCommand,
    campaign: Sequence[JudgedCommand],
    counts: dict[str, int],
    findings: list[Finding],
) -> str:
    """One cancel-all's verdict (the module docstring); ``campaign`` is every cancel-all the campaign sent."""
    request = command.handle.request
    assert isinstance(request, CancelAllRequest)
    others = [
        (c.sent_ns, c.handle.request)
        for c in campaign
        if c is not command and c.venue == command.venue and isinstance(c.handle.request, CancelAllRequest)
    ]
    truth = cancel_all_truth(sim, command.venue, request, command.sent_ns, others)
    receipt = command.handle.resolution

    def find(category: Category) -> None:
        findings.append(
            Finding(category, command.n, "cancel-all", command.venue, command.instrument, said(receipt), truth.text())
        )

    if truth.sent_twice:
        counts["sent_twice"] += 1
        find("sent_twice")
        return WRONG
    if receipt is None or receipt.status is CommandStatus.UNKNOWN_EXECUTION:
        counts["unresolved"] += 1
        find("unresolved")
        return UNRESOLVED
    if not truth.agrees(receipt.status):
        counts["cancel_alls_wrong"] += 1
        find("wrong")
        return WRONG
    counts["cancel_alls_correct"] += 1
    return CORRECT
