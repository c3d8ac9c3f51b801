"""a fast, trustworthy asyncio worker for Resque-format jobs in Redis.

Example::

    import pace

    async def handler(job: pace.Job) -> None:
        print(job.class_name, job.args)

    await pace.enqueue("normal", "Greet", "world")
    await pace.Worker(["normal"], concurrency=50).start(handler)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from pace.client import Client, Info, enqueue
    from pace.connection import connect
    from pace.control import Pause, Pauses
    from pace.failures import Failure, Failures, RequeueSummary
    from pace.job import Job, current_job
    from pace.limits import Limit, Limits
    from pace.progress import Progress, Tick
    from pace.retry import RetryPolicy
    from pace.runner import run
    from pace.worker import Handler, Worker
    from pace.workflows.model import BatchJob
    from pace.workflows.multistep import MultiStepTask
    from pace.workflows.stages import Stage, StagedGroup, StagedJobHandle

# Names load their module on first use, so that a worker process imports only what it runs
# (workflows, progress, failure admin and the web app stay out of its memory).
_LAZY = {
    "BatchJob": "pace.workflows.model",
    "Client": "pace.client",
    "Info": "pace.client",
    "enqueue": "pace.client",
    "connect": "pace.connection",
    "Pause": "pace.control",
    "Pauses": "pace.control",
    "Failure": "pace.failures",
    "Failures": "pace.failures",
    "RequeueSummary": "pace.failures",
    "Job": "pace.job",
    "Limit": "pace.limits",
    "Limits": "pace.limits",
    "current_job": "pace.job",
    "MultiStepTask": "pace.workflows.multistep",
    "Progress": "pace.progress",
    "Tick": "pace.progress",
    "RetryPolicy": "pace.retry",
    "run": "pace.runner",
    "Stage": "pace.workflows.stages",
    "StagedGroup": "pace.workflows.stages",
    "StagedJobHandle": "pace.workflows.stages",
    "Handler": "pace.job",
    "Worker": "pace.worker",
}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    try:  # a submodule: pace.progress, pace.embedded, ...
        return importlib.import_module(f"pace.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"pace.{name}":
            raise
        raise AttributeError(f"module 'pace' has no attribute {name!r}") from None


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
    "Limit",
    "Limits",
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
