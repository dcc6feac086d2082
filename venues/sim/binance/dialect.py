"""``BinanceDialect``: one venue's Binance parts (limits, signing, payloads, orders, user streams) wired together.

The REST routes and the WS API call into these parts; tests reach them through
``sim.binance.state.dialect`` (or ``state["dialect"]``) to force reconnects or expire a key.
"""

from __future__ import annotations

import contextlib

from aiohttp import web

from venues.sim.binance.limits import Limits
from venues.sim.binance.manage import Management
from venues.sim.binance.orders import Orders
from venues.sim.binance.payloads import Payloads
from venues.sim.binance.safety import BinanceSwitches
from venues.sim.binance.signing import Signer
from venues.sim.binance.state import BinanceState
from venues.sim.binance.streams import ListenKey, UserStreams
from venues.sim.sockets import drop_streams
from venues.sim.venue import SimVenue

__all__ = ["BinanceDialect"]


class BinanceDialect:
    """Binance USD-M on top of one ``SimVenue`` (see the package docstring)."""

    def __init__(self, venue: SimVenue[BinanceState]):
        self.venue = venue
        self.engine = venue.engine
        self.state = venue.state
        self.limits = Limits(self.state)
        self.signer = Signer(venue)
        self.payloads = Payloads(self.engine, self.state)
        self.orders = Orders(venue, self.payloads)
        self.manage = Management(self.orders)
        self.streams = UserStreams(venue, self.payloads)
        self.api_sockets: set[web.WebSocketResponse] = set()
        self.switches = BinanceSwitches(self)  # cancel-all and countdownCancelAll (safety.py)
        self.state.dialect = self
        venue.on_close.append(self.close)

    @property
    def listen_keys(self) -> dict[str, ListenKey]:
        return self.streams.listen_keys

    def expire_listen_key(self, key: str) -> None:
        """Let ``key`` lapse now (tests: the ``listenKeyExpired`` path)."""
        self.streams.expire_listen_key(key)

    async def close(self) -> None:
        self.switches.close()
        await self.streams.close()
        await self.drop_ws_api()

    async def drop_user_streams(self) -> int:
        """Close every user-data socket (tests: force a reconnect). Returns how many were closed."""
        return drop_streams(self.streams.conns)

    async def drop_ws_api(self) -> int:
        """Close every WS API socket (tests: force a reconnect)."""
        sockets = list(self.api_sockets)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        return len(sockets)
