"""Binance USD-M futures: signing, REST, WebSocket API, user stream, filters (``BinanceUsdm``)."""

from venues.binance.adapter import BinanceUsdm

__all__ = ["BinanceUsdm"]
