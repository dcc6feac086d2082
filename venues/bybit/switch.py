"""Bybit's cancel-all and disconnect cancel-all (DCP) wire work (``bybit-v5-wave2.md`` §4), for ``venues/safety.py``.

- cancel-all: ``POST /v5/order/cancel-all {"category": "linear", "symbol"}`` once per
  instrument; its success ``result`` is ``{"list": [{"orderId", "orderLinkId"}], "success": "1"}``:
  the orders whose cancel the venue accepted (at most 500 a call).
- DCP is not self-service: the venue enables it per account. ``check`` reads
  ``GET /v5/account/query-dcp-info`` and says plainly when ``DERIVATIVES`` is not ``ON``;
  ``arm`` sets the window (``POST /v5/order/disconnected-cancel-all {"product": "DERIVATIVES",
  "timeWindow"}``, whole seconds in [3, 300]); the keepalive is the private stream itself,
  subscribed to ``dcp.future`` and pinging at a third of the window (``user_stream.py``), so a
  heartbeat here only confirms that stream is up. ``disarm`` unsubscribes ``dcp.future`` before
  the stream closes, so a clean shutdown does not fire it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from venues.base import NotSent
from venues.common import ParseError
from venues.deadman import SwitchDriver

if TYPE_CHECKING:
    from venues.bybit.adapter import BybitLinear

__all__ = ["CANCEL_ALL_PATH", "DCP_PATH", "DCP_PRODUCT", "BybitDcp", "BybitSafety", "canceled_list", "dcp_status"]

CANCEL_ALL_PATH = "/v5/order/cancel-all"
DCP_PATH = "/v5/order/disconnected-cancel-all"
DCP_INFO_PATH = "/v5/account/query-dcp-info"
DCP_PRODUCT = "DERIVATIVES"
DCP_TOPIC = "dcp.future"
MIN_WINDOW_S, MAX_WINDOW_S = 3, 300


def canceled_list(result: Any) -> tuple[tuple[str, str | None], ...]:
    """The orders a cancel-all ``result`` names, or ``ParseError``."""
    if not isinstance(result, Mapping) or result.get("success") != "1" or not isinstance(result.get("list"), list):
        raise ParseError(f"not a cancel-all result: {str(result)[:120]}")
    out: list[tuple[str, str | None]] = []
    for item in result["list"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("orderId"), str) or not item["orderId"]:
            raise ParseError(f"cancel-all item without an orderId: {item!r}")
        link = item.get("orderLinkId")
        out.append((item["orderId"], link if isinstance(link, str) and link else None))
    return tuple(out)


def dcp_status(result: Any) -> tuple[str, int] | None:
    """``(dcpStatus, timeWindow)`` of the account's DERIVATIVES entry, None when it has none."""
    infos = result.get("dcpInfos") if isinstance(result, Mapping) else None
    for info in infos if isinstance(infos, list) else ():
        if isinstance(info, Mapping) and info.get("product") == DCP_PRODUCT:
            window = str(info.get("timeWindow", ""))
            return str(info.get("dcpStatus", "")), int(window) if window.isdigit() else 0
    return None


class BybitSafety:
    """``SafetyWire`` for one ``BybitLinear``."""

    def __init__(self, adapter: BybitLinear):
        self._adapter = adapter

    async def cancel_all(self, instrument: str) -> tuple[tuple[str, str | None], ...]:
        params = {"category": "linear", "symbol": self._adapter.native(instrument)}
        return canceled_list(await self._adapter.rest.write_result(CANCEL_ALL_PATH, params))

    def switch_driver(self, seconds: float) -> SwitchDriver:
        if not MIN_WINDOW_S <= seconds <= MAX_WINDOW_S or seconds != int(seconds):
            raise ValueError(
                f"dead_mans_switch_seconds on Bybit is DCP's timeWindow: whole seconds in "
                f"[{MIN_WINDOW_S}, {MAX_WINDOW_S}], got {seconds}"
            )
        return BybitDcp(self._adapter)


class BybitDcp:
    """``SwitchDriver``: the account's DCP, kept alive by the private stream."""

    per_instrument = False

    def __init__(self, adapter: BybitLinear):
        self._adapter = adapter

    async def check(self, seconds: float) -> str | None:
        if not self._adapter.stream_url:
            return "DCP is kept alive by the private stream, and this adapter has none (stream_url=None)"
        status = dcp_status(await self._adapter.rest.read(DCP_INFO_PATH))
        if status is None or status[0] != "ON":
            return (
                "Bybit's disconnect cancel-all (DCP) is not enabled for this account "
                f"(query-dcp-info shows {status[0] if status else 'no DERIVATIVES entry'}); it is not self-service: "
                "ask your Bybit account manager to enable it for DERIVATIVES"
            )
        return None

    async def arm(self, scope: str, seconds: float) -> None:
        await self._adapter.rest.write_result(DCP_PATH, {"product": DCP_PRODUCT, "timeWindow": int(seconds)})

    async def heartbeat(self, scope: str, seconds: float) -> None:
        stream = self._adapter.private_stream
        if stream is None or not stream.conn.is_up:
            raise NotSent(f"{self._adapter.name}: private stream down: the DCP keepalive is not reaching Bybit")

    async def disarm(self, scope: str) -> None:
        stream = self._adapter.private_stream
        if stream is None:
            raise NotSent(f"{self._adapter.name}: no private stream to unsubscribe {DCP_TOPIC} on")
        # A stream reconnecting now resubscribes dcp.future: wait for it rather than leave it to fire.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stream.conn.up.wait(), self._adapter.request_timeout)
        await stream.unsubscribe_dcp()
