"""A progress entry as stored and read back (:class:`Tick`), its scope, times and clock.

Part of :mod:`pace.progress`, which re-exports what is public here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pace.errors import ConfigError
from pace.keys import reserved

__all__ = ["Scope", "Tick", "dumps", "now", "scope_key", "seconds"]

Scope = str | int | Sequence[str | int]
"""A scope: ``("user", 3421)``, or one part (``"imports"``)."""


def now() -> float:
    """The clock, Unix seconds (tests replace ``pace.progress._tick.now``)."""
    return time.time()


def scope_key(scope: Scope, *, prefix: str | None = None) -> str:
    """``"user:3421"`` for ``("user", 3421)``; raises ConfigError for an empty one, or one that
    starts with a name of pace's own keys (unless it goes under a Progressrus ``prefix``)."""
    parts = [scope] if isinstance(scope, str | int) else list(scope)
    names = [str(part) for part in parts]
    if not names or not all(names):
        raise ConfigError(f"a progress scope needs non-empty parts, got {scope!r}")
    key = ":".join(names)
    if prefix is None and reserved(key):
        raise ConfigError(
            f"progress scopes cannot start with {names[0]!r}: pace uses that name for its own keys"
        )
    return key


def _iso(moment: datetime | None) -> str | None:
    """A stored time: ISO 8601 with microseconds (an ETA read back is the writer's)."""
    return None if moment is None else moment.isoformat(timespec="microseconds")


def seconds(value: Any) -> float | None:
    """Unix seconds of a stored time: pace's ISO 8601, or Ruby's ``2026-11-23 10:00:00 +0000``."""
    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Tick:
    """One job's progress, as a query returns it.

    Example::

        tick = (await pace.progress.jobs(("user", 3421)))[job_id]
        print(tick.status, tick.percentage, tick.eta)
    """

    job_id: str
    count: int
    total: int | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    failed_at: datetime | None = None
    error: str | None = None
    error_count: int = 0
    name: str | None = None
    params: Any = None
    expires_at: datetime | None = field(default=None, repr=False)

    @property
    def percentage(self) -> float | None:
        """0 to 100; ``None`` when the total is unknown. A total of 0 is done: 100."""
        if self.total is None:
            return None
        if self.total == 0 or self.completed:
            return 100.0
        return min(100.0, 100.0 * self.count / self.total)

    @property
    def eta(self) -> datetime | None:
        """When the job should finish, at the rate observed since it started (``None``: not
        known yet, or already over). For a job that ticks at a steady rate, the elapsed time
        over the count, times the total, is exact."""
        if self.total is None or self.finished_at or self.failed_at:
            return None
        if self.count <= 0:
            return None
        spent = (self.updated_at - self.started_at).total_seconds()
        return self.started_at + timedelta(seconds=spent * self.total / self.count)

    @property
    def elapsed(self) -> timedelta:
        """From start to finish (or to the last update, while it runs)."""
        end = self.failed_at or self.finished_at or self.updated_at
        return end - self.started_at

    @property
    def status(self) -> Literal["started", "running", "completed", "failed"]:
        """``failed`` or ``completed`` once over; ``started`` before the first tick."""
        if self.failed_at:
            return "failed"
        if self.finished_at:
            return "completed"
        return "running" if self.count > 0 else "started"

    @property
    def running(self) -> bool:
        """True until it completed or failed."""
        return self.status in ("started", "running")

    @property
    def completed(self) -> bool:
        """True once it completed."""
        return self.finished_at is not None and self.failed_at is None

    @property
    def failed(self) -> bool:
        """True once it failed."""
        return self.failed_at is not None

    def to_json(self) -> dict[str, Any]:
        """The stored JSON (see the module docstring)."""
        percentage = self.percentage
        return {
            "percent": None if percentage is None else math.floor(percentage),
            "count": self.count,
            "total": self.total,
            "started_at": _iso(self.started_at),
            "estimated_finished_at": _iso(self.eta),
            "finished_at": _iso(self.finished_at),
            "failed_at": _iso(self.failed_at),
            "error": self.error,
            "error_count": self.error_count,
            "name": self.name,
            "params": self.params,
            "updated_at": _iso(self.updated_at),
            "expires_at": _iso(self.expires_at),
        }

    def to_progressrus(self, scope: str) -> dict[str, Any]:
        """The JSON the Ruby gem Progressrus stores (its ``to_serializeable``): only the keys
        ``Progressrus.new`` takes, or Ruby's ``Progressrus.scope`` raises on the entry."""
        return {
            "name": self.name or self.job_id,
            "id": self.job_id,
            "scope": scope.split(":"),
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.finished_at),
            "failed_at": _iso(self.failed_at),
            "expires_at": _iso(self.expires_at),
            "count": self.count,
            "total": self.total,
            "params": {} if self.params is None else self.params,
            "error_count": self.error_count,
        }

    @classmethod
    def from_json(cls, job_id: str, data: dict[str, Any]) -> Tick:
        """Read a stored entry back (pace's JSON, or Progressrus's: see the module docstring)."""

        def moment(key: str) -> datetime | None:
            unix = seconds(data.get(key))
            return None if unix is None else datetime.fromtimestamp(unix, UTC)

        started = moment("started_at") or datetime.fromtimestamp(0, UTC)
        return cls(
            job_id=job_id,
            count=int(data.get("count") or 0),
            total=data.get("total"),
            started_at=started,
            updated_at=moment("updated_at") or started,
            finished_at=moment("finished_at") or moment("completed_at"),
            failed_at=moment("failed_at"),
            error=data.get("error"),
            error_count=int(data.get("error_count") or 0),
            name=data.get("name"),
            params=data.get("params"),
            expires_at=moment("expires_at"),
        )


def dumps(data: dict[str, Any]) -> bytes:
    """An entry's JSON, compact."""
    return json.dumps(data, separators=(",", ":"), default=str).encode()
