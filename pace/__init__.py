"""a fast, trustworthy asyncio worker for Resque-format jobs in Redis.

Example::

    import pace

    async def handler(job: pace.Job) -> None:
        print(job.class_name, job.args)

    await pace.enqueue("normal", "Greet", "world")
    await pace.Worker(["normal"], concurrency=50).start(handler)
"""

from __future__ import annotations

from pace.batch import BatchJob
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
    NoSuchBatch,
    NoSuchFailure,
    NoSuchMultiStepTask,
    NoSuchStagedGroup,
    PaceError,
    PoisonJob,
    RedisUnavailable,
    Retry,
    StageComplete,
    UnknownJobClass,
)
from pace.failures import Failure, Failures, RequeueSummary
from pace.job import Job, current_job
from pace.multistep import MultiStepTask
from pace.progress import Progress, Tick
from pace.retry import RetryPolicy
from pace.runner import run
from pace.stages import Stage, StagedGroup, StagedJobHandle
from pace.worker import Handler, Worker

__version__ = "0.1.0"

redis_url: str | None = None
"""The Redis URL, when no URL is given explicitly; else ``REDIS_URL``, else localhost."""

__all__ = [
    "BatchJob",
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
    "MultiStepTask",
    "NoSuchBatch",
    "NoSuchFailure",
    "NoSuchMultiStepTask",
    "NoSuchStagedGroup",
    "PaceError",
    "Pause",
    "Pauses",
    "PoisonJob",
    "Progress",
    "RedisUnavailable",
    "RequeueSummary",
    "Retry",
    "RetryPolicy",
    "Stage",
    "StageComplete",
    "StagedGroup",
    "StagedJobHandle",
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
