"""Failure administration against a real Redis, checked against Ruby Resque's behaviour.

Records are seeded the way pace writes them (a real worker with a failing handler) or with
Ruby's exact shape (``RPUSH``), then listed, requeued and removed through ``pace.Failures``
and the ``pace-worker failed`` subcommands.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

import pace
from pace.failures import requeue_plan
from tests.support import on_both

FAILED = "resque:failed"
RESQUE_TIME = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d UTC$")


def ruby_record(
    class_name: Any = "Divide",
    args: Any = (1, 0),
    queue: Any = "q",
    *,
    payload: Any = None,
    **extra: Any,
) -> bytes:
    """A failure record exactly as Ruby Resque writes it (keys in its order, compact JSON)."""
    record = {
        "failed_at": "2026/11/22 10:53:41 UTC",
        "payload": payload if payload is not None else {"class": class_name, "args": list(args)},
        "exception": "ZeroDivisionError",
        "error": "divided by 0",
        "backtrace": ["app/jobs/divide.rb:3:in `perform'"],
        "worker": "host:42:q",
        "queue": queue,
        **extra,
    }
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


async def records(redis: Redis) -> list[bytes]:
    return list(await redis.lrange(FAILED, 0, -1))


async def queued(redis: Redis, queue: str) -> list[bytes]:
    return list(await redis.lrange(f"resque:queue:{queue}", 0, -1))


@pytest.fixture
def failures(client: pace.Client) -> pace.Failures:
    return pace.Failures(client)


def assert_recent(resque_time: str) -> None:
    assert RESQUE_TIME.match(resque_time), resque_time
    moment = datetime.strptime(resque_time, "%Y/%m/%d %H:%M:%S UTC").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - moment) < timedelta(seconds=5)


# -- count, list, get ----------------------------------------------------------------------------


@on_both
async def test_count_and_list_read_what_a_real_worker_wrote_field_by_field(
    client: pace.Client, redis: Redis, failures: pace.Failures
) -> None:
    ids = await client.enqueue_many("q", "Divide", [[1, 0], [2, 0]])

    async def divide(job: pace.Job) -> None:
        job.args[0] / job.args[1]

    worker = pace.Worker(["q"], redis=redis, burst=True, concurrency=1)
    await worker.start({"Divide": divide})

    assert await failures.count() == 2
    listed = await failures.list()
    assert [failure.index for failure in listed] == [0, 1]
    raws = await records(redis)
    for failure, job_id, first, raw in zip(listed, ids, [1, 2], raws, strict=True):
        assert RESQUE_TIME.match(failure.failed_at or "")
        assert failure.payload == {"class": "Divide", "args": [first, 0], "id": job_id}
        assert failure.class_name == "Divide"
        assert failure.exception == "ZeroDivisionError"
        assert failure.error == "division by zero"
        assert re.match(r"^.*test_failures\.py:\d+:in `divide'$", failure.backtrace[0])
        assert failure.worker == worker.id
        assert failure.queue == "q"
        assert failure.retried_at is None
        assert failure.raw == raw.decode()
    assert await failures.get(1) == listed[1]
    assert await failures.get(-1) == listed[1]


@on_both
async def test_list_pages_with_start_and_count(redis: Redis, failures: pace.Failures) -> None:
    await redis.rpush(FAILED, *(ruby_record(args=[n, 0]) for n in range(5)))

    assert [f.payload["args"][0] for f in await failures.list()] == [0, 1, 2, 3, 4]
    page = await failures.list(start=1, count=2)
    assert [(f.index, f.payload["args"][0]) for f in page] == [(1, 1), (2, 2)]
    assert [f.index for f in await failures.list(start=4, count=20)] == [4]
    assert await failures.list(start=5) == []
    assert await failures.list(start=0, count=0) == []  # not LRANGE 0 -1, the whole list


@on_both
@pytest.mark.parametrize(("start", "count"), [(-1, 20), (0, -1), (True, 20)])
async def test_list_rejects_a_negative_start_or_count(
    failures: pace.Failures, start: Any, count: Any
) -> None:
    with pytest.raises(pace.ConfigError, match="must be a whole number >= 0"):
        await failures.list(start, count)


@on_both
async def test_a_malformed_record_is_listed_with_its_raw_text_not_a_crash(
    redis: Redis, failures: pace.Failures
) -> None:
    good = ruby_record()
    malformed = [b"{not json", b"[1,2]", b"\xff\xfe", b"", b'"text"', b"[" * 100_000]
    await redis.rpush(FAILED, good, *malformed, good)

    listed = await failures.list(count=100)
    assert [f.index for f in listed] == list(range(8))
    assert listed[0].class_name == listed[7].class_name == "Divide"
    for failure, raw in zip(listed[1:7], malformed, strict=True):
        assert failure.raw == raw.decode(errors="replace")
        assert (failure.payload, failure.exception, failure.queue) == (None, None, None)
        assert (failure.failed_at, failure.retried_at, failure.class_name) == (None, None, None)
        assert failure.backtrace == ()
    assert (await failures.get(1)).raw == "{not json"


@on_both
async def test_fields_of_the_wrong_type_are_none_not_a_crash(
    redis: Redis, failures: pace.Failures
) -> None:
    await redis.rpush(
        FAILED, b'{"failed_at":5,"payload":{"class":7},"worker":null,"backtrace":"x","queue":[]}'
    )
    (failure,) = await failures.list()
    assert (failure.failed_at, failure.worker, failure.queue, failure.class_name) == (None,) * 4
    assert failure.payload == {"class": 7}
    assert failure.backtrace == ()


@on_both
async def test_failures_follow_the_clients_namespace(redis: Redis) -> None:
    await redis.rpush("other:failed", ruby_record())
    async with pace.Client(redis=redis, namespace="other") as client:
        failures = pace.Failures(client)
        assert await failures.count() == 1
        await failures.requeue(0)
    assert await redis.lrange("other:queue:q", 0, -1) == [b'{"class":"Divide","args":[1,0]}']
    assert await redis.smembers("other:queues") == {b"q"}
    assert not await redis.exists(FAILED, "resque:queue:q", "resque:queues")


# -- requeue ---------------------------------------------------------------------------------------


@on_both
async def test_requeue_keeps_the_record_with_retried_at_and_enqueues_only_class_and_args(
    redis: Redis, failures: pace.Failures
) -> None:
    payload = {"class": "Divide", "args": [1, "café", {"k": None}], "id": "abc", "plugin": [1]}
    before = ruby_record(payload=payload)
    other = ruby_record(args=[9, 0])
    await redis.rpush(FAILED, other, before, other)

    failure = await failures.requeue(1)

    after = await records(redis)
    assert [after[0], after[2]] == [other, other]  # the others untouched, the list as long
    record = json.loads(after[1])
    assert list(record) == [*json.loads(before), "retried_at"]
    assert {k: v for k, v in record.items() if k != "retried_at"} == json.loads(before)
    assert_recent(record["retried_at"])
    assert after[1] == before[:-1] + f',"retried_at":"{record["retried_at"]}"}}'.encode()
    assert await queued(redis, "q") == ['{"class":"Divide","args":[1,"café",{"k":null}]}'.encode()]
    assert await redis.smembers("resque:queues") == {b"q"}
    assert failure.index == 1
    assert failure.retried_at == record["retried_at"]
    assert failure.raw == after[1].decode()


@on_both
async def test_a_requeued_job_runs_on_a_worker(
    redis: Redis, failures: pace.Failures, client: pace.Client
) -> None:
    await client.enqueue("q", "Flaky", 7)
    ran: list[list[Any]] = []

    async def flaky(job: pace.Job) -> None:
        ran.append(job.args)
        if len(ran) == 1:
            raise RuntimeError("first time")

    await pace.Worker(["q"], redis=redis, burst=True).start({"Flaky": flaky})
    await failures.requeue(0)
    await pace.Worker(["q"], redis=redis, burst=True).start({"Flaky": flaky})
    assert ran == [[7], [7]]
    assert await failures.count() == 1
    assert (await failures.get(0)).retried_at is not None


@on_both
async def test_requeue_again_replaces_retried_at_in_place(
    redis: Redis, failures: pace.Failures
) -> None:
    before = ruby_record(retried_at="2020/01/01 00:00:00 UTC")
    await redis.rpush(FAILED, before)

    await failures.requeue(0)
    await failures.requeue(0)

    (raw,) = await records(redis)
    record = json.loads(raw)
    assert list(record) == list(json.loads(before))  # retried_at kept its place
    assert_recent(record["retried_at"])
    assert await queued(redis, "q") == [b'{"class":"Divide","args":[1,0]}'] * 2


@on_both
async def test_requeue_to_another_queue_leaves_the_records_queue(
    redis: Redis, failures: pace.Failures
) -> None:
    await redis.rpush(FAILED, ruby_record(queue="q"))

    failure = await failures.requeue(0, queue="other")

    assert await queued(redis, "other") == [b'{"class":"Divide","args":[1,0]}']
    assert await queued(redis, "q") == []
    assert await redis.smembers("resque:queues") == {b"other"}
    assert failure.queue == "q"
    assert json.loads((await records(redis))[0])["queue"] == "q"


@on_both
async def test_requeue_to_a_bad_queue_name_raises_config_error(
    redis: Redis, failures: pace.Failures
) -> None:
    await redis.rpush(FAILED, ruby_record())
    with pytest.raises(pace.ConfigError, match="bad queue name 'a:b'"):
        await failures.requeue(0, queue="a:b")
    assert await records(redis) == [ruby_record()]


@on_both
async def test_requeue_with_a_negative_index_counts_from_the_end(
    redis: Redis, failures: pace.Failures
) -> None:
    await redis.rpush(FAILED, ruby_record(args=[1]), ruby_record(args=[2]))

    failure = await failures.requeue(-1)

    assert failure.index == 1
    assert await queued(redis, "q") == [b'{"class":"Divide","args":[2]}']
    retried = [json.loads(raw).get("retried_at") for raw in await records(redis)]
    assert retried[0] is None
    assert retried[1] is not None


@on_both
async def test_requeue_of_a_payload_without_args_enqueues_empty_args(
    redis: Redis, failures: pace.Failures
) -> None:
    await redis.rpush(FAILED, ruby_record(payload={"class": "Ping"}))
    await failures.requeue(0)
    assert await queued(redis, "q") == [b'{"class":"Ping","args":[]}']  # Ruby's *nil


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        pytest.param(b"{not json", "the record is not a JSON object", id="not-json"),
        pytest.param(
            ruby_record(payload="{not a job"),
            "its payload is not a Resque job (the job's raw text is kept in the record)",
            id="raw-text-payload",
        ),
        pytest.param(
            ruby_record(payload={"args": [1]}), "its payload has no job class", id="no-class"
        ),
        pytest.param(ruby_record(class_name=7), "no job class (class: 7)", id="class-not-a-string"),
        pytest.param(
            ruby_record(payload={"class": "X", "args": "a"}), "args are not a list", id="args-str"
        ),
        pytest.param(ruby_record(queue=None), "its queue is not a queue name: None", id="no-queue"),
        pytest.param(ruby_record(queue="a:b"), "not a queue name: 'a:b'", id="queue-with-colon"),
        pytest.param(
            ruby_record(args=["X"]).replace(b'"X"', b"1e400"),  # a float, too large: inf
            "cannot be encoded as JSON again",
            id="arg-too-large",
        ),
    ],
)
async def test_requeue_of_a_record_without_a_job_raises_cannot_requeue_and_changes_nothing(
    redis: Redis, failures: pace.Failures, record: bytes, reason: str
) -> None:
    await redis.rpush(FAILED, ruby_record(), record)

    with pytest.raises(pace.CannotRequeue, match=re.escape(reason)) as caught:
        await failures.requeue(1)

    assert str(caught.value).startswith("failure 1 cannot be requeued: ")
    assert caught.value.index == 1
    assert await records(redis) == [ruby_record(), record]
    assert not await redis.exists("resque:queues", "resque:queue:q")


@on_both
async def test_the_record_of_an_undecodable_job_keeps_its_raw_payload_and_is_not_requeued(
    redis: Redis, failures: pace.Failures
) -> None:
    await redis.rpush("resque:queue:q", b'{"class":7,"args":[1]}')
    await pace.Worker(["q"], redis=redis, burst=True).start({})

    failure = await failures.get(0)
    assert failure.payload == '{"class":7,"args":[1]}'
    assert failure.exception == "pace.errors.InvalidPayload"
    assert failure.class_name is None
    with pytest.raises(pace.CannotRequeue, match="raw text is kept in the record"):
        await failures.requeue(0)
    assert await redis.llen("resque:queue:q") == 0


@on_both
async def test_a_requeue_planned_before_a_concurrent_remove_requeues_nothing(
    redis: Redis, failures: pace.Failures
) -> None:
    first, second = ruby_record(args=[1]), ruby_record(args=[2])
    await redis.rpush(FAILED, first, second)
    stale = requeue_plan(0, first, None)  # what requeue(0) read, before ...
    await failures.remove(0)  # ... someone else removed record 0: `second` is at index 0 now

    assert await failures._apply([stale]) == [0]  # the record changed: skipped
    assert await records(redis) == [second]
    assert await queued(redis, "q") == []

    await failures.requeue(0)  # a fresh read requeues the record that is there now
    assert await queued(redis, "q") == [b'{"class":"Divide","args":[2]}']


# -- bad indexes -----------------------------------------------------------------------------------

OPERATIONS = ["get", "requeue", "remove"]


@on_both
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("index", [3, 100, -4])
async def test_a_bad_index_raises_no_such_failure_naming_the_index_and_the_count(
    redis: Redis, failures: pace.Failures, operation: str, index: int
) -> None:
    seeded = [ruby_record(args=[n]) for n in range(3)]
    await redis.rpush(FAILED, *seeded)

    with pytest.raises(pace.NoSuchFailure) as caught:
        await getattr(failures, operation)(index)

    assert str(caught.value) == (
        f"no failure at index {index}: there are 3 (indexes 0 to 2, or -3 to -1)"
    )
    assert isinstance(caught.value, LookupError)
    assert (caught.value.index, caught.value.count) == (index, 3)
    assert await records(redis) == seeded
    assert not await redis.exists("resque:queues", "resque:queue:q")


@on_both
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_any_index_of_an_empty_list_says_there_are_no_failures(
    failures: pace.Failures, operation: str
) -> None:
    with pytest.raises(pace.NoSuchFailure, match=r"^no failure at index 0: there are no failures$"):
        await getattr(failures, operation)(0)


# -- remove, requeue_all, clear --------------------------------------------------------------------


@on_both
async def test_remove_deletes_the_record_and_later_ones_shift_down(
    redis: Redis, failures: pace.Failures
) -> None:
    a, b, c = (ruby_record(args=[n]) for n in "abc")
    await redis.rpush(FAILED, a, b, c)

    removed = await failures.remove(1)

    assert (removed.index, removed.payload["args"], removed.raw) == (1, ["b"], b.decode())
    assert await records(redis) == [a, c]
    assert [(f.index, f.payload["args"]) for f in await failures.list()] == [(0, ["a"]), (1, ["c"])]


@on_both
async def test_remove_with_a_negative_index_counts_from_the_end(
    redis: Redis, failures: pace.Failures
) -> None:
    a, b, c = (ruby_record(args=[n]) for n in "abc")
    await redis.rpush(FAILED, a, b, c)

    removed = await failures.remove(-3)

    assert removed.index == 0
    assert await records(redis) == [b, c]


@on_both
async def test_remove_of_an_empty_record_left_by_ruby_removes_one_record(
    redis: Redis, failures: pace.Failures
) -> None:
    a = ruby_record()
    await redis.rpush(FAILED, a, b"", b"")  # Ruby's sentinel, as a crashed remove leaves it
    removed = await failures.remove(2)
    assert removed.raw == ""
    assert await records(redis) == [a, b""]


@on_both
async def test_requeue_all_requeues_every_record_keeps_them_and_reports_the_skipped(
    redis: Redis, failures: pace.Failures
) -> None:
    seeded = [
        ruby_record(args=[0], queue="a"),
        ruby_record(args=[1], queue="b", retried_at="2020/01/01 00:00:00 UTC"),  # again, as Ruby
        b"{not json",
        ruby_record(payload="{raw job"),
        ruby_record(args=[4], queue="a"),
    ]
    await redis.rpush(FAILED, *seeded)

    summary = await failures.requeue_all()

    assert summary.requeued == 3
    assert summary.skipped == {
        2: "the record is not a JSON object",
        3: "its payload is not a Resque job (the job's raw text is kept in the record)",
    }
    assert await queued(redis, "a") == [
        b'{"class":"Divide","args":[0]}',
        b'{"class":"Divide","args":[4]}',
    ]
    assert await queued(redis, "b") == [b'{"class":"Divide","args":[1]}']
    assert await redis.smembers("resque:queues") == {b"a", b"b"}
    after = await records(redis)
    assert after[2:4] == seeded[2:4]
    for raw in (after[0], after[1], after[4]):
        assert_recent(json.loads(raw)["retried_at"])


@on_both
async def test_requeue_all_reads_a_long_list_in_chunks_and_keeps_the_order(
    redis: Redis, failures: pace.Failures
) -> None:
    await redis.rpush(FAILED, *(ruby_record(args=[n]) for n in range(450)))

    summary = await failures.requeue_all(queue="again")

    assert (summary.requeued, summary.skipped) == (450, {})
    jobs = [json.loads(raw) for raw in await queued(redis, "again")]
    assert jobs == [{"class": "Divide", "args": [n]} for n in range(450)]
    assert await redis.llen(FAILED) == 450


@on_both
async def test_requeue_all_of_no_failures_requeues_nothing(failures: pace.Failures) -> None:
    summary = await failures.requeue_all()
    assert (summary.requeued, summary.skipped) == (0, {})


@on_both
async def test_clear_deletes_every_record_and_returns_how_many(
    redis: Redis, failures: pace.Failures
) -> None:
    await redis.rpush(FAILED, ruby_record(), b"{not json", ruby_record())
    assert await failures.clear() == 3
    assert not await redis.exists(FAILED)
    assert await failures.clear() == 0


@on_both
async def test_clear_retried_removes_only_records_with_retried_at(
    redis: Redis, failures: pace.Failures
) -> None:
    kept = [
        ruby_record(args=[0]),
        ruby_record(args=[2], retried_at=None),  # Ruby's nil: never retried
        b"{not json",
        b"",
    ]
    retried = [ruby_record(args=[n], retried_at="2026/11/22 11:00:00 UTC") for n in (1, 3)]
    await redis.rpush(FAILED, kept[0], retried[0], kept[1], kept[2], retried[1], kept[3])

    assert await failures.clear_retried() == 2

    assert await records(redis) == kept
    assert await failures.clear_retried() == 0


# -- the CLI ---------------------------------------------------------------------------------------


async def failed(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``pace-worker failed ARGS`` in a subprocess; return its exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "failed", *args,
        cwd=Path(__file__).parent, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    assert "Traceback" not in stderr.decode(), stderr.decode()
    return process.returncode, stdout.decode(), stderr.decode()


@on_both
async def test_cli_failed_list_prints_one_line_per_record(
    cli_env: dict[str, str], redis: Redis
) -> None:
    await redis.rpush(
        FAILED,
        ruby_record(),
        ruby_record(class_name="Mail", queue="mail", retried_at="2026/11/22 11:00:00 UTC"),
        ruby_record(payload="{raw job", error="line one\nline two"),
        b"{not json",
    )

    status, stdout, _ = await failed("list", env=cli_env)

    assert status == 0
    assert stdout.splitlines() == [
        "0  2026/11/22 10:53:41 UTC  q  Divide  ZeroDivisionError: divided by 0",
        "1  2026/11/22 10:53:41 UTC  mail  Mail  ZeroDivisionError: divided by 0"
        "  (retried at 2026/11/22 11:00:00 UTC)",
        "2  2026/11/22 10:53:41 UTC  q  (not a job)  ZeroDivisionError: line one line two",
        "3  (not a failure record) '{not json'",
    ]


@on_both
async def test_cli_failed_list_pages_with_start_and_count(
    cli_env: dict[str, str], redis: Redis
) -> None:
    await redis.rpush(FAILED, *(ruby_record(class_name=f"Job{n}") for n in range(5)))

    status, stdout, _ = await failed("list", "--start", "1", "--count", "2", env=cli_env)
    assert status == 0
    assert [line.split("  ")[:4:3] for line in stdout.splitlines()] == [
        ["1", "Job1"],
        ["2", "Job2"],
    ]

    status, stdout, _ = await failed("list", "--start", "5", env=cli_env)
    assert (status, stdout) == (0, "no failures from index 5 (there are 5)\n")


@on_both
async def test_cli_failed_list_of_no_failures_says_so(
    cli_env: dict[str, str], redis: Redis
) -> None:
    assert await failed("list", env=cli_env) == (0, "no failures\n", "")


@on_both
async def test_cli_failed_requeue_index_enqueues_the_job_and_keeps_the_record(
    cli_env: dict[str, str], redis: Redis
) -> None:
    await redis.rpush(FAILED, ruby_record(args=[0]), ruby_record(args=[1]))

    status, stdout, _ = await failed("requeue", "1", env=cli_env)

    assert (status, stdout) == (0, "requeued failure 1: Divide on q\n")
    assert await queued(redis, "q") == [b'{"class":"Divide","args":[1]}']
    assert_recent(json.loads((await records(redis))[1])["retried_at"])
    assert await redis.llen(FAILED) == 2


@on_both
async def test_cli_failed_requeue_to_another_queue(cli_env: dict[str, str], redis: Redis) -> None:
    await redis.rpush(FAILED, ruby_record())
    status, stdout, _ = await failed("requeue", "-1", "--queue", "other", env=cli_env)
    assert (status, stdout) == (0, "requeued failure 0: Divide on other\n")
    assert await queued(redis, "other") == [b'{"class":"Divide","args":[1,0]}']


@on_both
async def test_cli_failed_requeue_all_reports_the_skipped_on_stderr(
    cli_env: dict[str, str], redis: Redis
) -> None:
    await redis.rpush(FAILED, ruby_record(args=[0]), b"{not json", ruby_record(args=[2]))

    status, stdout, stderr = await failed("requeue", "--all", env=cli_env)

    assert (status, stdout) == (0, "requeued 2 failures\n")
    assert stderr == ("pace-worker: skipped failure 1: the record is not a JSON object\n")
    assert len(await queued(redis, "q")) == 2


@on_both
async def test_cli_failed_remove_removes_one_and_shows_it(
    cli_env: dict[str, str], redis: Redis
) -> None:
    a, b = ruby_record(class_name="A"), ruby_record(class_name="B")
    await redis.rpush(FAILED, a, b)

    status, stdout, _ = await failed("remove", "0", env=cli_env)

    assert status == 0
    assert (
        stdout
        == "removed failure 0  2026/11/22 10:53:41 UTC  q  A  ZeroDivisionError: divided by 0\n"
    )
    assert await records(redis) == [b]


@on_both
async def test_cli_failed_clear_says_how_many_it_removed(
    cli_env: dict[str, str], redis: Redis
) -> None:
    await redis.rpush(FAILED, ruby_record(retried_at="2026/11/22 11:00:00 UTC"), ruby_record())

    assert await failed("clear", "--retried", env=cli_env) == (0, "removed 1 retried failure\n", "")
    assert await redis.llen(FAILED) == 1
    assert await failed("clear", env=cli_env) == (0, "removed 1 failure\n", "")
    assert not await redis.exists(FAILED)
    assert await failed("clear", env=cli_env) == (0, "removed 0 failures\n", "")


@on_both
async def test_cli_failed_uses_the_namespace_option(cli_env: dict[str, str], redis: Redis) -> None:
    await redis.rpush("other:failed", ruby_record())
    status, stdout, _ = await failed("list", "--namespace", "other", env=cli_env)
    assert status == 0
    assert stdout.startswith("0  2026/11/22 10:53:41 UTC  q  Divide")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("requeue", "2"),
            "error: no failure at index 2: there is 1 (indexes 0 to 0, or -1 to -1)",
            id="requeue-out-of-range",
        ),
        pytest.param(("remove", "-2"), "error: no failure at index -2", id="remove-negative"),
        pytest.param(("remove", "x"), "invalid int value: 'x'", id="index-not-a-number"),
        pytest.param(("requeue",), "one of the arguments INDEX --all is required", id="no-index"),
        pytest.param(("requeue", "0", "--all"), "not allowed with argument", id="index-and-all"),
        pytest.param(("list", "--count", "-1"), "--start and --count must be", id="count-negative"),
        pytest.param(("requeue", "0", "--queue", "a:b"), "bad queue name 'a:b'", id="bad-queue"),
        pytest.param((), "the following arguments are required: action", id="no-action"),
    ],
)
async def test_cli_failed_bad_input_exits_2_with_a_message(
    cli_env: dict[str, str], redis: Redis, args: tuple[str, ...], message: str
) -> None:
    await redis.rpush(FAILED, ruby_record())

    status, stdout, stderr = await failed(*args, env=cli_env)

    assert status == 2
    assert message in stderr
    assert stdout == ""
    assert await records(redis) == [ruby_record()]
    assert not await redis.exists("resque:queue:q")


@on_both
async def test_cli_failed_requeue_of_a_record_without_a_job_exits_2_saying_why(
    cli_env: dict[str, str], redis: Redis
) -> None:
    await redis.rpush(FAILED, ruby_record(payload="{raw job"))
    status, stdout, stderr = await failed("requeue", "0", env=cli_env)
    assert (status, stdout) == (2, "")
    assert stderr == (
        "pace-worker: error: failure 0 cannot be requeued: its payload is not a Resque job "
        "(the job's raw text is kept in the record)\n"
    )


@on_both
async def test_cli_failed_with_an_unreachable_redis_exits_1_naming_the_url(
    cli_env: dict[str, str],
) -> None:
    url = "redis://127.0.0.1:1/0"
    status, stdout, stderr = await failed("list", "--redis-url", url, env=cli_env)
    assert (status, stdout) == (1, "")
    (line,) = stderr.strip().splitlines()
    assert url in line
