"""Live progress as server-sent events (pace.web.events)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis

import pace
from pace.progress import RedisStore
from pace.web import reads
from tests.support import wait_for
from tests.web_support import (
    Client,
    Factory,
    read_events,
)


async def test_events_push_a_scopes_ticks_every_second(http: Client, redis: Redis) -> None:
    progress = pace.Progress(("user", 1), total=100, store=RedisStore(redis))
    await progress.tick(10, force=True)
    started = time.monotonic()
    async with http.get("/api/events?scope=user:1&scope=user:2") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        (first,) = await read_events(response, 1)
        await progress.tick(30, force=True)  # the bar moves: 10% -> 40%
        (second,) = await read_events(response, 1)
    assert time.monotonic() - started < 3
    assert first["scopes"]["user:2"]["jobs"] == []
    (before,) = first["scopes"]["user:1"]["jobs"]
    (after,) = second["scopes"]["user:1"]["jobs"]
    assert (before["percentage"], after["percentage"]) == (10.0, 40.0)
    assert after["job_id"] == progress.job_id


async def test_a_stream_with_a_limit_ends_by_itself(http: Client) -> None:
    async with http.get("/api/events?scope=s&limit=2") as response:
        body = await asyncio.wait_for(response.text(), timeout=5)
    assert body.count("event: progress") == 2
    assert body.startswith("retry: 2000")


async def test_a_stream_stops_when_the_client_goes_away(
    http: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads_made = 0
    real = reads.progress

    async def counted(*args: Any) -> Any:
        nonlocal reads_made
        reads_made += 1
        return await real(*args)

    monkeypatch.setattr(reads, "progress", counted)
    response = await http.get("/api/events?scope=s")
    await read_events(response, 2)
    response.close()  # the browser tab closes
    await asyncio.sleep(1.5)  # the server notices at its next write at the latest
    settled = reads_made
    await asyncio.sleep(1.2)
    assert reads_made == settled, "the stream kept reading Redis after the client left"


async def test_the_app_shutting_down_ends_open_streams(make_client: Factory) -> None:
    http = await make_client()
    response = await http.get("/api/events?scope=s")
    await read_events(response, 1)
    started = time.monotonic()
    await http.close()
    assert time.monotonic() - started < 3


async def test_the_overview_stream_keeps_counts_and_queues_current(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("mail", "SendMail")
    async with http.get("/api/events?overview=1") as response:
        (first,) = await read_events(response, 1, "overview")
        await client.enqueue_many("mail", "SendMail", [[1], [2]])
        await redis.set("resque:stat:processed", 7)
        await client.enqueue_in(60, "mail", "Later")

        async def moved() -> bool:
            (event,) = await read_events(response, 1, "overview")
            return bool(event["queued"] == 3)

        await wait_for(moved)
        (now,) = await read_events(response, 1, "overview")
    assert (first["queued"], first["processed"], first["scheduled"]) == (1, 0, 0)
    assert (now["queued"], now["processed"], now["scheduled"]) == (3, 7, 1)
    assert now["queues"] == [{"name": "mail", "size": 3, "latency": None, "paused": False,
                              "paused_until": None}]  # fmt: skip
    assert now["workers"] == []
    for bad in ("overview=2", "overview=yes"):
        assert (await http.get(f"/api/events?{bad}")).status == 400
    page = await (await http.get("/")).text()
    assert "data-live-overview=" in page
    assert 'data-stat="queued"' in page
