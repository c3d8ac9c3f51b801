"""Time formats of the Resque wire contract (``../shared/resque-format.md``)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["failed_at", "iso8601", "ruby_time", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def failed_at(moment: datetime) -> str:
    """``2026/11/22 10:53:41 UTC``: Resque's ``failed_at`` and ``retried_at``."""
    return moment.astimezone(UTC).strftime("%Y/%m/%d %H:%M:%S UTC")


def iso8601(moment: datetime, *, z: bool = False) -> str:
    """``2026-11-23T00:24:57+00:00`` (or ``...Z`` as Ruby's ``Time#utc.iso8601``)."""
    text = moment.astimezone(UTC).replace(microsecond=0).isoformat()
    return text.replace("+00:00", "Z") if z else text


def ruby_time(moment: datetime) -> str:
    """``2026-11-23 00:24:57 +0000``: Ruby's ``Time#to_s``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
