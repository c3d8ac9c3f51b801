"""A Resque job: encoding as Ruby does, decoding with clear errors."""

from __future__ import annotations

import hashlib
import json
import reprlib
import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import orjson

from pace.errors import InvalidPayload

if TYPE_CHECKING:
    from pace.multistep import MultiStepTask
    from pace.progress import Progress, Scope
    from pace.stages import StagedJobHandle
    from pace.worker import Worker

__all__ = [
    "BATCH_FIELD",
    "ID_FIELD",
    "STAGE_FIELD",
    "Job",
    "batch_of",
    "current_job",
    "decode",
    "encode",
    "loads",
    "new_job",
]

ID_FIELD = "id"
"""The payload key of pace's job id; Ruby Resque ignores keys it does not know."""
BATCH_FIELD = "pace_batch"
"""The payload key of the batch (multi-step task or staged group) a job belongs to."""
STAGE_FIELD = "pace_stage"
"""The payload key of the stage (1, 2, ...) of its batch a job belongs to."""

_current: ContextVar[Job | None] = ContextVar("pace_current_job", default=None)


def current_job() -> Job | None:
    """The job the calling task is running (in a handler or a hook), else ``None``."""
    return _current.get()


def encode(payload: dict[str, Any]) -> bytes:
    """Encode a payload exactly as Ruby's ``Resque.encode`` does (compact, UTF-8, in order).

    Raises ``ValueError`` for NaN and infinities, which are not JSON (Ruby refuses them).
    """
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT = json.JSONDecoder(parse_constant=_refuse_constant)


