"""a fast, trustworthy asyncio worker for Resque-format jobs in Redis.

Example::

    import pace

    async def handler(job: pace.Job) -> None:
        print(job.class_name, job.args)

    await pace.enqueue("normal", "Greet", "world")
    await pace.Worker(["normal"], concurrency=50).start(handler)
"""

from __future__ import annotations

from pace.client import Client, Info, enqueue
from pace.connection import connect
from pace.control import Pause, Pauses
from pace.errors import (
    CannotRequeue,
    ConfigError,
    EmbeddedUnavailable,
    InvalidPayload,
    JobError,
    JobTimeout,
    NoSuchFailure,
    PaceError,
    PoisonJob,
    RedisUnavailable,
    Retry,
    UnknownJobClass,
)
from pace.failures import Failure, Failures, RequeueSummary
from pace.job import Job, current_job
from pace.progress import Progress, Tick
from pace.retry import RetryPolicy
from pace.runner import run
from pace.worker import Handler, Worker

__version__ = "0.1.0"

redis_url: str | None = None
"""The Redis URL, when no URL is given explicitly; else ``REDIS_URL``, else localhost."""

__all__ = [
    "CannotRequeue",
    "Client",
    "ConfigError",
    "EmbeddedUnavailable",
    "Failure",
    "Failures",
    "Handler",
    "Info",
    "InvalidPayload",
    "Job",
    "JobError",
    "JobTimeout",
    "NoSuchFailure",
    "PaceError",
    "Pause",
    "Pauses",
    "PoisonJob",
    "Progress",
    "RedisUnavailable",
    "RequeueSummary",
    "Retry",
    "RetryPolicy",
    "Tick",
    "UnknownJobClass",
    "Worker",
    "__version__",
    "connect",
    "current_job",
    "enqueue",
    "redis_url",
    "run",
]
