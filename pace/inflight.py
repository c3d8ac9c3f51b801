"""Reliable delivery: a job moves atomically from its queue into its worker's in-flight list,
and leaves it only in the same step that stores its outcome.

Every transition is one Lua script, gated on removing the job's entry from the in-flight list:
a transition retried after a lost reply, or raced by the recovery of a worker presumed dead,
finds no entry and changes nothing. So stats are never counted twice, and a job is never both
requeued and recorded. An entry is ``queue:payload`` (queue names never hold ``:``).

Successes are settled in batches: the worker groups the jobs that finish while the previous
acknowledgement is in flight into the next one (group commit).

A job of a multi-step task or staged group (its payload names a ``pace_batch``) settles through
the ``batch_*`` methods instead: one script each (``pace/_batch_scripts.py``) that does what
the plain settle does, gated on the same LREM, and updates its batch in the same step (its
status, its stage's counters, and the start of the next stage when it was the last). Other
jobs never pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from pace._batch_scripts import SCRIPTS as BATCH_SCRIPTS
from pace.job import batch_of
from pace.keys import Keys

__all__ = ["InFlight", "entry_of", "split_entry"]

_FETCH = """
-- KEYS: pause-all flag, in-flight list, deliveries hash, queues in priority order.
-- ARGV: how many, then the queue names. Returns {queue index, payload, recoveries, ...}.
if redis.call('GET', KEYS[1]) == 'true' then return {} end
local want = tonumber(ARGV[1])
local counted = redis.call('EXISTS', KEYS[3]) == 1
local out, entries = {}, {}
for i = 4, #KEYS do
  local jobs = redis.call('LPOP', KEYS[i], want)
  if jobs then
    local prefix = ARGV[i - 2] .. ':'
    for _, job in ipairs(jobs) do
      local entry = prefix .. job
      entries[#entries + 1] = entry
      out[#out + 1] = i - 4
      out[#out + 1] = job
      local recovered = counted and redis.call('HGET', KEYS[3], redis.sha1hex(entry))
      out[#out + 1] = tonumber(recovered or 0)
    end
    want = want - #jobs
    if want == 0 then break end
  end
end
if #entries > 0 then redis.call('RPUSH', KEYS[2], unpack(entries)) end
return out
"""

_ACK = """
-- KEYS: in-flight, stat:processed, stat:processed:ID, deliveries. ARGV: entries.
local done = 0
local counted = redis.call('EXISTS', KEYS[4]) == 1
for _, entry in ipairs(ARGV) do
  if redis.call('LREM', KEYS[1], 1, entry) == 1 then
    done = done + 1
    if counted then redis.call('HDEL', KEYS[4], redis.sha1hex(entry)) end
  end
end
if done > 0 then
  redis.call('INCRBY', KEYS[2], done)
  redis.call('INCRBY', KEYS[3], done)
end
return done
"""

_FAIL = """
-- KEYS: in-flight, failed, stat:failed, stat:failed:ID, stat:processed, stat:processed:ID,
-- deliveries. ARGV: entry, failure record.
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
for i = 3, 6 do redis.call('INCR', KEYS[i]) end
redis.call('HDEL', KEYS[7], redis.sha1hex(ARGV[1]))
return 1
"""

_SCHEDULE = """
-- KEYS: in-flight, schedule, deliveries. ARGV: entry, new entry, due time (Unix seconds).
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HDEL', KEYS[3], redis.sha1hex(ARGV[1]))
return 1
"""

_REQUEUE = """
-- KEYS: in-flight. ARGV: queue key prefix, then entries in the order they were taken.
-- Puts them back at the head of their queues, in that order.
local n = 0
for i = #ARGV, 2, -1 do
  local entry = ARGV[i]
  if redis.call('LREM', KEYS[1], 1, entry) == 1 then
    local sep = string.find(entry, ':', 1, true)
    redis.call('LPUSH', ARGV[1] .. string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1))
    n = n + 1
  end
end
return n
"""

_RELEASE = """
-- KEYS: pace workers, alive key, in-flight, deliveries, Resque's workers set, heartbeat hash,
-- then the worker's own keys to delete. ARGV: queue key prefix, worker id, '1' to count a
-- recovery (the worker died) or '0' (it is shutting down).
-- Unless the worker is alive after all, puts its in-flight jobs back at the head of their
-- queues, in order, and removes every trace of it. Returns the jobs moved, or -1 if alive.
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local entries = redis.call('LRANGE', KEYS[3], 0, -1)
for i = #entries, 1, -1 do
  local entry = entries[i]
  local sep = string.find(entry, ':', 1, true)
  redis.call('LPUSH', ARGV[1] .. string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1))
  if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[4], redis.sha1hex(entry), 1) end
end
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[5], ARGV[2])
redis.call('HDEL', KEYS[6], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3], unpack(KEYS, 7))
return #entries
"""


def entry_of(queue: str, raw: bytes) -> bytes:
    """The in-flight (and schedule) entry of a job: ``queue:payload``."""
    return queue.encode() + b":" + raw


def split_entry(entry: bytes) -> tuple[str, bytes]:
    """``(queue, payload)`` of an entry."""
    queue, _, raw = entry.partition(b":")
    return queue.decode(), raw


class InFlight:
    """The in-flight list of one worker, and the atomic moves in and out of it."""

    __slots__ = ("_scripts", "keys", "redis", "worker_id")

    def __init__(self, redis: Redis, keys: Keys, worker_id: str) -> None:
        self.redis = redis
        self.keys = keys
        self.worker_id = worker_id
        self._scripts = {
            name: redis.register_script(source)
            for name, source in (
                ("fetch", _FETCH), ("ack", _ACK), ("fail", _FAIL), ("schedule", _SCHEDULE),
                ("requeue", _REQUEUE), ("release", _RELEASE),
            )
        }  # fmt: skip

    @property
    def key(self) -> str:
        """This worker's in-flight list."""
        return self.keys.inflight(self.worker_id)

    async def fetch(
        self, queue_keys: Sequence[str], names: Sequence[str], wanted: int
    ) -> list[tuple[str, bytes, int]]:
        """Move up to ``wanted`` jobs, highest priority first, from the queues into the
        in-flight list; return ``(queue, payload, times recovered)`` for each."""
        keys = [self.keys.pause_all, self.key, self.keys.deliveries, *queue_keys]
        reply = await self._scripts["fetch"](keys=keys, args=[wanted, *names])
        return [(names[reply[i]], reply[i + 1], reply[i + 2]) for i in range(0, len(reply), 3)]

    async def succeeded(self, entries: Sequence[bytes]) -> int:
        """Settle jobs that succeeded: out of the in-flight list, counted as processed, in one
        script call (the worker groups them); returns how many were still in flight."""
        keys = self.keys
        done: int = await self._scripts["ack"](
            keys=[
                self.key, keys.stat("processed"), keys.stat("processed", self.worker_id),
                keys.deliveries,
            ],
            args=list(entries),
        )  # fmt: skip
        return done

    async def failed(self, entry: bytes, record: bytes) -> bool:
        """Settle a failed job: its record appended to ``resque:failed``, counted as Ruby does."""
        keys, worker_id = self.keys, self.worker_id
        stored: int = await self._scripts["fail"](
            keys=[
                self.key, keys.failed, keys.stat("failed"), keys.stat("failed", worker_id),
                keys.stat("processed"), keys.stat("processed", worker_id), keys.deliveries,
            ],
            args=[entry, record],
        )  # fmt: skip
        return stored == 1

    async def schedule(self, entry: bytes, new_entry: bytes, due: float) -> bool:
        """Settle a job to run again at Unix time ``due`` (as ``new_entry``)."""
        keys = [self.key, self.keys.schedule, self.keys.deliveries]
        moved: int = await self._scripts["schedule"](keys=keys, args=[entry, new_entry, due])
        return moved == 1

    async def requeue(self, entries: Sequence[bytes]) -> int:
        """Put jobs back at the head of their queues, in the order given (the order taken)."""
        if not entries:
            return 0
        moved: int = await self._scripts["requeue"](
            keys=[self.key], args=[self.keys.queue(""), *entries]
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
        moved: int = await self._scripts["release"](
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

    # -- batch jobs (pace.batch) --------------------------------------------------------

    async def _batch_settle(self, name: str, keys: list[str], args: list[Any]) -> int:
        script = self._scripts.get(f"batch_{name}")
        if script is None:
            script = self._scripts[f"batch_{name}"] = self.redis.register_script(
                BATCH_SCRIPTS[name]
            )
        k = self.keys
        result: int = await script(
            keys=[k.queues, k.schedule, k.batches, *keys],
            args=[k.batch_prefix, k.queue(""), *args],
        )
        return result

    async def batch_running(self, payload: Mapping[str, Any]) -> None:
        """Mark a batch job running (a failed one requeued stops counting as failed)."""
        member = batch_of(payload)
        if member is not None:
            await self._batch_settle("running", [], list(member))

    async def batch_succeeded(self, entry: bytes, payload: Mapping[str, Any]) -> bool:
        """:meth:`succeeded` for a batch job, alone, with its batch's bookkeeping."""
        member = batch_of(payload)
        if member is None:
            return await self.succeeded([entry]) == 1
        keys = self.keys
        stored = await self._batch_settle(
            "ack",
            [
                self.key, keys.stat("processed"), keys.stat("processed", self.worker_id),
                keys.deliveries,
            ],
            [entry, *member],
        )  # fmt: skip
        return stored == 1

    async def batch_failed(self, entry: bytes, record: bytes, payload: Mapping[str, Any]) -> bool:
        """:meth:`failed` for a batch job, with its batch's bookkeeping."""
        member = batch_of(payload)
        if member is None:
            return await self.failed(entry, record)
        keys, worker_id = self.keys, self.worker_id
        stored = await self._batch_settle(
            "fail",
            [
                self.key, keys.failed, keys.stat("failed"), keys.stat("failed", worker_id),
                keys.stat("processed"), keys.stat("processed", worker_id), keys.deliveries,
            ],
            [entry, record, *member],
        )  # fmt: skip
        return stored == 1

    async def batch_schedule(
        self, entry: bytes, new_entry: bytes, due: float, payload: Mapping[str, Any]
    ) -> bool:
        """:meth:`schedule` for a batch job: it is ``pending_re_run`` and holds its stage."""
        member = batch_of(payload)
        if member is None:
            return await self.schedule(entry, new_entry, due)
        moved = await self._batch_settle(
            "schedule", [self.key, self.keys.deliveries], [entry, new_entry, due, *member]
        )
        return moved == 1
