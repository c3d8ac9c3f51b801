"""Ruby's own client (redis-rb and Ruby's json, ``tests/ruby/resque_client.rb``) against pace:
a job Ruby enqueues, in Ruby's bytes, runs with the args Ruby meant, and Ruby reads the
failure pace records. ``tests/test_crash.py`` does it too, through SIGKILLs, on a cluster."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

import pace
from tests.support import Starter, needs_ruby, ruby, wait_for

ARGS = [
    "héllo ☃ 日本 </script>", 0.1, 1e20, 2**70, -7, None, True,
    {"nested": {"list": [1, 2.5, False], "": "an empty key"}, "z": [], "a": {}},
]  # fmt: skip
"""Args whose JSON Ruby writes its own way: UTF-8 as is, ``1.0e+20``, keys in their order."""


@needs_ruby
async def test_a_job_ruby_enqueues_runs_with_its_args_and_ruby_reads_its_failure(
    redis: Redis, redis_url: str, start: Starter
) -> None:
    await ruby(redis_url, "enqueue", [["ruby", "Echo", ARGS], ["ruby", "Boom", ARGS]])
    raws = await redis.lrange("resque:queue:ruby", 0, -1)
    assert b",1.0e+20," in raws[0]
    assert "☃".encode() in raws[0], "Ruby's bytes, not Python's json.dumps"
    assert await redis.smembers("resque:queues") == {b"ruby"}
    ran: dict[str, tuple[list[Any], bytes]] = {}

    async def handler(job: pace.Job) -> None:
        ran[job.class_name] = (job.args, job.raw)
        if job.class_name == "Boom":
            raise ValueError("boom")

    await start(["ruby"], handler)

    async def both_settled() -> bool:
        processed = await redis.get("resque:stat:processed")
        return processed == b"2" and await redis.llen("resque:failed") == 1

    await wait_for(both_settled)
    assert ran == {"Echo": (ARGS, raws[0]), "Boom": (ARGS, raws[1])}
    (failure,) = await ruby(redis_url, "failed")
    assert failure["payload"] == {"class": "Boom", "args": ARGS}
    assert list(failure["payload"]["args"][-1]) == ["nested", "z", "a"]
    assert (failure["exception"], failure["error"], failure["queue"]) == (
        "ValueError", "boom", "ruby"
    )  # fmt: skip
