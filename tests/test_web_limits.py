"""Fleet-wide limits on the web: shown and set on a queue's page and through the API (with the
CSRF rules of every other action), exported on ``/metrics``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis.asyncio import Redis

import pace
from tests.support import Starter, wait_for
from tests.web_support import Client, form, post


async def test_a_limit_is_set_listed_and_cleared_through_the_api(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("mail", "SendMail")
    response = await post(http, "/api/queues/mail/limit", {"rate": "100/s"})
    assert (await response.json())["limit"] == {
        "queue": "mail", "rate": 100, "period": 1.0, "concurrency": None, "admitted": 0,
        "shown": "100/s",
    }  # fmt: skip
    await post(http, "/api/queues/mail/limit", {"concurrency": 5})  # the rate stays
    assert str(await pace.Limits(redis).get("mail")) == "mail: 100/s, 5 at once"
    listed = await (await http.get("/api/limits")).json()
    assert [limit["shown"] for limit in listed["limits"]] == ["100/s, 5 at once"]
    assert (await (await http.get("/api/queues/mail")).json())["limit"]["concurrency"] == 5
    cleared = await post(http, "/api/queues/mail/limit/clear")
    assert (await cleared.json()) == {"cleared": "mail"}
    assert await pace.Limits(redis).get("mail") is None
    assert (await (await http.get("/api/queues/mail")).json())["limit"] is None


async def test_bad_limits_get_a_400_or_404_and_change_nothing(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("mail", "SendMail")
    cases: list[tuple[str, Any, int, str]] = [
        ("mail", {}, 400, "give a rate"),
        ("mail", {"rate": "fast"}, 400, "a rate is N/s, N/m or N/h"),
        ("mail", {"concurrency": 0}, 400, "concurrency must be a whole number >= 1"),
        ("mail", {"concurrency": "many"}, 400, "concurrency must be a whole number >= 1"),
        ("mail", {"concurrency": True}, 400, "concurrency must be a whole number >= 1"),
        ("mail", {"rate": "1/s", "burst": 3}, 400, "unknown field(s) 'burst'"),
        ("nowhere", {"rate": "1/s"}, 404, "no queue named 'nowhere'"),
    ]
    for queue, body, status, reason in cases:
        response = await post(http, f"/api/queues/{queue}/limit", body)
        assert response.status == status, body
        assert reason in (await response.json())["error"], body
    cleared = await post(http, "/api/queues/mail/limit/clear")
    assert (cleared.status, (await cleared.json())["error"]) == (404, "queue 'mail' has no limit")
    assert await redis.keys("resque:pace:limit*") == []


async def test_the_queue_page_shows_and_sets_a_limit_with_its_forms(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("mail", "SendMail")
    page = await (await http.get("/queues/mail")).text()
    assert "No fleet-wide limit." in page
    assert 'action="/api/queues/mail/limit"' in page
    refused = await http.post("/api/queues/mail/limit", data={"rate": "5/s"})  # no CSRF token
    assert refused.status == 403
    assert await pace.Limits(redis).get("mail") is None
    done = await form(http, "/api/queues/mail/limit", rate="5/s", concurrency="",
                      next="/queues/mail")  # fmt: skip
    assert (done.status, done.headers["Location"]) == (303, "/queues/mail")
    page = await (await http.get("/queues/mail")).text()
    assert "Queue mail limited to 5/s." in page
    assert "<strong>5/s</strong>" in page
    assert 'action="/api/queues/mail/limit/clear"' in page
    await form(http, "/api/queues/mail/limit/clear", next="/queues/mail")
    assert await pace.Limits(redis).get("mail") is None


async def test_metrics_export_each_limit_jobs_admitted_and_time_waited(
    http: Client, client: pace.Client, redis: Redis, start: Starter
) -> None:
    await pace.Limits(redis).set("api", rate="3/m", concurrency=2)
    await client.enqueue_many("api", "Call", [[i] for i in range(5)])
    release = asyncio.Event()

    async def handler(job: pace.Job) -> None:
        await release.wait()

    worker = await start(["api"], handler)

    async def held_back() -> bool:  # published each second: 2 run, the third waits
        raw = await redis.get(f"resque:pace:worker:{worker.id}:metrics")
        return bool(raw and json.loads(raw)["limit_wait_seconds"].get("api"))

    await wait_for(held_back, timeout=5)
    text = await (await http.get("/metrics")).text()
    assert 'pace_queue_limit_rate{queue="api"} 0.05' in text
    assert 'pace_queue_limit_concurrency{queue="api"} 2.0' in text
    assert 'pace_queue_limit_admitted_total{queue="api"} 2.0' in text
    name = 'pace_queue_limit_wait_seconds_total{queue="api"}'
    (waited,) = [line for line in text.splitlines() if line.startswith(name)]
    assert float(waited.split()[-1]) > 0
    release.set()
