"""``SwitchKeeper``: arms a venue's dead-man's switch, heartbeats it from a task, disarms it on a clean close.

A dialect supplies the wire work as a ``SwitchDriver`` (``venues/binance/switch.py``: a
``countdownCancelAll`` per instrument; ``venues/bybit/switch.py``: DCP for the whole account);
the keeper owns the timing and what it tells the gateway (``VenueEventSink.switch_changed``,
the ``gateway.safety`` states):

- ``start``: the driver checks the switch can be armed at all (Bybit: DCP enabled for the
  account by the venue); if not, it says so plainly (ERROR log, ``UNAVAILABLE``) and the
  adapter trades on unprotected. An account-wide switch is armed here.
- ``before_order(instrument)``: a per-instrument switch is armed before the first order of
  ours on that instrument is sent (one arm at a time per instrument; concurrent first orders
  wait for it). An arm that fails raises ``NotArmed``: the adapter refuses the order unsent.
- heartbeats: a task re-arms every switch each ``seconds × heartbeat_fraction``, off the submit
  path. A failed heartbeat is logged and retried on the next tick, sooner (``retry_fraction``).
  Once no heartbeat is *known* to have reached the venue for the whole countdown plus
  ``lapse_margin_seconds`` (counted from the send of the last confirmed one), the venue may have
  canceled our resting orders: ``LAPSED``, and ``lapsed(scope)`` hands them to the gateway's
  reconciliation (a stream gap: the refresh re-reads every believed-live order). The first
  heartbeat that gets through again reports ``RESTORED`` and hands them over once more (reads
  during an outage may have failed).
- ``close``: the heartbeat task stops and every armed switch is disarmed (``DISARMED``); a
  disarm that fails is logged (the venue's countdown then lapses on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from gateway.errors import VenueError, VenueReadError
from gateway.safety import ACCOUNT_SCOPE, SwitchState

__all__ = ["NotArmed", "SwitchDriver", "SwitchKeeper"]

log = logging.getLogger("venues.deadman")

Report = Callable[[str, SwitchState, str], None]  # (scope, state, detail)


class NotArmed(Exception):
    """The switch could not be armed for an instrument: its first order is not sent."""


class SwitchDriver(Protocol):
    """A dialect's switch: where it applies and the calls that arm, keep and stop it."""

    per_instrument: bool  # one switch per instrument (Binance), else one for the account (Bybit)

    async def check(self, seconds: float) -> str | None:
        """None when the switch can be armed on this account, else why not (said plainly)."""

    async def arm(self, scope: str, seconds: float) -> None:
        """Arm (or restart) the switch; raise ``VenueError`` / ``VenueReadError`` when not confirmed."""

    async def heartbeat(self, scope: str, seconds: float) -> None:
        """Keep the switch from lapsing; raise ``VenueError`` when that is not confirmed."""

    async def disarm(self, scope: str) -> None:
        """Stop the switch (a clean shutdown); raise ``VenueError`` when not confirmed."""


