"""Bybit v5 linear account reads: positions, wallet balances, the position mode and every open order.

``GET /v5/position/list`` and ``GET /v5/order/realtime`` need a symbol or a settle coin for
linear: the account-wide forms read each settle coin of the listed instruments, every cursor
page (``settleCoin`` lists only positions with size > 0). ``GET /v5/account/wallet-balance``
reads the unified account. The mode is read off ``positionIdx`` (shared/venues/bybit-v5-wave2.md
§5): rows 1 / 2 are hedge legs; with no position open, one symbol's rows (listed even when
flat) tell. The adapter delegates its ``Venue`` account methods here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.account import Balance, Position, PositionMode
from gateway.model import OrderReport
from venues.base import VenueReadError
from venues.bybit.rest import BybitRest
from venues.bybit.schemas import account as schema
from venues.bybit.schemas.frames import cursor_page
from venues.common import ParseError

__all__ = ["SWITCH_TO_ONE_WAY", "BybitAccountReads"]

SWITCH_TO_ONE_WAY = (
    "POST /v5/position/switch-mode with category=linear, coin=USDT (or symbol=...) and mode=0 (merged single), "
    "or Derivatives -> Position Mode -> One-Way in the web UI; Bybit refuses the switch while a position or "
    "an active order exists on it"
)

POSITIONS_PATH = "/v5/position/list"
WALLET_PATH = "/v5/account/wallet-balance"
REALTIME_PATH = "/v5/order/realtime"
POSITION_PAGE = 200
ORDER_PAGE = 50

Pages = Callable[[str, list[tuple[str, str]], int], Awaitable[list[Any]]]


class BybitAccountReads:
    """The account reads of one adapter, over its REST client, its pager and its read budget."""

    def __init__(
        self,
        rest: BybitRest,
        *,
        name: str,
        unify: Callable[[str], str],
        before_read: Callable[[int], Awaitable[None]],
        pages: Pages,
        settle_coins: Callable[[], list[str]],
        first_symbol: Callable[[], str | None],
        orders: Callable[[Any, str], list[OrderReport]],
    ) -> None:
        self._rest = rest
        self._name = name
        self._unify = unify
        self._before_read = before_read
        self._pages = pages
        self._settle_coins = settle_coins
        self._first_symbol = first_symbol
        self._orders = orders

    async def _position_rows(self) -> list[Any]:
        rows: list[Any] = []
        for coin in self._settle_coins():
            rows.extend(
                await self._pages(POSITIONS_PATH, [("category", "linear"), ("settleCoin", coin)], POSITION_PAGE)
            )
        return rows

    async def positions(self) -> list[Position]:
        rows = await self._position_rows()
        try:
            return schema.positions(rows, venue=self._name, unify=self._unify)
        except ParseError as exc:
            raise VenueReadError(f"GET {POSITIONS_PATH}: {exc}") from exc

    async def balances(self) -> list[Balance]:
        await self._before_read(1)
        result = await self._rest.read(WALLET_PATH, [("accountType", "UNIFIED")])
        try:
            accounts, _ = cursor_page(result)
            return schema.wallet_balances(accounts, venue=self._name)
        except ParseError as exc:
            raise VenueReadError(f"GET {WALLET_PATH}: {exc}") from exc

    async def position_mode(self) -> PositionMode:
        rows = await self._position_rows()
        symbol = self._first_symbol()
        if not rows and symbol is not None:
            # No position open: one symbol's rows are listed even when flat, and their positionIdx tells.
            rows = await self._pages(POSITIONS_PATH, [("category", "linear"), ("symbol", symbol)], POSITION_PAGE)
        return schema.mode_of(rows)

    async def open_orders(self) -> list[OrderReport]:
        out: list[OrderReport] = []
        for coin in self._settle_coins():
            items = await self._pages(
                REALTIME_PATH, [("category", "linear"), ("settleCoin", coin), ("openOnly", "0")], ORDER_PAGE
            )
            out.extend(o for o in self._orders(items, f"GET {REALTIME_PATH}") if o.state.is_open)
        return out
