"""RiskRejected: the gate's refusal, naming the limit, the current value, the requested delta and the cap."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["RiskRejected"]


class RiskRejected(Exception):
    """A portfolio-gate refusal. Nothing was sent; the order is safe to resubmit once the limit allows."""

    def __init__(
        self,
        message: str,
        *,
        limit: str | None = None,
        current: Decimal | int | None = None,
        requested: Decimal | int | None = None,
        cap: Decimal | int | None = None,
    ):
        super().__init__(message)
        self.limit = limit
        self.current = current
        self.requested = requested
        self.cap = cap

    @classmethod
    def for_limit(
        cls, limit: str, *, current: Decimal | int, requested: Decimal | int, cap: Decimal | int
    ) -> RiskRejected:
        return cls(
            f"risk limit {limit}: current {_plain(current)} + requested {_plain(requested)}"
            f" would exceed cap {_plain(cap)}",
            limit=limit,
            current=current,
            requested=requested,
            cap=cap,
        )


def _plain(value: Decimal | int) -> str:
    """Decimals without exponent or trailing zeros, so every ledger words a refusal alike."""
    text = format(Decimal(value).normalize(), "f")
    return text
