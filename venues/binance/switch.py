"""Binance's cancel-all and dead-man's switch wire work (``binance-usdm-wave2.md`` §4), for ``venues/safety.py``.

- cancel-all: ``DELETE /fapi/v1/allOpenOrders?symbol=`` once per instrument; its success answer
  is ``{"code": 200, "msg": "The operation of cancel all open order is done."}`` (a 2xx body
  *with* a ``code`` key: only that shape proves it was done; the venue names no orders).
- the switch: ``POST /fapi/v1/countdownCancelAll?symbol=&countdownTime=<ms>`` per instrument,
  the same call as its heartbeat (each restarts the countdown) and ``countdownTime=0`` to stop
  it; the answer ``{"symbol", "countdownTime"}`` (a string) must echo what was sent. There is no
  WS API method for either. A call during a recorded rate-limit wait is refused unsent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from venues.base import OutcomeUnknown, Rejected
from venues.common import ParseError
from venues.deadman import SwitchDriver

if TYPE_CHECKING:
    from venues.binance.adapter import BinanceUsdm

__all__ = ["CANCEL_ALL_PATH", "COUNTDOWN_PATH", "BinanceCountdown", "BinanceSafety", "cancel_all_done"]

CANCEL_ALL_PATH = "/fapi/v1/allOpenOrders"
COUNTDOWN_PATH = "/fapi/v1/countdownCancelAll"


def cancel_all_done(answer: Any) -> None:
    """The cancel-all success shape, or ``ParseError``."""
    if not isinstance(answer, Mapping) or answer.get("code") != 200 or not isinstance(answer.get("msg"), str):
        raise ParseError(f"not a cancel-all answer: {str(answer)[:120]}")


class BinanceSafety:
    """``SafetyWire`` for one ``BinanceUsdm``."""

    def __init__(self, adapter: BinanceUsdm):
        self._adapter = adapter

    async def cancel_all(self, instrument: str) -> None:
        answer = await self._adapter.rest.write_body(
            "DELETE", CANCEL_ALL_PATH, {"symbol": self._adapter.native(instrument)}
        )
        cancel_all_done(answer)
        return None

    def switch_driver(self, seconds: float) -> SwitchDriver:
        if seconds < 1:
            raise ValueError(f"dead_mans_switch_seconds must be at least 1 on Binance, got {seconds}")
        return BinanceCountdown(self._adapter)


class BinanceCountdown:
    """``SwitchDriver``: one ``countdownCancelAll`` countdown per instrument."""

    per_instrument = True

    def __init__(self, adapter: BinanceUsdm):
        self._adapter = adapter

    async def check(self, seconds: float) -> str | None:
        return None  # self-service: any trading key may arm it

    async def arm(self, scope: str, seconds: float) -> None:
        await self._countdown(scope, round(seconds * 1000))

    async def heartbeat(self, scope: str, seconds: float) -> None:
        await self._countdown(scope, round(seconds * 1000))

    async def disarm(self, scope: str) -> None:
        await self._countdown(scope, 0)

    async def _countdown(self, instrument: str, millis: int) -> None:
        adapter = self._adapter
        wait = adapter.rate_limit().ban_left()
        if wait > 0:
            raise Rejected(
                f"{adapter.name}: countdownCancelAll not sent: rate-limited for {wait:.1f}s more",
                native_code="RATE_LIMITED_LOCALLY",
                retriable=True,
                retry_after=wait,
            )
        symbol = adapter.native(instrument)
        answer = await adapter.rest.write_body("POST", COUNTDOWN_PATH, {"symbol": symbol, "countdownTime": str(millis)})
        if not isinstance(answer, Mapping) or (answer.get("symbol"), str(answer.get("countdownTime"))) != (
            symbol,
            str(millis),
        ):
            raise OutcomeUnknown(f"POST {COUNTDOWN_PATH}: the answer does not echo the countdown sent: {answer!r}")
