"""Binance USD-M account reads: positions, balances, the position mode and every open order of the account.

Each is one signed GET with the weight shared/venues/binance-usdm-wave2.md §1 gives it (v3
positionRisk / balance 5, positionSide/dual 30, openOrders without a symbol 40). The adapter
delegates its ``Venue`` account methods here; wire names are read only by ``schemas.account``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.account import Balance, Position, PositionMode
from gateway.model import OrderReport
from venues.base import VenueReadError
from venues.binance.rest import BinanceRest
from venues.binance.schemas import account as schema
from venues.common import ParseError

__all__ = ["SWITCH_TO_ONE_WAY", "BinanceAccountReads"]

SWITCH_TO_ONE_WAY = (
    "POST /fapi/v1/positionSide/dual with dualSidePosition=false (or Preference -> Position Mode -> One-way "
    "in the web UI); Binance refuses the switch while any position or open order exists"
)

POSITIONS_PATH = "/fapi/v3/positionRisk"
BALANCE_PATH = "/fapi/v3/balance"
MODE_PATH = "/fapi/v1/positionSide/dual"
OPEN_ORDERS_PATH = "/fapi/v1/openOrders"


class BinanceAccountReads:
    """The account reads of one adapter, over its REST client and its read budget."""

    def __init__(
        self,
        rest: BinanceRest,
        *,
        name: str,
        unify: Callable[[str], str],
        before_read: Callable[[int], Awaitable[None]],
        orders: Callable[[Any, str], list[OrderReport]],
    ) -> None:
        self._rest = rest
        self._name = name
        self._unify = unify
        self._before_read = before_read
        self._orders = orders

    async def _get(self, path: str, weight: int) -> Any:
        await self._before_read(weight)
        return await self._rest.read(path)

    async def positions(self) -> list[Position]:
        payload = await self._get(POSITIONS_PATH, 5)
        try:
            return schema.positions(payload, venue=self._name, unify=self._unify)
        except ParseError as exc:
            raise VenueReadError(f"GET {POSITIONS_PATH}: {exc}") from exc

    async def balances(self) -> list[Balance]:
        payload = await self._get(BALANCE_PATH, 5)
        try:
            return schema.balances(payload, venue=self._name)
        except ParseError as exc:
            raise VenueReadError(f"GET {BALANCE_PATH}: {exc}") from exc

    async def position_mode(self) -> PositionMode:
        payload = await self._get(MODE_PATH, 30)
        try:
            return schema.position_mode(payload)
        except ParseError as exc:
            raise VenueReadError(f"GET {MODE_PATH}: {exc}") from exc

    async def open_orders(self) -> list[OrderReport]:
        """``GET /fapi/v1/openOrders`` without a symbol: every open order of the account."""
        return self._orders(await self._get(OPEN_ORDERS_PATH, 40), f"GET {OPEN_ORDERS_PATH}")