def loads(text: str | bytes) -> Any:
    """Parse JSON as Ruby's ``JSON.parse`` does: UTF-8 only, no NaN or Infinity.

    orjson parses the common case fast; what it refuses (and big integers, which it cannot
    hold) goes through the standard library, whose errors say what is wrong.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _STRICT.decode(text.decode() if isinstance(text, bytes) else text)


def batch_of(payload: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """``(batch id, job id, stage)`` of a batch job's payload; ``None`` for any other job
    (a payload whose batch keys are not what pace writes is treated as no batch's)."""
    batch_id = payload.get(BATCH_FIELD)
    job_id = payload.get(ID_FIELD)
    stage = payload.get(STAGE_FIELD)
    if (
        isinstance(batch_id, str)
        and batch_id
        and ":" not in batch_id
        and isinstance(job_id, str)
        and job_id
        and type(stage) is int
        and stage >= 1
    ):
        return batch_id, job_id, stage
    return None


def new_job(
    class_name: str, args: Sequence[Any], extra: Mapping[str, Any] | None = None
) -> tuple[str, bytes]:
    """A new job's id and its JSON, ``{"class":..,"args":[..],"id":..}``: what
    ``Resque.enqueue`` writes, plus an id Ruby ignores (and ``extra`` keys after it).

    Raises:
        InvalidPayload: the class is not a non-empty string, or the args are not JSON values.
    """
    if not isinstance(class_name, str) or not class_name:
        raise InvalidPayload(f"a job class must be a non-empty string, got {class_name!r}")
    job_id = uuid.uuid4().hex
    payload = {"class": class_name, "args": list(args), ID_FIELD: job_id}
    if extra:
        payload.update(extra)
    try:
        return job_id, encode(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"job args must be JSON values: {exc}") from None


class Job:
    """One job taken from a queue, as a handler sees it.

    Attributes:
        queue: the queue it came from.
        class_name: the payload's ``class``.
        args: the payload's ``args`` (a list).
        id: pace's job id, or ``None`` for a job enqueued without one (by Ruby, say).
        payload: the whole decoded payload, unknown keys included.
        raw: the bytes exactly as they were in Redis.
        worker: the worker running it.
        started_at: when the worker started it (epoch seconds).

    Example::

        async def handler(job: pace.Job) -> None:
            print(job.class_name, job.args, job.queue)
    """

    __slots__ = (
        "_progresses", "args", "class_name", "id", "payload", "queue", "raw", "started_at",
        "worker",
    )  # fmt: skip

    def __init__(
        self, queue: str, raw: bytes, payload: dict[str, Any], worker: Worker | None = None
    ) -> None:
        self.queue = queue
        self.raw = raw
        self.payload = payload
        self.class_name: str = payload["class"]
        self.args: list[Any] = payload.get("args") or []
        job_id = payload.get(ID_FIELD)
        self.id: str | None = job_id if isinstance(job_id, str) else None
        self.worker = worker
        self.started_at = 0.0
        self._progresses: list[Progress] | None = None

    @property
    def attempt(self) -> int:
        """Which run this is: 1 the first time, 2 for the first retry, ..."""
        attempt = self.payload.get("pace_attempt", 1)
        return attempt if isinstance(attempt, int) and attempt >= 1 else 1

    def progress(
        self,
        scope: Scope,
        total: int | None,
        *,
        name: str | None = None,
        params: Any = None,
        interval: float = 2.0,
        expire: float = 86400.0,
    ) -> Progress:
        """A :class:`pace.Progress` for this job: its id is the job's (a digest of the payload
        for a job enqueued without one), its name the class, its params the args; it writes
        through the worker's connection, and the worker marks it failed if the job fails.

        Example::

            async def handler(job: pace.Job) -> None:
                progress = await job.progress(("user", job.args[0]), total=len(rows))
                for row in rows:
                    await save(row)
                    await progress.tick()
        """
        from pace.progress import Progress, RedisStore

        worker = self.worker
        store = None
        if worker is not None and worker.redis is not None:
            store = RedisStore(worker.redis, namespace=worker.keys.namespace, keep=expire)
        progress = Progress(
            scope,
            total,
            job_id=self.id or hashlib.sha1(self.raw).hexdigest(),
            name=name or self.class_name,
            params=self.args if params is None else params,
            interval=interval,
            expire=expire,
            store=store,
        )
        if self._progresses is None:
            self._progresses = []
        self._progresses.append(progress)
        return progress

    @property
    def multi_step_task(self) -> MultiStepTask | None:
        """The :class:`pace.MultiStepTask` this job belongs to (``None`` for other jobs), on
        the worker's connection: a running job can add jobs to its own task.

        Example::

            async def handler(job: pace.Job) -> None:
                await job.multi_step_task.add_job("ConvertPost", post_id)
        """
        from pace.multistep import task_of

        return task_of(self)

    @property
    def staged(self) -> StagedJobHandle | None:
        """This job as part of its :class:`pace.StagedGroup` (``None`` for other jobs): its
        stage, its group and its status message, on the worker's connection.

        Example::

            async def handler(job: pace.Job) -> None:
                await job.staged.set_status_message("halfway")
                await job.staged.group.stage(3).enqueue("Summary")
        """
        from pace.stages import handle_of

        return handle_of(self)

    async def fail_progress(self, reason: str) -> None:
        """Mark every running progress of this job failed (the worker does, when it fails)."""
        for progress in self._progresses or ():
            if progress.running:
                await progress.fail(reason)
            await progress.aclose()

    def __repr__(self) -> str:
        return f"<Job {self.class_name} id={self.id} queue={self.queue}>"


def decode(raw: bytes, queue: str, worker: Worker | None = None) -> Job:
    """Decode raw bytes from a queue into a :class:`Job`.

    Raises:
        InvalidPayload: the bytes are not UTF-8 JSON, not an object, or ``class``/``args``
            are missing or of the wrong type. The message says which.
    """
    try:
        payload = loads(raw)
    except UnicodeDecodeError as exc:
        raise InvalidPayload(
            f"payload is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    except ValueError as exc:  # JSONDecodeError, or NaN / Infinity
        raise InvalidPayload(f"payload is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidPayload("payload JSON is nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidPayload(f"payload must be a JSON object, got {type(payload).__name__}")
    class_name = payload.get("class")
    if not isinstance(class_name, str) or not class_name:
        raise InvalidPayload(
            f"payload 'class' must be a non-empty string, got {reprlib.repr(class_name)}"
        )
    if not isinstance(payload.get("args", []), list):
        raise InvalidPayload(f"payload 'args' must be a list, got {type(payload['args']).__name__}")
    return Job(queue, raw, payload, worker)
