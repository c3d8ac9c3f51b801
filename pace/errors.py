"""Every exception pace raises, in one place.

The tree::

    PaceError
    ├── ConfigError (also ValueError)      a bad setting, named in the message
    ├── RedisUnavailable                   Redis cannot be reached at the URL
    ├── EmbeddedUnavailable                the embedded redis-server cannot be started
    ├── NoSuchFailure (also LookupError)   no failure record at that index
    ├── CannotRequeue                      a failure record that holds no job to requeue
    ├── NoSuchBatch (also LookupError)     the batch finished, expired or was deleted
    │   ├── NoSuchMultiStepTask            ... a multi-step task (pace.MultiStepTask)
    │   └── NoSuchStagedGroup              ... a staged group (pace.StagedGroup)
    ├── StageComplete                      jobs added to a multi-step task that is finalizing
    ├── JobError                           a job that cannot run; becomes a failure record
    │   ├── InvalidPayload                 not a Resque job (bad JSON, no class, ...)
    │   ├── UnknownJobClass                no handler registered for the job's class
    │   ├── JobTimeout                     the job ran longer than the worker's job_timeout
    │   └── PoisonJob                      workers kept dying while running the job
    └── Retry                              raised by a handler: run this job again later
"""

from __future__ import annotations

__all__ = [
    "CannotRequeue",
    "ConfigError",
    "EmbeddedUnavailable",
    "InvalidPayload",
    "JobError",
    "JobTimeout",
    "NoSuchBatch",
    "NoSuchFailure",
    "NoSuchMultiStepTask",
    "NoSuchStagedGroup",
    "PaceError",
    "PoisonJob",
    "RedisUnavailable",
    "Retry",
    "StageComplete",
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


class NoSuchFailure(PaceError, LookupError):
    """No record at that index of ``resque:failed``; the message names the index and the count."""

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count
        there = (
            "there are no failures"
            if count == 0
            else f"there {'is' if count == 1 else 'are'} {count} "
            f"(indexes 0 to {count - 1}, or -{count} to -1)"
        )
        super().__init__(f"no failure at index {index}: {there}")


class CannotRequeue(PaceError):
    """A failure record holds no job to requeue (not JSON, or a payload with no class)."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"failure {index} cannot be requeued: {reason}")


class NoSuchBatch(PaceError, LookupError):
    """No batch with that id: it finished (its state goes with it), expired or was deleted."""

    kind = "batch"

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(
            f"no {self.kind} {batch_id!r}: it finished, expired or was deleted (or never existed)"
        )


class NoSuchMultiStepTask(NoSuchBatch):
    """No multi-step task with that id (see :meth:`pace.MultiStepTask.find`)."""

    kind = "multi-step task"


class NoSuchStagedGroup(NoSuchBatch):
    """No staged group with that id (see :meth:`pace.StagedGroup.find`)."""

    kind = "staged group"


class StageComplete(PaceError):
    """Jobs added to a stage that is already complete, where that would break the order: a
    multi-step task's normal jobs once its finalization jobs have begun."""

    def __init__(self, batch_id: str, stage: int) -> None:
        self.batch_id = batch_id
        self.stage = stage
        super().__init__(
            f"stage {stage} of {batch_id!r} is complete (finalization has begun); "
            "jobs can no longer be added to it"
        )


class JobError(PaceError):
    """A job that cannot be run; the worker records it as a failure and goes on.

    The worker sets :attr:`queue` and :attr:`worker_id` before it fires the error hooks, for
    hooks that have no job to ask (a payload that did not decode has none).
    """

    queue: str | None = None
    """The queue the job was taken from."""
    worker_id: str | None = None
    """The id of the worker that failed it."""


class InvalidPayload(JobError):
    """The raw payload is not a Resque job (bad JSON, not an object, bad ``class`` or ``args``)."""


class UnknownJobClass(JobError):
    """The handler registry has no coroutine for the job's class."""


class JobTimeout(JobError):
    """The job ran longer than the worker's ``job_timeout`` and was cancelled."""


class PoisonJob(JobError):
    """Workers kept dying while running this job; it is failed instead of run again."""


class Retry(PaceError):
    """Raise in a handler to run the job again later.

    The job's retry policy (or the default :class:`pace.RetryPolicy`) bounds the attempts;
    ``delay`` (seconds) overrides the policy's backoff.

    Example::

        async def handler(job: pace.Job) -> None:
            if not await service_ready():
                raise pace.Retry(delay=30)
    """

    def __init__(self, delay: float | None = None) -> None:
        self.delay = delay
        super().__init__("the job asked to be retried" + (f" in {delay} s" if delay else ""))
