"""Reliable delivery: a job moves atomically from its queue into its worker's in-flight list,
and leaves it only in the same step that stores its outcome.

Every transition is one Lua script (``pace/lua/``), gated on removing the job's entry from the
in-flight list: a transition retried after a lost reply, or raced by the recovery of a worker
presumed dead, finds no entry and changes nothing. So stats are never counted twice, and a job
is never both requeued and recorded. An entry is ``queue:payload`` (:func:`pace.wire.entry_of`).

The three settles (``ack``, ``fail``, ``retry``) serve every job: a job of a multi-step task
or staged group passes its batch membership (``member``), and the same script records its
outcome in its batch (and starts the next stage when it was the last of its stage).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from pace.keys import Keys
from pace.lua import script

__all__ = ["InFlight", "Member"]

Member = tuple[str, str, int]
"""A batch job's ``(batch id, job id, stage)`` (:func:`pace.wire.batch_of`)."""

_NO_BATCH = ("", "", "")
_FETCH = script("fetch")
_ACK = script("ack")
_FAIL = script("fail")
_RETRY = script("retry")
_REQUEUE = script("requeue")
_RELEASE = script("release")
_RUNNING = script("batch_running")


class InFlight:
    """The in-flight list of one worker, and the atomic moves in and out of it."""

    __slots__ = ("_settle_keys", "key", "keys", "redis", "worker_id")

    def __init__(self, redis: Redis, keys: Keys, worker_id: str) -> None:
        self.redis = redis
        self.keys = keys
        self.worker_id = worker_id
        self.key = keys.inflight(worker_id)
        """This worker's in-flight list."""
        self._settle_keys = [  # the first keys of every settle script (ack, fail, retry)
            keys.queues, keys.schedule, keys.batches, self.key, keys.deliveries,
            keys.stat("processed"), keys.stat("processed", worker_id),
        ]  # fmt: skip

    def _settle_args(self, *args: Any) -> list[Any]:
        return [self.keys.batch_prefix, self.keys.queue(""), *args]

    async def fetch(
        self, queue_keys: Sequence[str], names: Sequence[str], wanted: int
    ) -> list[tuple[str, bytes, int]]:
        """Move up to ``wanted`` jobs, highest priority first, from the queues into the
        in-flight list; return ``(queue, payload, times recovered)`` for each."""
        keys = [self.keys.pause_all, self.key, self.keys.deliveries, *queue_keys]
        reply = await _FETCH(self.redis, keys=keys, args=[wanted, *names])
        return [(names[reply[i]], reply[i + 1], reply[i + 2]) for i in range(0, len(reply), 3)]

    async def ack(self, entries: Sequence[tuple[bytes, Member | None]]) -> int:
        """Settle jobs that succeeded, in one script call (the worker groups them): out of
        the in-flight list, counted as processed, recorded in their batches. Returns how many
        were still in flight."""
        batched: list[Any] = []
        plain: list[bytes] = []
        for entry, member in entries:
            if member is None:
                plain.append(entry)
            else:
                batched += [entry, *member]
        args = self._settle_args(len(batched) // 4, *batched, *plain)
        done: int = await _ACK(self.redis, keys=self._settle_keys, args=args)
        return done

    async def fail(self, entry: bytes, record: bytes, member: Member | None) -> bool:
        """Settle a failed job: its record appended to ``resque:failed``, counted as Ruby
        does (failed and processed)."""
        keys, worker_id = self.keys, self.worker_id
        stored: int = await _FAIL(
            self.redis,
            keys=[
                *self._settle_keys, keys.failed, keys.stat("failed"),
                keys.stat("failed", worker_id),
            ],
            args=self._settle_args(entry, record, *(member or _NO_BATCH)),
        )  # fmt: skip
        return stored == 1

    async def retry(
        self, entry: bytes, new_entry: bytes, delay: float, member: Member | None
    ) -> bool:
        """Settle a job to run again ``delay`` seconds from now by Redis' clock (as
        ``new_entry``); a batch job holds its stage meanwhile."""
        moved: int = await _RETRY(
            self.redis,
            keys=self._settle_keys[:5],
            args=self._settle_args(entry, new_entry, delay, *(member or _NO_BATCH)),
        )
        return moved == 1

    async def running(self, member: Member) -> None:
        """Mark a batch job running (a failed one requeued stops counting as failed)."""
        k = self.keys
        await _RUNNING(
            self.redis,
            keys=[k.queues, k.schedule, k.batches],
            args=[k.batch_prefix, k.queue(""), *member],
        )

    async def requeue(self, entries: Sequence[bytes]) -> int:
        """Put jobs back at the head of their queues, in the order given (the order taken)."""
        if not entries:
            return 0
        moved: int = await _REQUEUE(
            self.redis, keys=[self.key], args=[self.keys.queue(""), *entries]
        )
        return moved

    async def release(self, worker_id: str | None = None) -> int:
        """Give back a worker's in-flight jobs (to the head of their queues) and remove it.

        With no ``worker_id``: this worker, shutting down. With another worker's id: recover
        it if it is dead (its alive key expired), counting a recovery for each job; -1 if it
        is alive after all. Exactly one of many racing workers moves the jobs.
        """
        dead = worker_id is not None
        worker_id = worker_id or self.worker_id
        keys = self.keys
        moved: int = await _RELEASE(
            self.redis,
            keys=[
                keys.pace_workers, keys.alive(worker_id), keys.inflight(worker_id),
                keys.deliveries, keys.workers, keys.heartbeats, keys.worker(worker_id),
                keys.worker_started(worker_id), keys.worker_jobs(worker_id),
                keys.worker_metrics(worker_id),
                keys.stat("processed", worker_id), keys.stat("failed", worker_id),
            ],
            args=[keys.queue(""), worker_id, "1" if dead else "0"],
        )  # fmt: skip
        return moved
