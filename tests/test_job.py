"""The job a handler sees: its attributes, and a read-only mapping over its payload."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from redis.asyncio import Redis

import pace
from pace.job import decode

RAW = b'{"class":"UpdateGraph","args":["defunkt",3],"id":"j1","extra":{"k":1}}'


def test_a_job_reads_as_its_payload_as_the_seeds_block_got_it() -> None:
    job = decode(RAW, "graphs")
    assert isinstance(job, Mapping)
    assert job["class"] == "UpdateGraph"
    assert job["args"] == ["defunkt", 3]
    assert job.get("id") == "j1"
    assert job.get("missing", "default") == "default"
    assert dict(job) == json.loads(RAW)
    assert list(job) == ["class", "args", "id", "extra"]
    assert len(job) == 4
    assert "extra" in job
    with pytest.raises(KeyError):
        job["nope"]
    with pytest.raises(TypeError):
        job["class"] = "Other"  # type: ignore[index]
    assert (job.class_name, job.args, job.id) == ("UpdateGraph", ["defunkt", 3], "j1")


def test_two_deliveries_of_the_same_payload_are_two_jobs() -> None:
    first, second = decode(RAW, "q"), decode(RAW, "q")
    assert first != second
    assert first == first
    assert len({first: 1, second: 2}) == 2


async def test_a_handler_can_read_the_job_as_a_hash(client: pace.Client, redis: Redis) -> None:
    await client.enqueue("q", "Greet", "world")
    seen: list[tuple[str, list[str]]] = []

    async def handler(job: pace.Job) -> None:
        seen.append((job["class"], job["args"]))

    await pace.Worker(["q"], redis=redis, burst=True).start(handler)
    assert seen == [("Greet", ["world"])]
