"""How the pages write durations and moments: one format for every time, whichever of Resque's
several a key holds, with how long ago (``pace.js`` keeps the "ago" and countdowns current)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "CHART_HEIGHT",
    "CHART_WIDTH",
    "Moment",
    "ago",
    "chart",
    "duration",
    "moment",
    "pretty",
    "until_text",
]

CHART_WIDTH, CHART_HEIGHT = 600, 120
_FORMATS = ("%Y/%m/%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S %z", "%Y/%m/%d %H:%M:%S %z")
"""Resque's failed_at, Ruby's Time#to_s; ISO 8601 and RFC 2822 are read too."""


def duration(seconds: float | None) -> str:
    """``45 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``; ``-`` for ``None``."""
    if seconds is None:
        return "-"
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def ago(epoch: float, now: float | None = None) -> str:
    """``3 min 5 s ago``, or ``in 20 s`` for a moment to come."""
    delta = (time.time() if now is None else now) - epoch
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"


@dataclass(frozen=True, slots=True)
class Moment:
    """A moment as the pages show it."""

    epoch: float
    iso: str
    """``2026-11-23T00:24:57Z``, for ``<time datetime>``."""
    shown: str
    """``2026-11-23 00:24:57 UTC``."""
    ago: str


def _parse(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC) if 0 <= value < 10**11 else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    for pattern in _FORMATS:
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def moment(value: Any, now: float | None = None) -> Moment | None:
    """``value`` (Unix seconds, or a time in one of Resque's formats) as a :class:`Moment`;
    None if it is none of them."""
    try:
        parsed = _parse(value)
    except (OverflowError, OSError, ValueError):
        parsed = None
    if parsed is None:
        return None
    at = parsed.astimezone(UTC)
    return Moment(
        epoch=round(at.timestamp(), 3),
        iso=at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        shown=at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        ago=ago(at.timestamp(), now),
    )


def until_text(until: float | None) -> str:
    """``until 12:30:05 UTC (4 min 10 s left)``, or ``until resumed``."""
    if until is None:
        return "until resumed"
    at = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
    return f"until {at} ({duration(until - time.time())} left)"


def pretty(value: Any) -> str:
    """Indented JSON, for a payload shown whole."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def chart(series: list[list[int]], per: float = 60.0) -> dict[str, Any]:
    """SVG polylines (in a ``CHART_WIDTH`` x ``CHART_HEIGHT`` box) of counts per ``per``
    seconds, drawn as rates per second on one scale; the scale's top is ``top``."""
    rates = [[count / per for count in values] for values in series]
    top = max((rate for values in rates for rate in values), default=0.0)
    top = _nice(top)
    lines = []
    for values in rates:
        step = CHART_WIDTH / max(1, len(values) - 1)
        points = " ".join(
            f"{n * step:.1f},{CHART_HEIGHT - (rate / top) * CHART_HEIGHT:.1f}"
            for n, rate in enumerate(values)
        )
        lines.append(points)
    return {"lines": lines, "top": top, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def _nice(value: float) -> float:
    """A round top for a scale (1, 2 or 5 times a power of ten), at least 0.1 per second."""
    if value <= 0.1:
        return 0.1
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1.0, 2.0, 5.0, 10.0) if step * power >= value)
