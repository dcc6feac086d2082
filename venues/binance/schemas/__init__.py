"""Binance USD-M wire shapes (``wire``) and their translation into gateway models (``parse``)."""

from venues.binance.schemas.parse import (
    ParseError,
    order_report,
    order_update_report,
    trade_report,
)

__all__ = ["ParseError", "order_report", "order_update_report", "trade_report"]
