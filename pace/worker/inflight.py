"""The jobs a worker holds, in Redis, so that none is lost if the worker dies.

A worker's jobs of one queue form its *lane* (:meth:`pace.keys.Keys.lane`), in the queue's
cluster slot. Each fetch moves up to n jobs from the head of the queue into a list of its own,
the server copying them (``SORT ... STORE``, no payload through Lua); the list goes once every
job of it is settled, so a success costs no payload at all: a fetch whose jobs all succeeded
is one ``DEL``, a job that succeeds while others of its fetch still run one member of an
integer set. Successes ride with the next fetch: one round trip (:meth:`InFlight.exchange`)
acknowledges what finished and takes what there is room for. Failures and retries settle one
job each; what they write outside the queue's slot (``resque:failed``, the schedule, Ruby's
counters) waits in the lane's outbox until written, so that no record is lost with a worker.
A dead worker's lanes go back to the head of their queues, in the order taken, moved by
exactly one of the workers racing to recover them (:meth:`InFlight.release`), and are fenced
for a day: a fetch of that worker that reaches Redis later (held in the network while it was
cut off) takes nothing, and the worker, told so (:class:`Fenced`), goes on under a fresh id.
Its settles need no fence: each is gated on its fetch's list, which recovery deleted.

A batch job's settle records its outcome in its batch (and starts the next stage when it was
the last of its stage), in the same script.

A queue's fleet-wide limit (:mod:`pace.limits`) is enforced by the fetch script: it takes only
the jobs the limit admits, and says when it held some back (:class:`pace.worker.holds.Holds`
then keeps the queue out of the fetches until the limit may admit more). Every settle gives
the job's slot back. A rate's window logs each job when it is taken, by Redis' clock; once the
jobs of a fetch have started, the next round trip moves each job's entry to when it started,
by the worker's clock (never earlier): the rate bounds starts, however long a busy machine
took to start them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from pace.client import write_out
from pace.connection import is_cluster, text
from pace.keys import Keys
from pace.lua import script
from pace.worker.holds import Holds

__all__ = ["FENCE_SECONDS", "MAX_FETCH", "Exchange", "Fenced", "InFlight", "Member", "Ref", "Take"]

Member = tuple[str, str, int]
"""A batch job's ``(batch id, job id, stage)`` (:func:`pace.wire.batch_of`)."""

_INDEX_BITS = 16  # a job's index in its fetch: the low bits of its settled-set member
MAX_FETCH = 1 << _INDEX_BITS
"""Most jobs one fetch may take."""

FENCE_SECONDS = 86_400
"""How long a recovered worker's lanes refuse its fetches: longer than any partition."""

_FETCH = script("fetch")
_ACK = script("ack")
_FAIL = script("fail")
_RETRY = script("retry")
_REQUEUE = script("requeue")
_RELEASE = script("release")
_RUNNING = script("batch_running")


def _counted(reply: Any, by_fetch: bool) -> bool:
    """Whether the command that counts an exchange's successes counted them: it ran, and if a
    fetch call (``by_fetch``; else an ``INCRBY``), its lane was not fenced."""
    return not isinstance(reply, Exception) and not (by_fetch and reply == -1)


class Fenced(Exception):
    """The worker's lanes are fenced: others took it for dead and recovered its jobs."""


class Lane:
    """A worker's jobs of one queue: the keys, and the fetches waiting to go."""

    __slots__ = (
        "closed", "deliveries", "done", "fence", "key", "limit", "name", "outbox", "queue",
        "settled", "starts",
    )  # fmt: skip

    def __init__(self, keys: Keys, name: str, worker_id: str) -> None:
        self.name = name
        self.queue = keys.queue(name)
        self.key = keys.lane(name, worker_id)
        self.settled = self.key + ":settled"
        self.outbox = self.key + ":outbox"
        self.fence = self.key + ":fenced"
        self.deliveries = keys.deliveries(name)
        self.limit = keys.limit(name)
        self.starts = keys.limit(name, "starts")
        self.closed = False
        """Released: its jobs are no longer the worker's (late successes are not sent)."""
        self.done: list[Take] = []
        """Fetches whose jobs were all settled one by one (failed, retried, requeued)."""


