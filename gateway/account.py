"""The account vocabulary: positions, balances, the position mode, and the ``PositionDrift`` audit event.

Bottom layer beside ``gateway.model`` (it imports only that): adapters translate the venues'
position and balance payloads into these frozen models, the gateway's account book and the
portfolio gate speak only these.

- ``Position``: one instrument's position on one venue account. ``quantity`` is signed
  (+ long, - short), ``notional = quantity x mark_price`` (signed). A venue *update* may carry
  ``quantity == 0`` (the position was closed); ``Gateway.positions()`` lists only open ones.
- ``Balance``: one asset's wallet and available balance, as the venue states them.
- ``PositionMode``: one-way (one net position per instrument, what the gateway supports) or
  hedge (separate long and short legs; refused at start, see ``HedgeModeError``).
- ``PositionDrift``: the venue's position and the gate's disagreed at a position check; both
  figures are recorded on the audit stream (it takes a bus sequence like every lifecycle event)
  and the gate adopted the venue's.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from gateway.model import LIFECYCLE_KINDS, LifecycleEvent, utc_now
from gateway.safety import DeadMansSwitch

__all__ = [
    "AUDIT_ONLY_KINDS",
    "AnyAuditEvent",
    "Balance",
    "HedgeModeError",
    "Position",
    "PositionDrift",
    "PositionMode",
    "position_command_id",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class PositionMode(StrEnum):
    ONE_WAY = "ONE_WAY"  # Binance dualSidePosition=false; Bybit positionIdx 0
    HEDGE = "HEDGE"  # Binance dualSidePosition=true (LONG/SHORT legs); Bybit positionIdx 1/2


class Position(BaseModel):
    """One instrument's net position on one venue account (see the module docstring)."""

    model_config = _FROZEN

    venue: str
    instrument: str
    quantity: Decimal  # signed: + long, - short
    entry_price: Decimal
    mark_price: Decimal
    notional: Decimal  # quantity x mark_price, signed
    updated_at: datetime = Field(default_factory=utc_now)

    @classmethod
    def at_mark(
        cls,
        venue: str,
        instrument: str,
        quantity: Decimal,
        entry_price: Decimal,
        mark_price: Decimal,
        updated_at: datetime | None = None,
    ) -> Position:
        """A position whose notional is computed here, so it always equals quantity x mark."""
        return cls(
            venue=venue,
            instrument=instrument,
            quantity=quantity,
            entry_price=entry_price,
            mark_price=mark_price,
            notional=quantity * mark_price,
            updated_at=updated_at or utc_now(),
        )

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0


class Balance(BaseModel):
    """One asset's balance: ``wallet`` and ``available`` are the venue's own figures."""

    model_config = _FROZEN

    venue: str
    asset: str
    wallet: Decimal
    available: Decimal
    updated_at: datetime = Field(default_factory=utc_now)


def position_command_id(venue: str, instrument: str) -> str:
    """The audit stream's id for one position's events: "|" is outside every command id's charset, so none collides."""
    return f"position|{venue}|{instrument}"


class PositionDrift(LifecycleEvent):
    """The venue's position differed from the gate's at a position check; the gate adopted the venue's."""

    kind: Literal["PositionDrift"] = "PositionDrift"
    venue: str
    instrument: str
    venue_quantity: Decimal
    gate_quantity: Decimal
    venue_notional: Decimal
    gate_notional: Decimal
    mark_price: Decimal
    adopted: bool = True


# Audit-stream kinds that belong to no command: journaled and replicated, never routed to a handle.
# A dead-man's switch change (gateway/safety.py) is one too.
AUDIT_ONLY_KINDS: tuple[type[LifecycleEvent], ...] = (PositionDrift, DeadMansSwitch)

# Built from the kinds rather than spelled out, so a lifecycle kind added to the model decodes here too.
AnyAuditEvent: Any = Annotated[Union[(*LIFECYCLE_KINDS, *AUDIT_ONLY_KINDS)], Field(discriminator="kind")]
"""Every kind the audit stream carries (the lifecycle kinds and ``PositionDrift``), for decoding the journal."""


class HedgeModeError(RuntimeError):
    """A venue account is in hedge mode: the gateway nets one position per instrument and refuses to start."""

    def __init__(self, venue: str, how_to_switch: str):
        super().__init__(
            f"venue {venue!r}: the account is in hedge mode (separate long and short positions per instrument); "
            f"this gateway supports one-way mode only and refuses to start rather than mistake one leg for the "
            f"net position. Switch the account to one-way mode: {how_to_switch}"
        )
        self.venue = venue
        self.how_to_switch = how_to_switch
