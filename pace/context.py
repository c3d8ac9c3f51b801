"""The job the calling task is running: set by the worker, read by progress and hooks.

It lives at the bottom of the package so that features (progress) can read the running job's
id without importing the job module; :func:`pace.current_job` is the typed way to read it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

__all__ = ["RunningJob", "current"]


class RunningJob(Protocol):
    """What a feature may ask of the running job."""

    @property
    def id(self) -> str | None:
        """The job's id (``None`` for a job enqueued without one)."""


current: ContextVar[RunningJob | None] = ContextVar("pace_current_job", default=None)
"""The running job of this task (a :class:`pace.Job`), else ``None``."""
