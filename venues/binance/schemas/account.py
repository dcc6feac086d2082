"""Binance USD-M account payloads -> ``Position`` / ``Balance`` / ``PositionMode``; mark-price stream events.

Shapes from shared/venues/binance-usdm-wave2.md §5 (PR3 positionRisk, BA3 balance, PS
positionSide/dual, ``ACCOUNT_UPDATE``, ``markPriceUpdate``). Decimals may arrive as strings or
numbers (recordings stringify them). One-way accounts report one ``BOTH`` row per symbol; a hedge
account's ``LONG`` / ``SHORT`` legs are netted here only so a read never raises on them (the
gateway refuses to start on a hedge account, ``gateway.account.HedgeModeError``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gateway.account import Balance, Position, PositionMode
from venues.common import ParseError, dec_field, field, opt_int_field

__all__ = [
    "account_update",
    "balances",
    "mark_update",
    "position_mode",
    "positions",
]

Unify = Callable[[str], str]
MarkOf = Callable[[str], Decimal | None]
ZERO = Decimal(0)


def _at(ms: int | None) -> datetime:
    return datetime.now(UTC) if not ms else datetime.fromtimestamp(ms / 1000, UTC)


def _rows(payload: Any, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(payload, list) or not all(isinstance(item, Mapping) for item in payload):
        raise ParseError(f"{what}: expected a list of objects")
    return payload


def positions(payload: Any, *, venue: str, unify: Unify) -> list[Position]:
    """``GET /fapi/v3/positionRisk`` (or v2): one net position per symbol, flat rows left out."""
    net: dict[str, tuple[Decimal, Decimal, Decimal, int | None]] = {}  # symbol -> qty, qty x entry, mark, ms
    for row in _rows(payload, "positionRisk"):
        symbol = str(field(row, "symbol"))
        qty = dec_field(row, "positionAmt")
        entry = dec_field(row, "entryPrice")
        mark = dec_field(row, "markPrice")
        updated = opt_int_field(row, "updateTime")
        held, cost, _, seen = net.get(symbol, (ZERO, ZERO, mark, None))
        net[symbol] = (held + qty, cost + qty * entry, mark, max(updated or 0, seen or 0) or None)
    out = []
    for symbol, (qty, cost, mark, updated) in net.items():
        if qty:
            out.append(Position.at_mark(venue, unify(symbol), qty, cost / qty, mark, _at(updated)))
    return out


def balances(payload: Any, *, venue: str) -> list[Balance]:
    """``GET /fapi/v3/balance`` (or v2): ``balance`` is the wallet, ``availableBalance`` what is free."""
    out = []
    for row in _rows(payload, "balance"):
        wallet = dec_field(row, "balance")
        available = dec_field(row, "availableBalance")
        if wallet or available:
            out.append(
                Balance(
                    venue=venue,
                    asset=str(field(row, "asset")),
                    wallet=wallet,
                    available=available,
                    updated_at=_at(opt_int_field(row, "updateTime")),
                )
            )
    return out


def position_mode(payload: Any) -> PositionMode:
    """``GET /fapi/v1/positionSide/dual``: ``dualSidePosition`` true is hedge mode (for every symbol)."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("dualSidePosition"), bool):
        raise ParseError("positionSide/dual: expected {'dualSidePosition': bool}")
    return PositionMode.HEDGE if payload["dualSidePosition"] else PositionMode.ONE_WAY


def account_update(
    event: Mapping[str, Any], *, venue: str, unify: Unify, mark_of: MarkOf
) -> tuple[list[Position], list[Balance]]:
    """An ``ACCOUNT_UPDATE``: the positions and balances that changed.

    ``a.P`` carries no mark; ``up = pa x (mark - ep)`` gives it back exactly for an open position,
    and a closed one takes the last mark known (``mark_of``). ``a.B`` carries no available
    balance: the cross wallet balance (``cw``) stands in for it until the next balance read.
    """
    a = field(event, "a")
    if not isinstance(a, Mapping):
        raise ParseError("ACCOUNT_UPDATE 'a' is not an object")
    at = _at(opt_int_field(event, "T") or opt_int_field(event, "E"))
    out_positions = []
    for p in _items(a.get("P"), "a.P"):
        if p.get("ps", "BOTH") != "BOTH":
            continue  # a hedge leg: never mistaken for the net position
        instrument = unify(str(field(p, "s")))
        qty = dec_field(p, "pa")
        entry = dec_field(p, "ep")
        if qty:
            mark = entry + dec_field(p, "up") / qty
        else:
            mark = mark_of(instrument) or entry
        out_positions.append(Position.at_mark(venue, instrument, qty, entry, mark, at))
    out_balances = [
        Balance(
            venue=venue,
            asset=str(field(b, "a")),
            wallet=dec_field(b, "wb"),
            available=dec_field(b, "cw"),
            updated_at=at,
        )
        for b in _items(a.get("B"), "a.B")
    ]
    return out_positions, out_balances


def mark_update(event: Mapping[str, Any]) -> tuple[str, Decimal, int | None]:
    """A ``markPriceUpdate`` (``<symbol>@markPrice[@1s]``): ``(symbol, mark, event time ms)``."""
    return str(field(event, "s")), dec_field(event, "p"), opt_int_field(event, "E")


def _items(raw: Any, what: str) -> Iterable[Mapping[str, Any]]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise ParseError(f"ACCOUNT_UPDATE '{what}' is not a list of objects")
    return raw
