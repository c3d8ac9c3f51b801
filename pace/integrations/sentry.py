"""Report job failures to Sentry: an ``"error"`` hook that captures the exception with job tags.

Needs ``sentry-sdk`` 2.x (``pip install 'pace-worker[sentry]'``); importing this module
without it raises :class:`ImportError` saying so.

Every failure pace stores (and every error that is no job's, such as Redis going away while
fetching) becomes one Sentry event, captured in an isolated scope so nothing leaks into other
events. A job's event carries the tags ``pace.queue``, ``pace.class``, ``pace.job_id`` and
``pace.worker``, a ``"pace job"`` context with the queue, class, args, job id and worker id,
and the job class as its transaction name (unless a Sentry transaction is already active).
A payload that did not decode still gets ``pace.queue`` and ``pace.worker``, and its raw text
in the context.

Job args are sent to Sentry as they are; strip secrets with Sentry's ``before_send`` if your
args hold any.

Example::

    import sentry_sdk
    import pace.integrations.sentry

    sentry_sdk.init(dsn="https://key@o0.ingest.sentry.io/0")
    pace.integrations.sentry.install()            # every worker
    # or: pace.integrations.sentry.install(worker)  # one worker
"""

from __future__ import annotations

from typing import Any

try:
    import sentry_sdk
except ImportError as exc:
    raise ImportError(
        "pace.integrations.sentry needs sentry-sdk: pip install 'pace-worker[sentry]'"
    ) from exc

from pace.errors import JobError
from pace.job import current_job
from pace.wire import ID_FIELD
from pace.worker import Worker

__all__ = ["install", "sentry_hook"]

CONTEXT = "pace job"
"""The name of the Sentry context holding the job's details."""

_MAX_TAG = 200  # Sentry drops tag values longer than this


def sentry_hook(payload: dict[str, Any] | str | None, exc: BaseException) -> None:
    """Capture ``exc`` in Sentry, tagged with the failed job: a pace ``"error"`` hook.

    Inside a hook fired for a job, the details come from :func:`pace.current_job`; otherwise
    from ``payload`` (a decoded payload dict, or the raw text of one that did not decode).
    With ``payload`` ``None`` (an error that is no job's) the event has no pace tags. Without
    an initialised Sentry client this does nothing.

    Args:
        payload: the job's decoded payload, its raw text, or ``None``.
        exc: the exception to report.

    Example::

        worker.add_hook("error", sentry_hook)   # or simply: install(worker)
    """
    with sentry_sdk.isolation_scope() as scope:
        details = _job_details(payload, exc)
        if details is not None:
            tags, context, class_name = details
            scope.set_tags({key: value[:_MAX_TAG] for key, value in tags.items()})
            scope.set_context(CONTEXT, context)
            if class_name and scope.span is None:
                scope.set_transaction_name(class_name, source="task")
        sentry_sdk.capture_exception(exc)


def install(worker: Worker | None = None) -> None:
    """Report failures to Sentry: add :func:`sentry_hook` as an ``"error"`` hook.

    Call ``sentry_sdk.init(...)`` too (before or after). Installing twice reports twice.

    Args:
        worker: the worker to report for; ``None`` for every worker (a class-level hook,
            undone by ``pace.Worker.remove_hook("error", sentry_hook)``).

    Example::

        sentry_sdk.init(dsn="https://key@o0.ingest.sentry.io/0")
        pace.integrations.sentry.install()
    """
    if worker is None:
        Worker.add_hook("error", sentry_hook)
    else:
        worker.add_hook("error", sentry_hook)


def _job_details(
    payload: dict[str, Any] | str | None, exc: BaseException
) -> tuple[dict[str, str], dict[str, Any], str | None] | None:
    """``(tags, context, class name)`` for the failed job, or ``None`` when there is none.

    With no running job (a payload that did not decode, a poison job), the queue and the
    worker come from the :class:`pace.JobError` the worker raised."""
    job = current_job()
    if job is not None:
        worker_id = job.worker.id if job.worker is not None else None
        tags = {"pace.queue": job.queue, "pace.class": job.class_name}
        if job.id is not None:
            tags["pace.job_id"] = job.id
        if worker_id is not None:
            tags["pace.worker"] = worker_id
        context = {
            "queue": job.queue,
            "class": job.class_name,
            "args": job.args,
            "job id": job.id,
            "worker id": worker_id,
        }
        return tags, context, job.class_name
    tags = {}
    if isinstance(exc, JobError):
        if exc.queue is not None:
            tags["pace.queue"] = exc.queue
        if exc.worker_id is not None:
            tags["pace.worker"] = exc.worker_id
    if isinstance(payload, dict):
        class_name = payload.get("class")
        job_id = payload.get(ID_FIELD)
        if isinstance(class_name, str) and class_name:
            tags["pace.class"] = class_name
        else:
            class_name = None
        if isinstance(job_id, str):
            tags["pace.job_id"] = job_id
        context = {"class": class_name, "args": payload.get("args"), "job id": job_id}
        return tags, {**context, **_where(tags)}, class_name
    if isinstance(payload, str):
        return tags, {"raw payload": payload, **_where(tags)}, None
    return None


def _where(tags: dict[str, str]) -> dict[str, str]:
    """The queue and worker of ``tags``, as context entries."""
    names = {"pace.queue": "queue", "pace.worker": "worker id"}
    return {names[tag]: value for tag, value in tags.items() if tag in names}
