"""Bybit v5 linear: signing, REST, trade WebSocket, private stream, filters (``BybitLinear``)."""

from venues.bybit.adapter import BybitLinear

__all__ = ["BybitLinear"]
