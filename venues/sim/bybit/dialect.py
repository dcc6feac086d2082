"""``BybitDialect``: one venue's Bybit parts (limits, signing, payloads, orders, private streams) wired together.

The REST routes and the trade socket call into these parts; tests reach them through
``sim.bybit.state.dialect`` (or ``state["dialect"]``) to force reconnects.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING

from venues.sim.bybit.fault_wire import rest_wire
from venues.sim.bybit.limits import Limits
from venues.sim.bybit.manage import Management
from venues.sim.bybit.orders import Orders
from venues.sim.bybit.payloads import Payloads
from venues.sim.bybit.signing import Signer
from venues.sim.bybit.state import BybitState
from venues.sim.bybit.streams import PrivateStreams
from venues.sim.sockets import drop_streams
from venues.sim.venue import SimVenue

if TYPE_CHECKING:
    from venues.sim.bybit.account import BybitAccountPayloads
    from venues.sim.bybit.safety import BybitSwitches
    from venues.sim.bybit.ws_api import TradeConn

__all__ = ["BybitDialect"]


class BybitDialect:
    """Bybit v5 linear on top of one ``SimVenue`` (see the package docstring)."""

    def __init__(self, venue: SimVenue[BybitState]):
        self.venue = venue
        self.engine = venue.engine
        self.state = venue.state
        self.limits = Limits(self.state)
        self.signer = Signer(venue)
        self.payloads = Payloads(self.engine, self.state)
        self.rest_faults = rest_wire(self.payloads)
        self.orders = Orders(venue, self.payloads)
        self.manage = Management(self.orders)
        self.streams = PrivateStreams(venue, self.payloads, self.signer, self.new_conn_id)
        self.trade_conns: set[TradeConn] = set()
        self.switches: BybitSwitches | None = None  # cancel-all and DCP (safety.py), set by register()
        self.account: BybitAccountPayloads | None = None  # positions and wallet (account.py), set by register()
        self._conn_seq = 0
        self.state.dialect = self
        venue.on_close.append(self.close)

    def new_conn_id(self) -> str:
        self._conn_seq += 1
        return f"{secrets.token_hex(10)}-{self._conn_seq}"

    async def close(self) -> None:
        if self.switches is not None:
            self.switches.close()
        await self.streams.close()
        await self.drop_trade_sockets()

    async def drop_private_streams(self) -> int:
        """Close every private-stream socket (tests: force a reconnect). Returns how many were closed."""
        return drop_streams(self.streams.conns)

    async def drop_trade_sockets(self) -> int:
        """Close every trade WebSocket (tests: force a reconnect)."""
        conns = list(self.trade_conns)
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close()
        return len(conns)
