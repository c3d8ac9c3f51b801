"""The Resque wire contract, pure: what pace reads and writes in Redis, byte for byte.

Payloads (``{"class": ..., "args": [...]}`` plus keys Ruby ignores), their encoding as Ruby's
``Resque.encode`` writes it, decoding with clear errors, the fields pace adds (job id, batch
membership, attempt), the ``queue:payload`` entry of the in-flight list and the schedule,
failure records as ``resque:failed`` holds them, and the time formats of the contract
(``docs/resque-format.md``). Nothing here touches Redis.
"""

from __future__ import annotations

import base64
import json
import reprlib
import traceback
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from pace.errors import InvalidPayload

__all__ = [
    "ATTEMPT_FIELD",
    "BATCH_FIELD",
    "ID_FIELD",
    "STAGE_FIELD",
    "TRACE_FIELD",
    "batch_of",
    "decode_payload",
    "encode",
    "entry_of",
    "exception_message",
    "exception_name",
    "failed_at",
    "failure_record",
    "iso8601",
    "loads",
    "new_job",
    "ruby_time",
    "split_entry",
    "utcnow",
    "working_on",
]

ID_FIELD = "id"
"""The payload key of pace's job id; Ruby Resque ignores keys it does not know."""
BATCH_FIELD = "pace_batch"
"""The payload key of the batch (multi-step task or staged group) a job belongs to."""
STAGE_FIELD = "pace_stage"
"""The payload key of the stage (1, 2, ...) of its batch a job belongs to."""
ATTEMPT_FIELD = "pace_attempt"
"""The payload key of a retried job's attempt (2 for the first retry); absent on the first."""
TRACE_FIELD = "pace_trace"
"""The payload key of a job's trace context (:mod:`pace.integrations.otel`): an object of
strings as the propagator writes them (``traceparent``...), and after a failed attempt
``previous``, the same for that attempt's span."""


# -- payloads ---------------------------------------------------------------------------------


def encode(payload: Mapping[str, Any]) -> bytes:
    """Encode a payload exactly as Ruby's ``Resque.encode`` does (compact, UTF-8, in order).

    Raises ``ValueError`` for NaN and infinities, which are not JSON (Ruby refuses them).
    """
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT = json.JSONDecoder(parse_constant=_refuse_constant)


_LONG_NUMBER = b"0" * 19
"""19 digits in a row (once every digit reads ``0``, :data:`_DIGITS`): a number orjson may
not hold exactly (it turns an integer beyond 64 bits into a float, silently:
-9223372036854775809 would become -9.223372036854776e+18)."""
_DIGITS = bytes(48 if 48 <= byte <= 57 else 46 for byte in range(256))
"""A ``bytes.translate`` table: every ASCII digit to ``0``, anything else to ``.`` (a search
of the result is four times faster than a regular expression's, on every job)."""


def loads(text: str | bytes) -> Any:
    """Parse JSON as Ruby's ``JSON.parse`` does: UTF-8 only, no NaN or Infinity, integers
    of any size kept exact.

    orjson parses the common case fast; text with a long run of digits, and what orjson
    refuses, go through the standard library (exact, and its errors say what is wrong).
    """
    raw = text.encode() if isinstance(text, str) else text
    if raw.translate(_DIGITS).find(_LONG_NUMBER) < 0:  # find(): twice as fast as `in` here
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return _STRICT.decode(raw.decode())


def decode_payload(raw: bytes) -> dict[str, Any]:
    """The payload of raw bytes from a queue, checked to be a Resque job.

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
    return payload


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


def batch_of(payload: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """``(batch id, job id, stage)`` of a batch job's payload; ``None`` for any other job
    (a payload whose batch keys are not what pace writes is treated as no batch's)."""
    batch_id = payload.get(BATCH_FIELD)
    if batch_id is None:  # most jobs: the worker asks once per job
        return None
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


# -- entries: ``queue:payload`` in the in-flight list and the schedule -----------------------


def entry_of(queue: str, raw: bytes) -> bytes:
    """The in-flight (and schedule) entry of a job: ``queue:payload`` (queue names never
    hold ``:``)."""
    return queue.encode() + b":" + raw


def split_entry(entry: bytes) -> tuple[str, bytes]:
    """``(queue, payload)`` of an entry."""
    queue, _, raw = entry.partition(b":")
    return queue.decode(), raw


# -- failure records --------------------------------------------------------------------------


def exception_name(exc: BaseException) -> str:
    """``ZeroDivisionError`` for builtins, ``module.Class`` otherwise."""
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _backtrace(exc: BaseException) -> list[str]:
    """Ruby-style lines, innermost first: ``file.py:12:in `perform'``."""
    frames = traceback.extract_tb(exc.__traceback__)
    return [f"{frame.filename}:{frame.lineno}:in `{frame.name}'" for frame in reversed(frames)]


def _encodable(payload: Mapping[str, Any]) -> bool:
    try:
        encode(payload)
    except (ValueError, RecursionError):  # NaN, a lone surrogate; nested too deep to encode
        return False
    return True


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception cannot say what it is."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose message raised an error>"


def failure_record(
    *,
    queue: str,
    raw: bytes,
    payload: Mapping[str, Any] | None,
    exc: BaseException,
    worker_id: str,
) -> dict[str, Any]:
    """A ``resque:failed`` entry, keys in Resque's order.

    ``payload`` is the decoded job; for bytes that would not decode (or whose decoded form
    JSON cannot hold: an infinite float, a lone surrogate, nesting too deep to encode again)
    it is the raw text, kept verbatim, and bytes that are not UTF-8 are also kept as
    ``raw_payload_base64``. The record always encodes: a job is never left without one.
    """
    if payload is not None and not _encodable(payload):
        payload = None
    record: dict[str, Any] = {
        "failed_at": failed_at(utcnow()),
        "payload": payload,
        "exception": exception_name(exc),
        "error": exception_message(exc),
        "backtrace": _backtrace(exc),
        "worker": worker_id,
        "queue": queue,
    }
    if payload is None:
        try:
            record["payload"] = raw.decode()
        except UnicodeDecodeError:
            record["payload"] = raw.decode(errors="replace")
            record["raw_payload_base64"] = base64.b64encode(raw).decode()
    return record


def working_on(queue: str, run_at: float, raw: bytes) -> bytes:
    """``{"queue":..,"run_at":..,"payload":..}``: Ruby's ``working_on`` JSON of a worker's
    job in progress; the raw payload bytes are reused, not re-encoded."""
    moment = iso8601(datetime.fromtimestamp(run_at, UTC), z=True)
    return f'{{"queue":{json.dumps(queue)},"run_at":"{moment}","payload":'.encode() + raw + b"}"


# -- times ------------------------------------------------------------------------------------


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def failed_at(moment: datetime) -> str:
    """``2026/11/22 10:53:41 UTC``: Resque's ``failed_at`` and ``retried_at``."""
    return moment.astimezone(UTC).strftime("%Y/%m/%d %H:%M:%S UTC")


def iso8601(moment: datetime, *, z: bool = False) -> str:
    """``2026-11-23T00:24:57+00:00`` (or ``...Z`` as Ruby's ``Time#utc.iso8601``)."""
    text = moment.astimezone(UTC).replace(microsecond=0).isoformat()
    return text.replace("+00:00", "Z") if z else text


def ruby_time(moment: datetime) -> str:
    """``2026-11-23 00:24:57 +0000``: Ruby's ``Time#to_s``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
