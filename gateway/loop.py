"""Which event loop the ``gateway`` command runs on: uvloop when installed (extra ``uvloop``), else asyncio's.

Only the command line chooses. The library runs on whatever loop its caller runs, asyncio's
default loop included; nothing else imports this module. ``GATEWAY_LOOP=asyncio`` keeps
asyncio's loop with uvloop installed (to compare, or to rule uvloop out).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import warnings

__all__ = ["choice", "install"]


def choice() -> str:
    """``"uvloop"`` or ``"asyncio"``: what ``install`` would pick in this environment."""
    if os.environ.get("GATEWAY_LOOP", "").strip().lower() == "asyncio":
        return "asyncio"
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def install() -> str:
    """Make every later ``asyncio.run`` use uvloop when ``choice()`` says so; returns the choice."""
    picked = choice()
    if picked == "uvloop":
        import uvloop

        with warnings.catch_warnings():
            # Python 3.14 deprecates loop policies; each subcommand calls asyncio.run itself, and a
            # policy is how that call picks uvloop up.
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return picked
