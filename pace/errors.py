"""Every exception pace raises, in one place.

The tree::

    PaceError
    ├── ConfigError (also ValueError)      a bad setting, named in the message
    ├── RedisUnavailable                   Redis cannot be reached at the URL
    ├── EmbeddedUnavailable                the embedded redis-server cannot be started
    └── JobError                           a job that cannot run; becomes a failure record
        ├── InvalidPayload                 not a Resque job (bad JSON, no class, ...)
        └── UnknownJobClass                no handler registered for the job's class
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EmbeddedUnavailable",
    "InvalidPayload",
    "JobError",
    "PaceError",
    "RedisUnavailable",
    "UnknownJobClass",
]


class PaceError(Exception):
    """Base class of every error pace raises."""


class ConfigError(PaceError, ValueError):
    """A setting is missing, unknown or out of range; the message names it."""


class RedisUnavailable(PaceError):
    """Redis cannot be reached at the configured URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"cannot connect to Redis at {url} ({reason}); start a Redis server there, "
            "set REDIS_URL or --redis-url, or use --embedded"
        )


class EmbeddedUnavailable(PaceError):
    """The embedded redis-server cannot be started (extra missing, bad directory, ...)."""


class JobError(PaceError):
    """A job that cannot be run; the worker records it as a failure and goes on."""


class InvalidPayload(JobError):
    """The raw payload is not a Resque job (bad JSON, not an object, bad ``class`` or ``args``)."""


class UnknownJobClass(JobError):
    """The handler registry has no coroutine for the job's class."""
