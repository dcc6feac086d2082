"""Bybit v5 linear wire shapes (``wire``) and their translation into gateway models (``parse``)."""

from venues.bybit.schemas.parse import (
    ParseError,
    envelope,
    execution_update_report,
    order_report,
    trade_report,
)

__all__ = ["ParseError", "envelope", "execution_update_report", "order_report", "trade_report"]
