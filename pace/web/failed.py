"""Failures as the pages and the API show and change them, each by a stable id.

A record's index shifts when an earlier one is removed, so a page loaded a minute ago may name
the wrong record by index alone. Every record shown carries ``id``, the first 16 hex digits of
the SHA-1 of its bytes; an action names ``index`` and ``id``, and its Lua script acts only if
the record at that index still hashes to that id (else: 409, it moved or changed). A requeue
rewrites the record (``retried_at``), so its id changes with it.

The requeue itself is Resque's (:mod:`pace.failures`): the record stays with ``retried_at``,
the job goes back to its queue. "Retry all" skips records already retried unless asked.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

from redis.asyncio import Redis

from pace.client import push
from pace.connection import atomic, is_cluster
from pace.errors import CannotRequeue
from pace.failures import Failure, failure_of, requeue_plan
from pace.keys import Keys
from pace.lua import script
from pace.web.context import WebError

__all__ = [
    "Filters",
    "Target",
    "check_id",
    "check_index",
    "detail",
    "failure_json",
    "listing",
    "record_id",
    "remove",
    "retry",
    "retry_all",
    "targets_of",
]

ID_LENGTH = 16
SCAN_LIMIT = 10_000
"""Most records a filtered listing reads (oldest first)."""
_CHUNK = 500


_RETRY = script("failures_retry_by_id")

_REMOVE = script("failures_remove_by_id")

Outcome = Literal["done", "missing", "moved"]
_OUTCOMES: dict[int, Outcome] = {1: "done", 0: "missing", -1: "moved"}


@dataclass(frozen=True, slots=True)
class Target:
    """A record to act on: its index as shown, and its id (None: whatever is there now)."""

    index: int
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    """Case-insensitive parts of the class, queue or exception a record must have."""

    class_name: str = ""
    queue: str = ""
    exception: str = ""

    def __bool__(self) -> bool:
        return bool(self.class_name or self.queue or self.exception)

    def match(self, failure: Failure) -> bool:
        """True if every filter given is part of the record's field."""
        fields = ((self.class_name, failure.class_name), (self.queue, failure.queue),
                  (self.exception, failure.exception))  # fmt: skip
        return all(not part or part.lower() in (value or "").lower() for part, value in fields)


def record_id(raw: bytes) -> str:
    """A record's stable id: the first 16 hex digits of the SHA-1 of its bytes."""
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:ID_LENGTH]


def check_id(value: object) -> str:
    """A record id as given by a client, checked.

    Raises:
        WebError: 400, not 16 hex digits.
    """
    if not isinstance(value, str) or len(value) != ID_LENGTH or value.strip("0123456789abcdef"):
        raise WebError(400, f"a failure id is {ID_LENGTH} hex digits, got {value!r}")
    return value


def failure_json(failure: Failure, raw: bytes) -> dict[str, Any]:
    """One record, with its id and whether it holds a job that can be retried."""
    payload = failure.payload
    try:
        requeue_plan(failure.index, raw, None)
        why_not = None
    except CannotRequeue as exc:
        why_not = exc.reason
    return {
        "index": failure.index,
        "id": record_id(raw),
        "failed_at": failure.failed_at,
        "queue": failure.queue,
        "class": failure.class_name,
        "args": payload.get("args") if isinstance(payload, dict) else None,
        "exception": failure.exception,
        "error": failure.error,
        "backtrace": list(failure.backtrace),
        "worker": failure.worker,
        "retried_at": failure.retried_at,
        "retryable": why_not is None,
        "not_retryable_because": why_not,
        "payload": payload,
        "raw": None if failure.exception is not None else failure.raw,
    }


async def _range(redis: Redis, keys: Keys, start: int, stop: int) -> list[bytes]:
    return cast("list[bytes]", await redis.lrange(keys.failed, start, stop))


async def listing(
    redis: Redis, keys: Keys, start: int, count: int, filters: Filters = Filters()
) -> dict[str, Any]:
    """A page of failures, oldest first; with filters, of those that match among the first
    :data:`SCAN_LIMIT` records (``complete`` says whether every record was searched)."""
    total = int(await redis.llen(keys.failed))
    if not filters:
        raws = await _range(redis, keys, start, start + count - 1)
        shown = [failure_json(failure_of(start + n, raw), raw) for n, raw in enumerate(raws)]
        return {"total": total, "matched": total, "complete": True, "start": start,
                "count": count, "failures": shown}  # fmt: skip
    matched: list[dict[str, Any]] = []
    matches, scanned = 0, 0
    while scanned < min(total, SCAN_LIMIT):
        raws = await _range(redis, keys, scanned, scanned + _CHUNK - 1)
        if not raws:
            break
        for n, raw in enumerate(raws, scanned):
            failure = failure_of(n, raw)
            if filters.match(failure):
                if start <= matches < start + count:
                    matched.append(failure_json(failure, raw))
                matches += 1
        scanned += len(raws)
    return {"total": total, "matched": matches, "complete": scanned >= total, "start": start,
            "count": count, "failures": matched}  # fmt: skip


async def detail(redis: Redis, keys: Keys, target: Target) -> dict[str, Any]:
    """The record at ``target.index``, checked against ``target.id`` when it is given.

    Raises:
        WebError: 404 no record at that index, 409 another record is there now.
    """
    raw = cast("bytes | None", await redis.lindex(keys.failed, target.index))
    if raw is None:
        raise WebError(404, f"no failure at index {target.index}")
    if target.id is not None and record_id(raw) != target.id:
        raise WebError(409, _moved(target))
    return failure_json(failure_of(target.index, raw), raw)


