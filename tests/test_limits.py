"""Fleet-wide limits per queue: how they are given, stored and listed (pace.limits, the CLI)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis import Redis as SyncRedis
from redis.asyncio import Redis

import pace
from pace.embedded import EmbeddedRedis
from pace.errors import ConfigError
from pace.keys import Keys
from pace.limits import parse_rate
from pace.worker.holds import LIMIT_POLL, Holds
from pace.worker.inflight import InFlight, Ref
from tests.support import Starter, wait_for
from tests.test_cli import pace_cli

KEYS = Keys()
TESTS = Path(__file__).parent


@pytest.mark.parametrize(
    ("rate", "parsed"), [("100/s", (100, 1.0)), ("20/m", (20, 60.0)), (" 7 / h ", (7, 3600.0))]
)
def test_rates_are_jobs_per_second_minute_or_hour(rate: str, parsed: tuple[int, float]) -> None:
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["100", "100/d", "0/s", "-1/s", "1.5/s", "", "s/100"])
def test_a_rate_that_is_not_n_per_unit_says_what_to_write(rate: str) -> None:
    with pytest.raises(ConfigError, match=r"N/s, N/m or N/h|whole number >= 1"):
        parse_rate(rate)


async def test_limits_are_set_per_bound_listed_and_cleared(redis: Redis) -> None:
    limits = pace.Limits(redis)
    assert await limits.set("mail", rate="100/s") == pace.Limit("mail", 100, 1.0, None)
    assert await limits.set("mail", concurrency=5) == pace.Limit("mail", 100, 1.0, 5)
    await limits.set("api", concurrency=1)
    assert [str(limit) for limit in await limits.list()] == [
        "api: 1 at once",
        "mail: 100/s, 5 at once",
    ]
    assert await redis.hgetall("resque:pace:limit:{resque:queue:mail}") == {
        b"rate": b"100", b"period": b"1.0", b"concurrency": b"5"
    }
    assert await limits.clear("mail")
    assert not await limits.clear("mail")
    assert await limits.get("mail") is None
    assert [limit.queue for limit in await limits.list()] == ["api"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "give a rate"),
        ({"concurrency": 0}, "concurrency must be a whole number >= 1"),
        ({"rate": "fast"}, "a rate is N/s"),
    ],
)
async def test_bad_limits_are_refused_and_nothing_is_stored(
    redis: Redis, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        await pace.Limits(redis).set("mail", **settings)  # type: ignore[arg-type]
    assert await redis.keys("resque:pace:limit*") == []


async def test_the_cli_sets_lists_and_clears_limits(redis: Redis, cli_env: dict[str, str]) -> None:
    done = await pace_cli("limit", "mail", "--rate", "100/s", "--concurrency", "5", env=cli_env)
    assert (done.returncode, done.stdout) == (0, "mail: 100/s, 5 at once\n")
    assert (await pace_cli("limit", env=cli_env)).stdout == "mail: 100/s, 5 at once\n"
    bad = await pace_cli("limit", "mail", "--rate", "100/x", env=cli_env)
    assert (bad.returncode, bad.stderr.strip()) == (
        2, "pace-worker: error: a rate is N/s, N/m or N/h (like 100/s), got '100/x'"
    )  # fmt: skip
    cleared = await pace_cli("limit", "mail", "--clear", env=cli_env)
    assert cleared.stdout == "mail: limit cleared\n"
    assert (await pace_cli("limit", env=cli_env)).stdout == ""


# -- enforcement: the fetch script ---------------------------------------------------------

WINDOW = 1_010_000
"""A 1/s rate's window in microseconds: the period and lib/limit.lua's SLACK (10 ms)."""
_ADMIT_AT = "\n".join(
    path.read_text(encoding="utf-8")
    for path in (Path(pace.__file__).parent / "lua/lib/limit.lua", TESTS / "lua/admit_at.lua")
)
steps = st.lists(
    st.tuples(
        st.one_of(
            st.integers(0, 1_200_000), st.sampled_from([0, 1, WINDOW - 1, WINDOW, WINDOW + 1])
        ),
        st.integers(1, 8),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None, database=None)
@given(rate=st.integers(1, 6), steps=steps)
def test_the_rate_admits_exactly_what_its_sliding_window_has_room_for(
    rate: int, steps: list[tuple[int, int]], redis_server: EmbeddedRedis
) -> None:
    """Against a model: at every fetch the window of the last second (and 10 ms) holds at
    most ``rate`` starts, a fetch takes every job that fits, and the wait it returns is when
    the next one fits, to the microsecond."""
    keys = [KEYS.limit("q"), KEYS.limit("q", "starts"), "list"]
    with SyncRedis.from_url(redis_server.url) as redis:
        redis.delete(*keys)
        redis.hset(keys[0], mapping={"rate": rate, "period": "1.0"})
        admit = redis.register_script(_ADMIT_AT)
        starts: dict[bytes, float] = {}

        def within(now: float) -> int:  # the starts the window holds at time `now`
            return sum(1 for at in starts.values() if at > now - WINDOW)

        def ending(end: float) -> int:  # the starts in the window that ends at `end`
            return sum(1 for at in starts.values() if end - WINDOW < at <= end)

        now = 1_800_000_000_000_000
        for advance, want in steps:
            now += advance
            room = max(rate - within(now), 0)
            admitted, wait = admit(keys=keys, args=[want, now])
            assert admitted == min(want, room)
            new = dict(redis.zrange(keys[1], 0, -1, withscores=True))
            assert len(new.keys() - starts.keys()) == admitted
            assert all(at >= now for member, at in new.items() if member not in starts)
            starts.update(new)
            assert within(now) <= rate
            if admitted < want:  # full until `wait` from now, not a microsecond longer
                assert wait > 0
                assert within(now + wait - 1) == rate > within(now + wait)
            else:
                assert wait == 0
        assert redis.hget(keys[0], "admitted") == (str(len(starts)).encode() if starts else None)
        assert all(ending(at) <= rate for at in starts.values())  # every window, not just now


async def in_flight(redis: Redis, queue: str) -> int:
    """The jobs of ``queue`` in flight, as its limit counts them (by fetch list)."""
    fields = await redis.hgetall(KEYS.limit(queue))
    return sum(int(n) for field, n in fields.items() if field.startswith(b"resque:pace:inflight"))


moves = st.lists(
    st.tuples(
        st.sampled_from(["fetch", "fail", "retry", "requeue", "die"]),
        st.integers(0, 2),  # which worker
        st.integers(0, 6),  # jobs to fetch (or of those held, how many succeeded first)
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, database=None)
@given(most=st.integers(1, 5), moves=moves)
def test_the_concurrency_counts_every_job_in_flight_until_it_settles(
    most: int, moves: list[tuple[str, int, int]], redis_server: EmbeddedRedis
) -> None:
    """Against a model, three workers fetch, succeed (with their next fetch), fail, retry,
    requeue and die (recovered by another): the limit's count of jobs in flight is at every
    step the jobs the workers hold, never more than the limit, and a fetch takes every job
    that fits."""
    asyncio.run(_concurrency_program(redis_server.url, most, moves))


async def _concurrency_program(url: str, most: int, moves: list[tuple[str, int, int]]) -> None:
    redis = await pace.connect(url)
    try:
        await redis.flushall()
        await pace.Client(redis=redis).enqueue_many("q", "Job", [[i] for i in range(20)])
        await pace.Limits(redis).set("q", concurrency=most)
        ids = [0, 1, 2]
        workers = [InFlight(redis, KEYS, f"host:{i}:q") for i in ids]
        for inflight in workers:
            inflight.limited = frozenset({"q"})  # as the remote-control loop reads it
        held: list[list[Ref]] = [[], [], []]
        for move, w, n in moves:
            inflight, mine = workers[w], held[w]
            if move == "fetch":
                done, held[w] = mine[:n], mine[n:]
                fits = min(n, most - sum(map(len, held)), await redis.llen("resque:queue:q"))
                taken = await inflight.exchange([(ref, None) for ref in done], {"q": n})
                assert len(taken) == fits
                held[w] += taken
            elif move == "die":  # recovered by another worker: its jobs go back
                await workers[(w + 1) % 3].release(inflight.worker_id)
                ids[w] += 3
                workers[w], held[w] = InFlight(redis, KEYS, f"host:{ids[w]}:q"), []
                workers[w].limited = frozenset({"q"})
            elif move == "requeue":
                await inflight.requeue(mine[:2])
                del mine[:2]
            elif mine and move == "fail":
                await inflight.fail(mine.pop(0), b"{}", None)
            elif mine:
                await inflight.retry(mine.pop(0), b"q|{}", 60, None)
            assert await in_flight(redis, "q") == sum(map(len, held)) <= most
    finally:
        await redis.aclose()


async def test_a_worker_serves_its_other_queues_while_a_limit_holds_one(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    """``limited,other``: the limited queue's jobs wait in their queue (none taken early, none
    pushed back) while the worker runs every job of the queue after it."""
    await pace.Limits(redis).set("limited", rate="2/m")
    await client.enqueue_many("limited", "Job", [[i] for i in range(50)])
    await client.enqueue_many("other", "Job", [[i] for i in range(200)])
    ran = {"limited": 0, "other": 0}

    async def handler(job: pace.Job) -> None:
        ran[job.queue] += 1

    await start(["limited", "other"], handler)
    await wait_for(lambda: ran["other"] == 200)
    assert ran["limited"] == 2
    assert await redis.llen("resque:queue:limited") == 48  # more than the worker has room for
    assert await redis.hget(KEYS.limit("limited"), "admitted") == b"2"


async def test_a_fleet_pause_holds_a_limited_queue_and_its_limit_applies_after(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    """Pauses come first: a paused queue is not fetched, so nothing is taken under its limit;
    once resumed, the limit applies (and the worker's own jobs_per_second with it)."""
    await pace.Limits(redis).set("api", rate="2/m")
    await pace.Pauses(redis).pause_queue("api")
    await client.enqueue_many("api", "Call", [[i] for i in range(5)])
    await client.enqueue_many("other", "Job", [[i] for i in range(50)])
    ran = {"api": 0, "other": 0}

    async def handler(job: pace.Job) -> None:
        ran[job.queue] += 1

    await start(["api", "other"], handler, jobs_per_second=1000)
    await wait_for(lambda: ran["other"] == 50)
    assert ran["api"] == 0
    assert await redis.hget(KEYS.limit("api"), "admitted") is None  # nothing taken under it
    await pace.Pauses(redis).resume_queue("api")
    await wait_for(lambda: ran["api"] == 2)
    assert await redis.llen("resque:queue:api") == 3


async def test_a_running_worker_follows_a_new_limit_within_a_second(
    client: pace.Client, redis: Redis, start: Starter
) -> None:
    """Workers read which queues have a limit with the fleet's pauses (twice a second): a
    queue without one costs its fetches nothing, and a new limit holds once they know it."""
    release = asyncio.Event()
    running = 0

    async def handler(job: pace.Job) -> None:
        nonlocal running
        running += 1
        await release.wait()

    worker = await start(["q"], handler)
    await pace.Limits(redis).set("q", concurrency=1)
    await wait_for(lambda: "q" in worker._inflight.limited)
    await client.enqueue_many("q", "Job", [[i] for i in range(3)])
    await wait_for(lambda: running == 1)
    assert await redis.llen("resque:queue:q") == 2
    release.set()
    await wait_for(lambda: running == 3)


def test_a_queue_held_by_its_concurrency_is_fetched_again_when_a_job_of_it_ends() -> None:
    """A rate's hold lasts until its window opens; a concurrency's ends when one of the
    worker's own jobs of the queue ends (its slot goes back with the next round trip), and
    the time counted as waited stops there."""
    holds = Holds()
    holds.hold("rated", 5_000_000)  # the fetch script's wait: 5 s
    holds.hold("capped", -1)  # full: polled every LIMIT_POLL
    assert set(holds.until) == {"rated", "capped"}
    holds.freeing("rated")
    holds.freeing("capped")
    assert list(holds.until) == ["rated"]
    assert LIMIT_POLL < holds.opens_in() <= 5.0
    assert 0 <= holds.waited["capped"] <= LIMIT_POLL
    assert holds.waited["rated"] == 5.0


async def test_each_start_moves_in_the_window_to_when_it_started_never_before_it_was_taken(
    client: pace.Client, redis: Redis
) -> None:
    await pace.Limits(redis).set("q", rate="10/s")
    await client.enqueue_many("q", "Job", [[1], [2]])
    inflight = InFlight(redis, KEYS, "host:1:q")
    inflight.limited = frozenset({"q"})
    (first, index), _ = await inflight.exchange([], {"q": 2})
    logged = first.logged
    assert logged > 0
    assert inflight.started((first, index)) is False  # one of two
    assert inflight.started((first, 1)) is True  # every job of the fetch: its starts go next
    first.begun = [(0, logged - 5_000_000), (1, logged + 7_000)]  # a clock behind, one ahead
    await inflight.exchange([], {})
    starts = await redis.zrange(KEYS.limit("q", "starts"), 0, -1, withscores=True)
    assert starts == [(f"{logged}.1".encode(), logged), (f"{logged}.2".encode(), logged + 7_000)]