class Take:
    """The jobs one fetch took from one queue: a list in Redis while any is unsettled."""

    __slots__ = (
        "begun", "key", "lane", "logged", "number", "open", "raws", "recovered", "settled",
    )  # fmt: skip

    def __init__(self, lane: Lane, number: int) -> None:
        self.lane = lane
        self.number = number
        self.key = f"{lane.key}:{number}"
        self.raws: list[bytes] = []  # the payloads, as Redis holds them
        self.open = 0  # jobs not settled yet
        self.settled: list[int] = []  # members of jobs settled while others ran
        self.recovered: dict[int, tuple[int, str]] = {}  # index -> (recoveries, sha1)
        self.logged = 0  # the microsecond its rate's window logged its jobs at (0: none)
        self.begun: list[tuple[int, int]] = []  # (index, microsecond) of its jobs started

    def member(self, index: int) -> int:
        return (self.number << _INDEX_BITS) | index

    def sha(self, index: int) -> str:
        """The sha1 of a job recovered from dead workers, '' for another."""
        return self.recovered[index][1] if index in self.recovered else ""

    def recoveries(self, index: int) -> int:
        """How often workers died running this job."""
        return self.recovered[index][0] if index in self.recovered else 0


Ref = tuple[Take, int]
"""Where a job is in flight: its fetch and its index in it."""


class _LaneOps:
    """What one exchange does in one lane."""

    __slots__ = ("batched", "gone", "lane", "marks", "shas", "take", "want")

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.batched: list[tuple[Ref, Member]] = []  # batch jobs that succeeded
        self.marks: list[int] = []  # members of plain jobs that succeeded, others still open
        self.gone: list[Take] = []  # fetches whose jobs are all settled
        self.shas: list[str] = []  # of recovered jobs among those settled
        self.take: Take | None = None
        self.want = 0


class Exchange:
    """One round trip of the hot path, prepared once (:meth:`InFlight.prepare`) and sent until
    it gets through (:meth:`InFlight.send`)."""

    __slots__ = ("count", "counted", "lanes", "now", "sent", "settled")

    def __init__(self) -> None:
        self.lanes: dict[Lane, _LaneOps] = {}
        self.now: dict[Take, int] = {}  # successes of jobs of no batch, by fetch
        self.count = 0  # successes
        self.sent = False
        self.counted = False  # its successes are counted as processed (a send half ran)
        self.settled = 0
        """Jobs the last send settled (none twice: not those a lost reply had settled)."""

    def lane(self, lane: Lane) -> _LaneOps:
        ops = self.lanes.get(lane)
        if ops is None:
            ops = self.lanes[lane] = _LaneOps(lane)
        return ops