def _moved(target: Target) -> str:
    return (f"failure {target.index} is not the record {target.id} any more (it moved, or was "
            "retried or removed meanwhile): reload the page")  # fmt: skip


def _raise_for(target: Target, outcome: Outcome) -> None:
    if outcome == "missing":
        raise WebError(404, f"no failure at index {target.index}")
    if outcome == "moved":
        raise WebError(409, _moved(target))


async def _read(redis: Redis, keys: Keys, targets: list[Target]) -> list[bytes | None]:
    async with redis.pipeline(transaction=atomic(redis)) as pipe:
        for target in targets:
            pipe.lindex(keys.failed, target.index)
        return cast("list[bytes | None]", await pipe.execute())


async def retry(
    redis: Redis, keys: Keys, targets: list[Target], *, strict: bool = True
) -> dict[Target, Outcome | str]:
    """Requeue each target's job if the record is still the one named; return each target's
    outcome (or why it holds no job). ``strict``: raise for a single target that fails.

    Raises:
        WebError: (strict, one target) 404 no record, 409 moved or holds no job.
    """
    raws = await _read(redis, keys, targets)
    outcomes: dict[Target, Outcome | str] = {}
    planned: list[tuple[Target, Any]] = []
    for target, raw in zip(targets, raws, strict=True):
        if raw is None:
            outcomes[target] = "missing"
            continue
        found = Target(target.index, target.id or record_id(raw))
        if found.id != record_id(raw):
            outcomes[target] = "moved"
            continue
        try:
            planned.append((target, (found, requeue_plan(target.index, raw, None))))
        except CannotRequeue as exc:
            outcomes[target] = exc.reason
    if planned:
        args: list[Any] = []
        for _target, (found, update) in planned:
            args += [found.index, found.id, update.record, update.queue, update.job]
        apart = is_cluster(redis)  # the queues live in other slots than the failed list
        queues = [keys.queue(update.queue) for _target, (_found, update) in planned]
        queues = [] if apart else [keys.queues, *queues]
        codes = await _RETRY(redis, keys=[keys.failed, *queues], args=args)
        for (target, _planned), code in zip(planned, codes, strict=True):
            outcomes[target] = _OUTCOMES[int(code)]
        if apart:
            retried = [u for (_t, (_f, u)), code in zip(planned, codes, strict=True) if code == 1]
            await push(redis, keys, [(update.queue, update.job) for update in retried])
    if strict and len(targets) == 1:
        (outcome,) = outcomes.values()
        if outcome not in _OUTCOMES.values():
            raise WebError(409, f"failure {targets[0].index} cannot be requeued: {outcome}")
        _raise_for(targets[0], cast("Outcome", outcome))
    return {target: outcomes[target] for target in targets}


async def remove(
    redis: Redis, keys: Keys, targets: list[Target], *, strict: bool = True
) -> dict[Target, Outcome]:
    """Remove each target if the record is still the one named (all in one script).

    Raises:
        WebError: (strict, one target) 404 no record, 409 another record is there now.
    """
    raws = await _read(redis, keys, targets)
    args: list[Any] = [f"pace:removing:{uuid.uuid4().hex}"]
    for target, raw in zip(targets, raws, strict=True):
        found = raw is not None and target.id is None
        args += [target.index, record_id(raw) if found and raw is not None else target.id or ""]
    codes = await _REMOVE(redis, keys=[keys.failed], args=args)
    outcomes = {t: _OUTCOMES[int(code)] for t, code in zip(targets, codes, strict=True)}
    if strict and len(targets) == 1:
        _raise_for(targets[0], outcomes[targets[0]])
    return outcomes


async def retry_all(
    redis: Redis, keys: Keys, *, include_retried: bool = False
) -> tuple[int, dict[int, str]]:
    """Requeue every record that holds a job (not those already retried, unless
    ``include_retried``); return how many, and index to reason for those skipped."""
    requeued, skipped, start = 0, {}, 0
    while raws := await _range(redis, keys, start, start + _CHUNK - 1):
        targets = []
        for index, raw in enumerate(raws, start):
            if not include_retried and failure_of(index, raw).retried_at is not None:
                skipped[index] = "already retried"
            else:
                targets.append(Target(index, record_id(raw)))
        for target, outcome in (await retry(redis, keys, targets, strict=False)).items():
            if outcome == "done":
                requeued += 1
            else:
                skipped[target.index] = _REASONS.get(outcome, outcome)
        start += len(raws)
    return requeued, skipped


_REASONS = {"missing": "removed meanwhile", "moved": "changed meanwhile"}


def targets_of(values: Iterable[object]) -> list[Target]:
    """``index:id`` strings (the bulk form's checkboxes), checked.

    Raises:
        WebError: 400, a value that is not ``index:id``, or none at all.
    """
    targets = []
    for value in values:
        index, _, record = str(value).partition(":")
        targets.append(Target(check_index(index), check_id(record)))
    if not targets:
        raise WebError(400, "select at least one failure")
    if len(targets) > 1000:
        raise WebError(400, f"at most 1000 failures at once, got {len(targets)}")
    return targets


def check_index(value: str) -> int:
    """A failure index from a path or a form: a whole number within Redis' range.

    Raises:
        WebError: 400, not a whole number, or out of range.
    """
    try:
        index = int(value)
    except ValueError:
        raise WebError(400, f"a failure index is a whole number, got {value[:50]!r}") from None
    if not -(2**62) <= index < 2**62:
        raise WebError(400, f"a failure index is between -2**62 and 2**62, got {value[:50]}")
    return index
