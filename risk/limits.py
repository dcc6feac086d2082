"""RiskLimits: the caps the portfolio gate enforces (None disables a limit)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RiskLimits"]


class RiskLimits(BaseModel):
    """Portfolio limits, in the quote currency for notional caps.

    - ``max_gross_exposure``: |positions| + outstanding reservations, across every venue.
    - ``max_notional_per_order``: price x quantity of one order (MARKET: the reference price).
    - ``max_position_notional``: |position| + reservations on one (venue, instrument).
    - ``max_concurrent_positions``: instruments with a position or a live reservation.
    - ``max_open_orders``: live reservations (orders open or of unknown outcome).
    - ``max_orders_per_second`` / ``max_orders_per_second_per_venue``: sliding one-second windows.
    - ``reservation_ttl_seconds``: the safety net; a reservation older than this is dropped
      (with a WARNING, since its command may still be unknown).
    - ``max_reference_age_seconds``: a MARKET order's notional is checked at the venue's mark; a mark
      older than this (the mark stream down, the REST fallback failed too) refuses the order.
      Applies only while a notional limit does (``needs_price``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_gross_exposure: Decimal | None = Field(default=None, gt=0)
    max_notional_per_order: Decimal | None = Field(default=None, gt=0)
    max_position_notional: Decimal | None = Field(default=None, gt=0)
    max_concurrent_positions: int | None = Field(default=None, ge=1)
    max_open_orders: int | None = Field(default=None, ge=1)
    max_orders_per_second: int | None = Field(default=None, ge=1)
    max_orders_per_second_per_venue: int | None = Field(default=None, ge=1)
    reservation_ttl_seconds: float = Field(default=3600.0, gt=0)
    max_reference_age_seconds: float = Field(default=10.0, gt=0)

    @property
    def needs_price(self) -> bool:
        return any(
            v is not None for v in (self.max_gross_exposure, self.max_notional_per_order, self.max_position_notional)
        )
