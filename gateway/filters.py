"""Instrument filters: a venue's trading rules for one instrument, checked before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, DecimalException

from gateway.errors import InvalidOrderError
from gateway.model import OrderRequest, OrderType, amount_violation

__all__ = ["InstrumentFilters", "check_amount"]


def check_amount(field: str, value: object, *, venue: str | None = None, instrument: str | None = None) -> None:
    """Raise ``InvalidOrderError`` unless ``value`` is a sendable quantity/price (``amount_violation``).

    Repeated at the venue because ``model_copy(update=...)`` and ``model_construct`` skip the
    model's validators: nothing reaches a venue, or filter arithmetic, unchecked.
    """
    problem = amount_violation(value)
    if problem is not None:
        raise InvalidOrderError(field, problem, venue=venue, instrument=instrument)


# Enough digits for exact grid arithmetic on any amount ``amount_violation`` admits (20 + 20
# digits) against any step a venue lists; the default 28 raises InvalidOperation on 1E+30 % 0.001.
_GRID_PRECISION = 120
# One context for it (default traps), not a localcontext() entered twice per order.
_GRID = Context(prec=_GRID_PRECISION)


def _on_grid(value: Decimal, origin: Decimal, step: Decimal) -> bool:
    if step == 0:
        return True
    try:
        return _GRID.remainder(_GRID.subtract(value, origin), step) == 0
    except DecimalException:  # a step far outside any real venue's: refuse rather than guess
        return False


@dataclass(frozen=True, slots=True)
class InstrumentFilters:
    """A venue's trading rules for one instrument; zero disables a bound (Binance's convention)."""

    venue: str
    instrument: str
    native_symbol: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    market_step_size: Decimal | None = None
    market_min_qty: Decimal | None = None
    market_max_qty: Decimal | None = None

    def check(self, request: OrderRequest, reference_price: Decimal | None = None) -> None:
        """Raise ``InvalidOrderError`` naming the field and rule the request breaks."""
        where = {"venue": self.venue, "instrument": self.instrument}
        check_amount("quantity", request.quantity, **where)
        if request.price is not None:
            check_amount("price", request.price, **where)
        qty = request.quantity
        market = request.type is OrderType.MARKET
        step = self.market_step_size if market and self.market_step_size is not None else self.step_size
        min_qty = self.market_min_qty if market and self.market_min_qty is not None else self.min_qty
        max_qty = self.market_max_qty if market and self.market_max_qty is not None else self.max_qty
        if not _on_grid(qty, Decimal(0), step):
            raise InvalidOrderError("quantity", f"{qty} is not a multiple of the step size {step}", **where)
        if min_qty and qty < min_qty:
            raise InvalidOrderError("quantity", f"{qty} is below the minimum quantity {min_qty}", **where)
        if max_qty and qty > max_qty:
            raise InvalidOrderError("quantity", f"{qty} is above the maximum quantity {max_qty}", **where)
        price = request.price
        if price is not None:
            if not _on_grid(price, self.min_price, self.tick_size):
                raise InvalidOrderError(
                    "price", f"{price} is not a multiple of the tick size {self.tick_size}", **where
                )
            if self.min_price and price < self.min_price:
                raise InvalidOrderError("price", f"{price} is below the minimum price {self.min_price}", **where)
            if self.max_price and price > self.max_price:
                raise InvalidOrderError("price", f"{price} is above the maximum price {self.max_price}", **where)
        notional_price = price if price is not None else reference_price
        if self.min_notional and not request.reduce_only and notional_price is not None:
            notional = notional_price * qty
            if notional < self.min_notional:
                raise InvalidOrderError(
                    "quantity",
                    f"notional {notional} (price x quantity) is below the minimum notional {self.min_notional}",
                    **where,
                )
