"""The dead-man's switch vocabulary: its states and the audit event that records each change.

Bottom layer beside ``gateway.model`` (it imports only that). An adapter built with
``dead_mans_switch_seconds`` arms the venue's switch (Binance ``countdownCancelAll`` per
instrument, Bybit's disconnect cancel-all per account) and tells the gateway every change of it
through ``VenueEventSink.switch_changed``; the gateway logs it and puts a ``DeadMansSwitch``
event on the audit stream (it takes a bus sequence like every lifecycle event, belongs to no
command and is never routed to a handle).

States, per venue and scope (an instrument, or ``ACCOUNT_SCOPE`` for Bybit's account-wide switch):

- ``ARMED``: the venue holds a countdown of ``seconds``; heartbeats keep restarting it;
- ``UNAVAILABLE``: it cannot be armed (Bybit: DCP not enabled for the account by the venue; a
  failed arm): the adapter trades on, unprotected, and says so in ``detail``;
- ``HEARTBEAT_FAILED``: a heartbeat failed (logged, retried at once and on every tick);
- ``LAPSED``: no heartbeat is known to have reached the venue for longer than the countdown:
  the venue may have canceled every resting order; the gateway re-reads them;
- ``RESTORED``: a heartbeat got through again after a lapse (the switch is armed again);
- ``DISARMED``: a clean ``close()`` stopped the switch.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from gateway.model import LifecycleEvent

__all__ = ["ACCOUNT_SCOPE", "DeadMansSwitch", "SwitchState", "switch_command_id"]

ACCOUNT_SCOPE = "account"  # the scope of a switch that covers the whole account (Bybit DCP)


class SwitchState(StrEnum):
    ARMED = "ARMED"
    UNAVAILABLE = "UNAVAILABLE"
    HEARTBEAT_FAILED = "HEARTBEAT_FAILED"
    LAPSED = "LAPSED"
    RESTORED = "RESTORED"
    DISARMED = "DISARMED"


def switch_command_id(venue: str, scope: str) -> str:
    """The audit stream's id for one switch's events: "|" is outside every command id's charset."""
    return f"switch|{venue}|{scope}"


class DeadMansSwitch(LifecycleEvent):
    """One change of a venue's dead-man's switch (see the module docstring)."""

    kind: Literal["DeadMansSwitch"] = "DeadMansSwitch"
    venue: str
    scope: str
    state: SwitchState
    seconds: float
    detail: str = ""
