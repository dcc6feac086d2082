"""What both dialects' history reads share: the time window a request's ``startTime``/``endTime`` cover."""

from __future__ import annotations

__all__ = ["WEEK_MS", "time_window"]

WEEK_MS = 7 * 86_400_000


def time_window(start: int | None, end: int | None, now: int, span_ms: int = WEEK_MS) -> tuple[int, int]:
    """``(start, end)``: a missing bound lies ``span_ms`` from the other; with neither, the last ``span_ms``.

    The caller refuses an inverted or too long window with its own venue's error.
    """
    if start is None and end is None:
        return now - span_ms, now
    if start is None:
        assert end is not None
        return end - span_ms, end
    if end is None:
        return start, start + span_ms
    return start, end
