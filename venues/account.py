"""The account half of every adapter: positions, balances, position mode and the account's open orders.

``AccountMixin`` gives ``AdapterBase`` the ``Venue`` protocol's account reads by delegating to the
dialect's ``AccountReads`` (``venues/binance/account.py``, ``venues/bybit/account.py``), which a
dialect builds in ``_build`` as ``self.account_reads``; ``switch_to_one_way`` is the dialect's
instruction for leaving hedge mode (named in ``HedgeModeError``).
"""

from __future__ import annotations

from typing import Protocol

from gateway.account import Balance, Position, PositionMode
from gateway.model import OrderReport

__all__ = ["ACCOUNT_READ_MAX_WAIT", "AccountMixin", "AccountReads"]

# Account reads are never on the submit path (start, the position check, a caller's read): they wait
# out a spent read budget this long rather than fail (a gateway that cannot seed its gate cannot start).
ACCOUNT_READ_MAX_WAIT = 60.0


class AccountReads(Protocol):
    async def positions(self) -> list[Position]: ...

    async def balances(self) -> list[Balance]: ...

    async def position_mode(self) -> PositionMode: ...

    async def open_orders(self) -> list[OrderReport]: ...


class AccountMixin:
    """``Venue``'s account reads for an adapter whose dialect set ``account_reads``."""

    account_reads: AccountReads
    switch_to_one_way: str = ""

    async def positions(self) -> list[Position]:
        """Every open position, one net row per instrument (flat ones left out)."""
        return await self.account_reads.positions()

    async def balances(self) -> list[Balance]:
        return await self.account_reads.balances()

    async def position_mode(self) -> PositionMode:
        return await self.account_reads.position_mode()

    async def account_open_orders(self) -> list[OrderReport]:
        """Every open order of the account on every instrument: ours and anyone else's."""
        return await self.account_reads.open_orders()
