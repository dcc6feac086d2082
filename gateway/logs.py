"""Structured logs: the command fields every record about a command carries, and one JSON object per line.

A record about a command is logged with ``extra=command_fields(x)`` (x: a ``PendingCommand``, a
handle, a receipt or a report: anything with ``venue``, ``instrument``, ``operation`` and a
command id), so ``command_id``, ``venue``, ``instrument``, ``operation`` and ``client_order_id`` are
attributes of the ``LogRecord``, not words in its message. ``JsonFormatter`` prints each record as
one JSON object per line with those fields; ``gateway --log-json`` installs it (``configure``).

Secrets never reach a line: the formatters mask every secret registered with ``mask_secret``
(each venue adapter registers its key and secret; the CLI the credentials it knows) and anything
shaped like a request signature or an API-key header, in the message, the fields and the
traceback alike.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

import orjson

__all__ = ["COMMAND_FIELDS", "JsonFormatter", "command_fields", "configure", "mask_secret", "redact"]

COMMAND_FIELDS = ("command_id", "venue", "instrument", "operation", "client_order_id", "order_id")
_MASK = "***"
# A signed query's signature, and the headers that carry keys or signatures (Binance, Bybit).
_SIGNED = re.compile(
    r"(?i)(signature=|\"signature\"\s*:\s*\"|x-mbx-apikey['\"]?\s*[:=]\s*['\"]?|x-bapi-(?:api-key|sign)['\"]?\s*[:=]\s*['\"]?)"
    r"[^&\s'\",}]+"
)


def command_fields(command: Any) -> dict[str, str | None]:
    """The structured fields of a record about ``command`` (missing attributes are left out)."""
    command_id = getattr(command, "command_id", None)
    if command_id is None:  # a receipt: a cancel's request id, else the order's client id
        command_id = getattr(command, "request_id", None) or getattr(command, "client_order_id", None)
    operation = getattr(command, "operation", None)
    fields: dict[str, str | None] = {
        "command_id": command_id,
        "venue": getattr(command, "venue", None),
        "instrument": getattr(command, "instrument", None),
        "operation": getattr(operation, "value", operation),
        "client_order_id": getattr(command, "client_order_id", None),
    }
    order_id = getattr(command, "order_id", None)
    if order_id:
        fields["order_id"] = order_id
    return fields


_secrets: set[str] = set()


def mask_secret(*secrets: str | None) -> None:
    """Never print these (API keys and secrets the process holds) in a formatted line."""
    _secrets.update(s for s in secrets if s and len(s) >= 4)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return _SIGNED.sub(lambda m: m.group(1) + _MASK, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the command fields present, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in COMMAND_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = redact(str(value))
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(out).decode()


class _RedactingFormatter(logging.Formatter):
    """The plain text format, masked the same way."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(
    *, json: bool, level: int | str = logging.INFO, stream: IO[str] | None = None, secrets: Iterable[str] = ()
) -> logging.Handler:
    """Route every log record to ``stream`` (stderr) as JSON lines or masked text; returns the handler."""
    mask_secret(*secrets)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else _RedactingFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