class SwitchKeeper:
    """See the module docstring. One per adapter built with ``dead_mans_switch_seconds``."""

    def __init__(
        self,
        venue: str,
        seconds: float,
        driver: SwitchDriver,
        *,
        report: Report,
        lapsed: Callable[[str], None],
        heartbeat_fraction: float = 1 / 3,
        retry_fraction: float = 1 / 10,
        lapse_margin_seconds: float = 0.5,
    ):
        if seconds <= 0:
            raise ValueError(f"dead_mans_switch_seconds must be > 0, got {seconds}")
        self.venue = venue
        self.seconds = seconds
        self._driver = driver
        self._report = report
        self._lapsed = lapsed
        self._interval = seconds * heartbeat_fraction
        self._retry = seconds * retry_fraction
        self._margin = lapse_margin_seconds
        self.unavailable: str | None = None
        self.armed: dict[str, float] = {}  # scope -> monotonic send time of its last confirmed (re)arm
        self.lapsed_scopes: set[str] = set()
        self._arming: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.heartbeats = 0
        self.failures = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        try:
            reason = await self._driver.check(self.seconds)
        except (VenueError, VenueReadError) as exc:
            reason = f"could not check the account's switch: {exc}"
        if reason is not None:
            self._unavailable(ACCOUNT_SCOPE, reason)
            return
        if not self._driver.per_instrument:
            try:
                await self._arm(ACCOUNT_SCOPE)
            except NotArmed:
                return
        self._task = asyncio.create_task(self._beat(), name=f"dead-mans-switch:{self.venue}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        for scope in list(self.armed):
            try:
                await self._driver.disarm(scope)
            except (VenueError, VenueReadError) as exc:
                log.error("%s: dead-man's switch on %s not disarmed (%s); it lapses on its own", self.venue, scope, exc)
                continue
            del self.armed[scope]
            self._report(scope, SwitchState.DISARMED, "disarmed by a clean close")

    # ------------------------------------------------------------------ arming

    async def before_order(self, instrument: str) -> None:
        """Arm ``instrument``'s switch unless it is armed (per-instrument switches only); raises ``NotArmed``."""
        if not self._driver.per_instrument or self.unavailable is not None or instrument in self.armed:
            return
        pending = self._arming.get(instrument)
        if pending is not None:
            await asyncio.shield(pending)
            if instrument not in self.armed:
                raise NotArmed(f"{self.venue}: dead-man's switch on {instrument} could not be armed")
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arming[instrument] = future
        try:
            await self._arm(instrument)
        finally:
            del self._arming[instrument]
            future.set_result(None)
        if self._task is None:
            self._task = asyncio.create_task(self._beat(), name=f"dead-mans-switch:{self.venue}")

    async def _arm(self, scope: str) -> None:
        sent = time.monotonic()
        try:
            await self._driver.arm(scope, self.seconds)
        except (VenueError, VenueReadError) as exc:
            detail = f"could not arm the dead-man's switch on {scope}: {exc}"
            log.error("%s: %s", self.venue, detail)
            self._report(scope, SwitchState.UNAVAILABLE, detail)
            raise NotArmed(f"{self.venue}: {detail}") from exc
        self.armed[scope] = sent
        self._report(scope, SwitchState.ARMED, f"countdown {self.seconds:g}s, heartbeat every {self._interval:g}s")

    def _unavailable(self, scope: str, reason: str) -> None:
        self.unavailable = reason
        log.error("%s: dead-man's switch NOT armed: %s", self.venue, reason)
        self._report(scope, SwitchState.UNAVAILABLE, reason)

    # ------------------------------------------------------------------ heartbeats

    async def _beat(self) -> None:
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._retry if failing else self._interval):
                    await self._wake.wait()
            self._wake.clear()
            now = time.monotonic()
            for scope in list(self.armed):
                self._check_lapse(scope, now)  # a heartbeat still hanging must not hide a lapse
            results = await asyncio.gather(*(self._heartbeat(scope) for scope in list(self.armed)))
            failing = not all(results)

    async def _heartbeat(self, scope: str) -> bool:
        sent = time.monotonic()
        try:
            async with asyncio.timeout(max(self._interval, 0.5)):
                await self._driver.heartbeat(scope, self.seconds)
        except (VenueError, VenueReadError, TimeoutError) as exc:
            self.failures += 1
            log.warning("%s: dead-man's switch heartbeat on %s failed (retrying): %s", self.venue, scope, exc)
            self._report(scope, SwitchState.HEARTBEAT_FAILED, str(exc))
            self._check_lapse(scope, time.monotonic())
            return False
        except Exception:  # the task must outlive any bug in one heartbeat
            log.exception("%s: dead-man's switch heartbeat on %s raised", self.venue, scope)
            return False
        self.heartbeats += 1
        if scope in self.armed:
            self.armed[scope] = sent
        if scope in self.lapsed_scopes:
            self.lapsed_scopes.discard(scope)
            self._report(scope, SwitchState.RESTORED, "a heartbeat got through again: armed")
            self._lapsed(scope)
        return True

    def _check_lapse(self, scope: str, now: float) -> None:
        last = self.armed.get(scope)
        if last is None or scope in self.lapsed_scopes or now < last + self.seconds + self._margin:
            return
        self.lapsed_scopes.add(scope)
        detail = (
            f"no heartbeat confirmed for {now - last:.1f}s (countdown {self.seconds:g}s): "
            "the venue may have canceled our resting orders; re-reading them"
        )
        log.error("%s: dead-man's switch on %s LAPSED: %s", self.venue, scope, detail)
        self._report(scope, SwitchState.LAPSED, detail)
        self._lapsed(scope)
