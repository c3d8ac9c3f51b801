"""Retry policies: how many attempts a job class gets, and how long it waits between them."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from pace.errors import ConfigError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failing job is retried: exponential backoff with jitter, for chosen exceptions.

    Attempt ``n`` (1 = the first run) that fails with one of ``exceptions`` is run again after
    ``min(backoff * factor ** (n - 1), max_delay)`` seconds, each delay spread by +/- ``jitter``
    (a fraction) so that many jobs failing together do not come back together. Only the last
    failure is recorded in ``resque:failed``; its payload carries ``pace_attempt``.

    Example::

        worker = pace.Worker(
            ["mail"], retry={"SendMail": pace.RetryPolicy(attempts=5, exceptions=(OSError,))}
        )
    """

    attempts: int = 3
    """Total runs, the first included."""
    backoff: float = 1.0
    """Seconds before the first retry."""
    factor: float = 2.0
    """Each later delay is this many times the one before."""
    max_delay: float = 3600.0
    """No delay is longer than this."""
    jitter: float = 0.2
    """Each delay is spread uniformly by +/- this fraction."""
    exceptions: tuple[type[BaseException], ...] = (Exception,)
    """Only failures of these types are retried."""

    def __post_init__(self) -> None:
        if (
            isinstance(self.attempts, bool)
            or not isinstance(self.attempts, int)
            or self.attempts < 1
        ):
            raise ConfigError(
                f"RetryPolicy attempts must be a whole number >= 1, got {self.attempts!r}"
            )
        for name in ("backoff", "max_delay"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value < math.inf):
                raise ConfigError(
                    f"RetryPolicy {name} must be a number of seconds >= 0, got {value!r}"
                )
        if not (isinstance(self.factor, int | float) and 1 <= self.factor < math.inf):
            raise ConfigError(f"RetryPolicy factor must be a number >= 1, got {self.factor!r}")
        if not (isinstance(self.jitter, int | float) and 0 <= self.jitter <= 1):
            raise ConfigError(f"RetryPolicy jitter must be between 0 and 1, got {self.jitter!r}")
        if not all(
            isinstance(cls, type) and issubclass(cls, BaseException) for cls in self.exceptions
        ):
            raise ConfigError(
                f"RetryPolicy exceptions must be exception classes, got {self.exceptions!r}"
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after attempt ``attempt`` failed."""
        base = min(self.backoff * self.factor ** (attempt - 1), self.max_delay)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    def retries(self, exc: BaseException, attempt: int) -> bool:
        """True if attempt ``attempt``, failing with ``exc``, is to be run again."""
        return attempt < self.attempts and isinstance(exc, self.exceptions)
