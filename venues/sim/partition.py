"""A network partition between the simulator and its clients, for dead-man's-switch drills.

While a ``Partition`` is on, every connection the simulator holds is cut (user streams, private
streams, WS API and trade sockets) and every new request, REST or WebSocket upgrade, has its
TCP connection aborted before anything is read: to a client it is as if the network were gone,
while the client process stays alive and keeps trying. The venues' timers run on: a Binance
countdown that no heartbeat reaches lapses, and a Bybit DCP window starts when the account's
last ``dcp`` subscriber drops. ``heal()`` (or the end of the given time) lets clients back in.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from venues.sim.fault_answers import reset_connection

if TYPE_CHECKING:
    from venues.sim.binance import BinanceState
    from venues.sim.bybit import BybitState
    from venues.sim.venue import SimVenue

__all__ = ["Partition"]


class Partition:
    """See the module docstring; ``SimExchange.partition(seconds)`` starts one."""

    def __init__(self, binance: SimVenue[BinanceState], bybit: SimVenue[BybitState]):
        self._binance = binance
        self._bybit = bybit
        self._until = 0.0
        self.refused = 0  # requests refused while partitioned

    @property
    def active(self) -> bool:
        return time.monotonic() < self._until

    async def start(self, seconds: float) -> int:
        """Partition for ``seconds``: cut every held connection now; returns how many were cut."""
        self._until = time.monotonic() + seconds
        cut = 0
        binance, bybit = self._binance.state.dialect, self._bybit.state.dialect
        if binance is not None:
            cut += await binance.drop_user_streams() + await binance.drop_ws_api()
        if bybit is not None:
            cut += await bybit.drop_private_streams() + await bybit.drop_trade_sockets()
        return cut

    def heal(self) -> None:
        self._until = 0.0

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.active and not request.path.startswith("/admin/"):
            self.refused += 1
            return reset_connection(request)
        return await handler(request)