class InFlight:
    """One worker's lanes, and the atomic moves in and out of them.

    Example::

        inflight = InFlight(redis, Keys(), worker_id)
        taken = await inflight.exchange([], {"mail": 10})   # up to 10 jobs of 'mail'
        await inflight.exchange([(ref, None) for ref in taken], {})  # they succeeded
    """

    __slots__ = (
        "_apart", "_lanes", "_loaded", "_next", "doubtful", "holds", "keys", "limited", "redis",
        "restamps", "worker_id",
    )  # fmt: skip

    def __init__(self, redis: Redis, keys: Keys, worker_id: str) -> None:
        self.redis = redis
        self.keys = keys
        self.worker_id = worker_id
        self._lanes: dict[str, Lane] = {}
        self._next = 0  # the last fetch's number (never reused: a lost reply took it)
        self._loaded = False
        self._apart = is_cluster(redis)  # batch scripts leave their writes in the outbox
        self.doubtful = False
        """An exchange was sent and its reply lost: a copy may still reach Redis later."""
        self.holds = Holds()
        """The queues their limits hold back, as the fetches found them."""
        self.limited: frozenset[str] = frozenset()
        """The queues that have a limit (``<ns>:pace:limits``, read by the remote-control
        loop): the fetch script reads the limit of these only."""
        self.restamps: list[Take] = []
        """Fetches whose jobs have all started: the next round trip moves their entries in
        their rate's window to when each started."""

    async def _lane(self, name: str) -> Lane:
        """The lane of queue ``name``, recorded in the worker's set before its first fetch
        (recovery finds a dead worker's lanes there). Fetches left in it by an earlier
        process with the same id (a restart as the same pid) keep their numbers."""
        lane = self._lanes.get(name)
        if lane is None:
            lane = Lane(self.keys, name, self.worker_id)
            await self.redis.sadd(self.keys.worker_lanes(self.worker_id), name)
            left = await self.redis.smembers(lane.key)
            self._next = max([self._next, *map(int, left)])
            self._lanes[name] = lane
        return lane

    # -- the hot path: acknowledge and fetch in one round trip ----------------------------

    async def exchange(
        self, done: Sequence[tuple[Ref, Member | None]], wanted: dict[str, int]
    ) -> list[Ref]:
        """:meth:`prepare` and :meth:`send` at once."""
        return await self.send(await self.prepare(done, wanted))

    async def prepare(
        self, done: Sequence[tuple[Ref, Member | None]], wanted: dict[str, int]
    ) -> Exchange:
        """One round trip that settles jobs that succeeded (``done``: their places and batch
        memberships) and then takes up to ``wanted[queue]`` jobs from each queue; :meth:`send`
        it until it gets through."""
        if not self._loaded:  # a pipeline cannot load a script Redis does not know
            await self._load()
        exchange = Exchange()
        for name, n in wanted.items():
            if n > 0:
                lane = await self._lane(name)
                self._next += 1
                exchange.lane(lane).take = Take(lane, self._next)
                exchange.lane(lane).want = min(n, MAX_FETCH)
        plain: dict[Take, list[int]] = {}
        for ref, member in done:
            take, index = ref
            if take.lane.closed:  # given back while it ran (its worker was taken for dead)
                continue
            take.open -= 1
            if member is None:
                plain.setdefault(take, []).append(index)
            else:  # batch jobs settle one by one (ack.lua)
                exchange.lane(take.lane).batched.append((ref, member))
                take.settled.append(take.member(index))
            if index in take.recovered:
                exchange.lane(take.lane).shas.append(take.sha(index))
            if take.open == 0:  # its fetch's list goes
                take.lane.done.append(take)
        for take, indexes in plain.items():
            exchange.now[take] = len(indexes)
            if take.open:  # others of its fetch still run: these are marked settled
                members = [take.member(index) for index in indexes]
                exchange.lane(take.lane).marks += members
                take.settled += members
        for lane in self._lanes.values():
            if lane.done:
                exchange.lane(lane).gone, lane.done = lane.done, []
        exchange.count = len(done)
        return exchange

    async def send(self, exchange: Exchange) -> list[Ref]:
        """Send a prepared exchange; return the jobs taken (their payloads in their fetches'
        ``raws``). Sent again after an error (a lost
        reply), it changes no job's state twice and takes no job twice (the fetch it may have
        made is read back, not repeated); its successes are then counted as processed by
        what it settled itself, so none is counted twice either. A node that lost its scripts
        gets them again (the exchange is then sent again, nothing done twice)."""
        again = exchange.sent
        scripts: list[int] = []  # where the scripts' replies are
        counting = bool(exchange.count) and not again and not exchange.counted
        counter = -1  # where the reply of the command that counts the successes is
        by_fetch = False  # that command is a fetch call (one Redis), else an INCRBY
        async with self.redis.pipeline(transaction=False) as pipe:
            restamps, self.restamps = self.restamps, []
            for started in restamps:  # never before it was logged, never back once trimmed
                logged = started.logged
                entries = {f"{logged}.{i + 1}": max(at, logged) for i, at in started.begun}
                pipe.zadd(started.lane.starts, entries, xx=True)
            for ops in exchange.lanes.values():
                if ops.batched:
                    scripts.append(len(pipe))
                    self._ack_batched(pipe, ops)
                scripts.append(len(pipe))
                count = exchange.count if counting and counter < 0 and not self._apart else 0
                if count:
                    counter, by_fetch = len(pipe), True
                self._fetch(pipe, ops, exchange.now, fetch=not again, count=count)
                if ops.take is not None:
                    pipe.lrange(ops.take.key, 0, -1)
                    if again:  # the fetch is not repeated: is any job recovered?
                        pipe.exists(ops.lane.deliveries)
            if counting and counter < 0:
                self._processed(pipe, exchange.count)
                counter = len(pipe) - 1
            exchange.sent = True
            try:
                results = await pipe.execute(raise_on_error=False)
            except BaseException:
                self.doubtful = True
                raise
        if errors := [result for result in results if isinstance(result, Exception)]:
            if not any(isinstance(error, NoScriptError) for error in errors):
                self.doubtful = True
                raise errors[0]
            # a node lost its scripts (a restart, a failover); the rest of the pipeline ran
            await self._load()
            exchange.counted |= counting and _counted(results[counter], by_fetch)
            exchange.sent = again or any(not isinstance(results[i], Exception) for i in scripts)
            return await self.send(exchange)
        replies = iter(results)
        taken: list[Ref] = []
        suspect: list[Take] = []
        exchange.settled, fenced = 0, ""
        for _ in restamps:
            next(replies)
        for ops in exchange.lanes.values():
            if ops.batched:
                exchange.settled += next(replies)
            reply = next(replies)
            if reply == -1:  # it did nothing: its fetch list is empty
                fenced, reply = ops.lane.name, (0, 0, 0, 0, 0)
            _, recovered, settled, wait, logged = reply
            exchange.settled += settled
            if wait:
                self.holds.hold(ops.lane.name, wait)
            take = ops.take
            if take is not None:
                take.logged = logged
                take.raws = next(replies)
                recovered = next(replies) if again else recovered
                take.open = len(take.raws)
                taken += [(take, i) for i in range(take.open)]
                if take.raws and recovered:
                    suspect.append(take)
        if self._apart:  # what the batch acks left in their lanes' outboxes
            for ops in exchange.lanes.values():
                if ops.batched:
                    await self._write_out([], ops.lane, self.worker_id)
        # counted by this send (unless its lane was fenced); by a send that half ran: all
        counted_now = exchange.count if counting and _counted(results[counter], by_fetch) else 0
        counted = exchange.settled if exchange.counted else counted_now
        if (again or fenced) and exchange.settled != counted:
            async with self.redis.pipeline(transaction=False) as pipe:
                self._processed(pipe, exchange.settled - counted)
                await pipe.execute()
        if fenced:
            raise Fenced(f"queue {fenced!r} refused its fetch")
        if suspect:
            await self._recoveries(suspect)
        return taken

    def started(self, ref: Ref) -> bool:
        """A job whose fetch was logged in a rate's window starts now; True once every job
        of its fetch has (the next round trip moves their entries)."""
        take, index = ref
        take.begun.append((index, int(time.time() * 1e6)))
        if len(take.begun) < len(take.raws):
            return False
        self.restamps.append(take)
        return True

    @property
    def _counters(self) -> tuple[str, str]:
        """Ruby's processed counters: globally and for the worker."""
        return self.keys.stat("processed"), self.keys.stat("processed", self.worker_id)

    def _processed(self, pipe: Any, count: int) -> None:
        """Count jobs as processed, as Ruby does: globally and for the worker."""
        for counter in self._counters:
            pipe.incrby(counter, count)

    async def _load(self) -> None:
        for name in ("fetch", "ack"):
            await self.redis.script_load(script(name).source)
        self._loaded = True

    def _ack_batched(self, pipe: Any, ops: _LaneOps) -> None:
        lists, args = [], []
        for (take, index), member in ops.batched:
            lists.append(take.key)
            args += [take.member(index), take.sha(index), *member]
        k = self.keys
        pipe.execute_command(  # a cluster pipeline routes EVALSHA by its keys, as sent this way
            "EVALSHA", _ACK.sha, 6 + len(lists), *self._shared(ops.lane), ops.lane.settled,
            ops.lane.deliveries, ops.lane.limit, *lists, k.batch_prefix, k.queue(""), *args,
        )  # fmt: skip

    def _fetch(
        self, pipe: Any, ops: _LaneOps, now: dict[Take, int], fetch: bool, count: int
    ) -> None:
        """The fetch script's call: the lane's fetches whose jobs are all settled go, the
        others' settled jobs are marked, then the fetch (if ``fetch``); ``count`` successes
        are counted as processed (one Redis only)."""
        lane, take, gone = ops.lane, ops.take, ops.gone
        unmarks = [member for t in gone for member in t.settled]
        counters = self._counters if count else ()
        pipe.execute_command(
            "EVALSHA", _FETCH.sha, 8 + len(gone) + len(counters), lane.queue, lane.key,
            lane.settled, lane.deliveries, lane.key if take is None else take.key, lane.limit,
            lane.starts, *(t.key for t in gone), *counters, lane.fence,
            ops.want if fetch else 0, 0 if take is None else take.number, len(gone),
            len(ops.marks), len(unmarks), 1 if lane.name in self.limited else 0, count,
            *(t.number for t in gone),
            *(now.get(t, 0) for t in gone), *ops.marks, *unmarks, *ops.shas,
        )  # fmt: skip

    async def _recoveries(self, suspect: list[Take]) -> None:
        """How often workers died running the jobs of queues whose deliveries hash exists."""
        shas = [[hashlib.sha1(raw).hexdigest() for raw in take.raws] for take in suspect]
        async with self.redis.pipeline(transaction=False) as pipe:
            for take, mine in zip(suspect, shas, strict=True):
                pipe.hmget(take.lane.deliveries, mine)
            counts = await pipe.execute()
        for take, mine, found in zip(suspect, shas, counts, strict=True):
            pairs = enumerate(zip(found, mine, strict=True))
            take.recovered = {i: (int(n), sha) for i, (n, sha) in pairs if n}

    # -- one job at a time: failures, retries, batch starts, requeues ---------------------

    def _shared(self, lane: Lane) -> list[str]:
        """The batch library's first three keys (lua/lib/batch.lua): Resque's queues set,
        the schedule and the batch index; on a cluster, the lane's outbox three times."""
        k = self.keys
        return [lane.outbox] * 3 if self._apart else [k.queues, k.schedule, k.batches]

    def _one(self, ref: Ref, member: Member | None) -> tuple[list[str], list[Any]]:
        """Keys and first arguments of fail.lua and retry.lua for one job."""
        take, index = ref
        lane, keys = take.lane, self.keys
        first = self._shared(lane) if member else [lane.key] * 3
        return (
            [*first, lane.settled, lane.deliveries, take.key, lane.outbox, lane.limit],
            [keys.batch_prefix, keys.queue(""), take.member(index), take.sha(index)],
        )

    def _settled(self, ref: Ref) -> None:
        """A job settled on its own: its fetch goes with the next exchange once it was the
        last."""
        take, index = ref
        take.settled.append(take.member(index))
        take.open -= 1
        if take.open == 0:
            take.lane.done.append(take)

    async def fail(self, ref: Ref, record: bytes, member: Member | None) -> bytes | None:
        """Settle a failed job: its record waits in its lane's outbox. Returns the outbox item
        for :meth:`write_out`, or None if the job was not in flight (settled already, or
        recovered by another worker)."""
        keys, args = self._one(ref, member)
        item = b"f" + record
        if not await _FAIL(self.redis, keys=keys, args=[*args, item, *(member or ("", "", ""))]):
            return None
        self._settled(ref)
        return item

    async def retry(
        self, ref: Ref, new_entry: bytes, delay: float, member: Member | None
    ) -> bytes | None:
        """Settle a job to run again ``delay`` seconds from now by Redis' clock (as
        ``new_entry``); a batch job holds its stage meanwhile. Returns the outbox item for
        :meth:`write_out`, or None if the job was not in flight."""
        keys, args = self._one(ref, member)
        item: bytes | None = await _RETRY(
            self.redis, keys=keys, args=[*args, delay, new_entry, *(member or ("", "", ""))]
        )
        if item is not None:
            self._settled(ref)
        return item

    async def write_out(self, ref: Ref, item: bytes, again: bool = False) -> None:
        """Write a settled job's outbox item where it belongs (:meth:`_write_out`). ``again``
        after a call whose reply was lost: only if the item is still in the outbox (else that
        call wrote it: a record written twice would be two failures)."""
        lane = ref[0].lane
        if again and await self.redis.lpos(lane.outbox, item) is None:  # type: ignore[arg-type]
            return
        await self._write_out([item], lane, self.worker_id)

    async def _write_out(self, items: list[bytes], lane: Lane, worker_id: str | None) -> None:
        """Write outbox items where they belong (:func:`pace.client.write_out`); a failure's
        per-worker counts are skipped when ``worker_id`` is None (a dead worker's). On a
        cluster also what batch scripts left in the lane's outbox (failure records excepted:
        each is written by whoever settled its job, once)."""
        if self._apart:
            left = cast("list[bytes]", await self.redis.lrange(lane.outbox, 0, -1))
            items = [*items, *(i for i in left if i[:1] != b"f" and i not in items)]
        if items:
            await write_out(self.redis, self.keys, lane.outbox, items, worker_id)

    async def running(self, member: Member) -> None:
        """Mark a batch job running (a failed one requeued stops counting as failed)."""
        k = self.keys
        shared = [k.queues, k.schedule, k.batches]  # it writes none of them: on a cluster,
        if self._apart:  # any key of the batch's slot will do
            shared = [k.batch(member[0], "outbox")] * 3
        await _RUNNING(self.redis, keys=shared, args=[k.batch_prefix, k.queue(""), *member])

    async def requeue(self, refs: Sequence[Ref]) -> int:
        """Put jobs back at the head of their queues, in the order given (the order taken)."""
        by_lane: dict[Lane, list[Ref]] = {}
        for ref in refs:
            by_lane.setdefault(ref[0].lane, []).append(ref)
        moved = 0
        for lane, mine in by_lane.items():
            args = [arg for take, index in mine for arg in (take.member(index), index)]
            keys = [lane.queue, lane.settled, lane.limit, *(take.key for take, _ in mine)]
            moved += await _REQUEUE(self.redis, keys=keys, args=args)
            for ref in mine:
                self._settled(ref)
        return moved

    # -- giving a worker's jobs back ------------------------------------------------------

    async def release(self, worker_id: str | None = None, fence: bool = False) -> int:
        """Give back a worker's jobs (to the head of their queues, in order) and remove every
        trace of it.

        With no ``worker_id``: this worker, shutting down (its lanes fenced if ``fence``, or
        if a reply was lost: what it sent may reach Redis later). With another worker's id:
        recover it if it is dead (its alive key expired), counting a recovery for each job,
        and fence its lanes; -1 if it is alive after all. Exactly one of many racing workers
        moves each lane's jobs.
        """
        dead = worker_id is not None
        worker_id = worker_id or self.worker_id
        k = self.keys
        if dead and await self.redis.exists(k.alive(worker_id)):
            return -1
        fenced = dead or fence or self.doubtful
        names = set(map(text, await self.redis.smembers(k.worker_lanes(worker_id))))
        moved = 0
        for name in sorted(names if dead else names | set(self._lanes)):
            lane = Lane(k, name, worker_id)
            keys = [lane.queue, lane.key, lane.settled, lane.deliveries, lane.outbox]
            reply = await _RELEASE(
                self.redis,
                keys=[*keys, lane.fence, lane.limit],
                args=[lane.key + ":", "1" if dead else "0", FENCE_SECONDS if fenced else 0],
            )
            moved += reply[0]
            if reply[1:]:
                await self._write_out(reply[1:], lane, None if dead else worker_id)
        if not dead:
            for lane in self._lanes.values():
                lane.closed = True
            self._lanes.clear()
            self.doubtful = False
        await self._unregister(worker_id)
        return int(moved)

    async def _unregister(self, worker_id: str) -> None:
        k = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.srem(k.pace_workers, worker_id)
            pipe.srem(k.workers, worker_id)
            pipe.hdel(k.heartbeats, worker_id)
            for key in (
                k.worker_lanes(worker_id), k.alive(worker_id), k.worker(worker_id),
                k.worker_started(worker_id), k.worker_jobs(worker_id),
                k.worker_metrics(worker_id), k.stat("processed", worker_id),
                k.stat("failed", worker_id),
            ):  # fmt: skip
                pipe.delete(key)
            await pipe.execute()
