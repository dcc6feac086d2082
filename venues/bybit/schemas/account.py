"""Bybit v5 account payloads -> ``Position`` / ``Balance`` / ``PositionMode``; ``tickers`` stream marks.

Shapes from shared/venues/bybit-v5-wave2.md §5 (PL position/list, WB wallet-balance, WP
``position`` and WW ``wallet`` topics, TK ``tickers``). ``size`` is always positive, ``side``
(``Buy`` / ``Sell`` / ``""`` when flat) gives the sign; REST calls the entry ``avgPrice``, the
``position`` topic ``entryPrice``. ``positionIdx`` 0 is one-way mode, 1 / 2 the legs of hedge mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gateway.account import Balance, Position, PositionMode
from venues.common import ParseError, dec_field, field, opt_dec_field, opt_int_field, to_decimal

__all__ = ["has_hedge_rows", "mode_of", "position", "positions", "ticker_mark", "wallet_balances"]

Unify = Callable[[str], str]
ZERO = Decimal(0)
_SIGN = {"Buy": 1, "Sell": -1, "": 0, "None": 0}


def _at(ms: int | None) -> datetime:
    return datetime.now(UTC) if not ms else datetime.fromtimestamp(ms / 1000, UTC)


def position(item: Mapping[str, Any], *, venue: str, unify: Unify) -> Position:
    """One ``position/list`` item or ``position`` topic item (quantity 0 when the position is flat)."""
    if not isinstance(item, Mapping):
        raise ParseError("position item is not an object")
    side = item.get("side", "")
    if side not in _SIGN:
        raise ParseError(f"position side {side!r}")
    qty = dec_field(item, "size") * _SIGN[side]
    entry_key = "avgPrice" if item.get("avgPrice") not in (None, "") else "entryPrice"
    entry = opt_dec_field(item, entry_key) or ZERO
    mark = opt_dec_field(item, "markPrice") or entry
    return Position.at_mark(
        venue, unify(str(field(item, "symbol"))), qty, entry, mark, _at(opt_int_field(item, "updatedTime"))
    )


def positions(items: list[Any], *, venue: str, unify: Unify) -> list[Position]:
    """Open positions of a ``position/list`` page, hedge legs netted per symbol (the gateway refuses hedge mode)."""
    net: dict[str, Position] = {}
    for item in items:
        found = position(item, venue=venue, unify=unify)
        held = net.get(found.instrument)
        if held is not None:
            qty = found.quantity + held.quantity
            cost = found.quantity * found.entry_price + held.quantity * held.entry_price
            entry = cost / qty if qty else ZERO
            found = Position.at_mark(venue, found.instrument, qty, entry, found.mark_price, found.updated_at)
        net[found.instrument] = found
    return [p for p in net.values() if p.quantity]


def has_hedge_rows(items: list[Any]) -> bool:
    """Whether any row is a hedge-mode leg (``positionIdx`` 1 or 2)."""
    for item in items:
        if isinstance(item, Mapping) and item.get("positionIdx") not in (None, 0, "0"):
            return True
    return False


def mode_of(items: list[Any]) -> PositionMode:
    return PositionMode.HEDGE if has_hedge_rows(items) else PositionMode.ONE_WAY


def wallet_balances(accounts: list[Any], *, venue: str) -> list[Balance]:
    """Every coin of a ``wallet-balance`` result's ``list`` (or a ``wallet`` topic's ``data``).

    Bybit's unified account has no per-coin available balance any more (``availableToWithdraw``
    is deprecated): what the coin's wallet does not hold against positions, orders or locks is
    taken as available, never below zero.
    """
    out = []
    for account in accounts:
        if not isinstance(account, Mapping) or not isinstance(account.get("coin"), list):
            raise ParseError("wallet item has no coin list")
        at = _at(opt_int_field(account, "updateTime"))
        for coin in account["coin"]:
            if not isinstance(coin, Mapping):
                raise ParseError("wallet coin is not an object")
            wallet = dec_field(coin, "walletBalance")
            held = sum((_dec(coin.get(key)) for key in ("totalPositionIM", "totalOrderIM", "locked")), ZERO)
            out.append(
                Balance(
                    venue=venue,
                    asset=str(field(coin, "coin")),
                    wallet=wallet,
                    available=max(ZERO, wallet - held),
                    updated_at=at,
                )
            )
    return out


def ticker_mark(message: Mapping[str, Any]) -> tuple[str, Decimal] | None:
    """``(symbol, markPrice)`` of a ``tickers.<symbol>`` snapshot or delta; None when a delta leaves the mark out."""
    data = message.get("data")
    if isinstance(data, list):
        data = data[0] if data else None
    if not isinstance(data, Mapping) or data.get("markPrice") in (None, ""):
        return None
    symbol = data.get("symbol") or str(message.get("topic", "")).partition(".")[2]
    return str(symbol), to_decimal(data["markPrice"])


def _dec(value: Any) -> Decimal:
    return ZERO if value in (None, "") else to_decimal(value)
