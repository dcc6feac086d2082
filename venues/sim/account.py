"""Account events a test drives on the simulator: outside orders and fills, liquidations and ADL, positions set by hand.

Venue-neutral (engine level); ``SimExchange`` exposes them per venue:

- ``external_trade``: another client of the same account (the web UI, another bot) places an
  order: MARKET fills at the mark, LIMIT rests or crosses. It goes through the engine like any
  order, so both dialects' user streams show it (with its own client id) and reads list it.
- ``liquidate``: the venue closes (part of) a position with an order of its own, filled at once
  at ``price`` (default: the mark): Binance shows it on ``ORDER_TRADE_UPDATE`` with
  ``c = autoclose-<n>`` (ADL: ``adl_autoclose``), ``o = LIQUIDATION``, ``x = CALCULATED``
  (shared/venues/binance-usdm-wave2.md §5); Bybit with no ``orderLinkId``, ``createType``
  ``CreateByTakeOver_PassThrough`` / ``CreateByAdl_PassThrough`` and ``execType`` ``BustTrade`` /
  ``AdlTrade`` (bybit-v5-wave2.md §5).
- ``set_position``: replace a position with no event at all (a pre-existing position before a
  gateway starts, or a change "behind the gateway's back" for the drift check).

The engine's order registry is written directly here (this module is part of the engine's package):
a venue-created order skips every check a client's order goes through. ``admin_routes`` serves the
same to other processes (``gateway sim``): ``POST /admin/position``, ``/admin/external_trade``,
``/admin/liquidate``, ``/admin/hedge_mode``, each a JSON object of the method's arguments.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiohttp import web

from venues.sim.engine import EngineReject, MatchingEngine, SimOrder, now_ms

if TYPE_CHECKING:
    from venues.sim.server import SimExchange

__all__ = [
    "ADL_CLIENT_ID",
    "LIQUIDATION_PREFIX",
    "VENUE_CREATED_PREFIX",
    "admin_routes",
    "external_trade",
    "liquidate",
    "set_position",
    "venue_created",
]

LIQUIDATION_PREFIX = "autoclose-"
ADL_CLIENT_ID = "adl_autoclose"
# Bybit shows venue-created orders with no orderLinkId: their engine client ids hide behind its
# "~auto-" prefix (venues/sim/bybit/payloads.py) and say what made them.
VENUE_CREATED_PREFIX = "~auto-venue-"

_external = itertools.count(1)
_liquidations = itertools.count(1)

Side = Literal["BUY", "SELL"]


def external_trade(
    engine: MatchingEngine,
    account: str,
    symbol: str,
    side: Side,
    qty: Decimal,
    price: Decimal | None = None,
    *,
    client_order_id: str | None = None,
    reduce_only: bool = False,
) -> SimOrder:
    """An order another client of ``account`` places (raises ``EngineReject`` like any order)."""
    return engine.place(
        account,
        symbol=symbol,
        side=side,
        type="MARKET" if price is None else "LIMIT",
        qty=qty,
        price=price,
        reduce_only=reduce_only,
        client_order_id=client_order_id or f"web_{next(_external)}",
    )


def liquidate(
    engine: MatchingEngine,
    account: str,
    symbol: str,
    *,
    qty: Decimal | None = None,
    price: Decimal | None = None,
    adl: bool = False,
    bybit_style: bool = False,
) -> SimOrder:
    """Close ``qty`` (default: all) of ``account``'s position on ``symbol`` with a venue-created order."""
    position = engine.positions.get((account, symbol), Decimal(0))
    if not position:
        raise ValueError(f"{account[:4]}…: no position on {symbol} to liquidate")
    amount = abs(position) if qty is None else min(qty, abs(position))
    inst = engine.instrument(symbol)
    n = next(_liquidations)
    if bybit_style:
        cid = f"{VENUE_CREATED_PREFIX}{'adl' if adl else 'liq'}-{n}"
    else:
        cid = ADL_CLIENT_ID if adl else f"{LIQUIDATION_PREFIX}{n}"
    numeric = next(engine._ids)
    ts = now_ms()
    order = SimOrder(
        venue=engine.venue,
        account=account,
        order_id=str(numeric) if engine.id_style == "int" else f"{numeric:08x}-0000-4000-8000-{ts:012x}",
        numeric_id=numeric,
        symbol=symbol,
        side="SELL" if position > 0 else "BUY",
        type="MARKET",
        tif="IOC",
        qty=amount,
        price=None,
        reduce_only=True,
        client_order_id=cid,
        created_ms=ts,
        updated_ms=ts,
    )
    engine.orders[order.order_id] = order
    engine._by_cid.setdefault((account, cid), []).append(order)
    engine._execute(order, amount, price if price is not None else inst.mark_price, maker=False, exec_type="CALCULATED")
    return order


def set_position(
    engine: MatchingEngine, account: str, symbol: str, qty: Decimal, entry_price: Decimal | None = None
) -> None:
    """Make ``account``'s position on ``symbol`` exactly ``qty`` (signed) at ``entry_price`` (default: the mark)."""
    engine.instrument(symbol)
    key = (account, symbol)
    if qty:
        engine.positions[key] = qty
        engine.entry_prices[key] = entry_price if entry_price is not None else engine.instrument(symbol).mark_price
    else:
        engine.positions.pop(key, None)
        engine.entry_prices.pop(key, None)


def venue_created(client_order_id: str) -> Literal["liq", "adl"] | None:
    """What made an order the venue created itself (a liquidation, ADL), or None for a client's order."""
    if client_order_id == ADL_CLIENT_ID or client_order_id.startswith(f"{VENUE_CREATED_PREFIX}adl"):
        return "adl"
    if client_order_id.startswith((LIQUIDATION_PREFIX, f"{VENUE_CREATED_PREFIX}liq")):
        return "liq"
    return None


def admin_routes(app: web.Application, sim: SimExchange) -> None:
    """The account events over HTTP, for a process that is not the simulator's (``gateway sim``)."""

    def handler(act: Callable[[dict[str, Any]], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            try:
                body = orjson.loads(await request.read())
                if not isinstance(body, dict):
                    raise TypeError("expected a JSON object")
                done = act(body)
            except (ValueError, TypeError, KeyError, ArithmeticError, EngineReject) as exc:
                return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
            if isinstance(done, SimOrder):
                return web.json_response(
                    {"order_id": done.order_id, "client_order_id": done.client_order_id, "status": done.status}
                )
            return web.json_response({"ok": True})

        return handle

    app.router.add_post(
        "/admin/position",
        handler(lambda b: sim.set_position(b["venue"], b["symbol"], str(b["qty"]), _amount(b.get("entry_price")))),
    )
    app.router.add_post(
        "/admin/external_trade",
        handler(
            lambda b: sim.external_trade(
                b["venue"],
                b["symbol"],
                b["side"],
                str(b["qty"]),
                b.get("price"),
                client_order_id=b.get("client_order_id"),
            )
        ),
    )
    app.router.add_post(
        "/admin/liquidate",
        handler(
            lambda b: sim.liquidate(
                b["venue"],
                b["symbol"],
                qty=_amount(b.get("qty")),
                price=_amount(b.get("price")),
                adl=bool(b.get("adl", False)),
            )
        ),
    )
    app.router.add_post(
        "/admin/hedge_mode", handler(lambda b: sim.set_hedge_mode(b["venue"], bool(b.get("hedge", True))))
    )


def _amount(value: Any) -> str | None:
    """A JSON amount as text (a JSON number would pass through a float on its way to Decimal)."""
    return None if value is None else str(value)
