"""Delayed jobs and pending retries (pace.web.scheduled): listed, run now, deleted."""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

import pace
from tests.support import Starter, on_both, wait_for
from tests.web_support import XSS, Client, form, post


async def test_a_job_enqueued_for_later_is_listed(http: Client, client: pace.Client) -> None:
    job_id = await client.enqueue_in(3600, "mail", "SendMail", "bob@example.com")
    await client.enqueue_in(60, "mail", "Remind", XSS)
    data = await (await http.get("/api/scheduled")).json()
    assert data["total"] == 2
    soon, later = data["jobs"]
    assert (soon["class"], soon["args"], soon["queue"], soon["kind"]) == (
        "Remind", [XSS], "mail", "scheduled",
    )  # fmt: skip
    assert (later["class"], later["args"], later["job_id"]) == (
        "SendMail", ["bob@example.com"], job_id,
    )  # fmt: skip
    assert 3590 < later["due"] - time.time() <= 3600
    page = await (await http.get("/scheduled")).text()
    assert "SendMail" in page
    assert "&lt;script&gt;" in page
    assert "<script>alert" not in page
    assert f'value="run {later["id"]}"' in page
    assert (await http.get("/api/scheduled?count=0")).status == 400


async def test_a_pending_retry_is_listed_as_one(
    http: Client, client: pace.Client, start: Starter, redis: Redis
) -> None:
    async def flaky(job: pace.Job) -> None:
        raise pace.Retry(delay=600)

    await start(["work"], flaky)
    await client.enqueue("work", "Flaky", 1)
    await wait_for(lambda: redis.zcard("resque:pace:schedule"))
    (job,) = (await (await http.get("/api/scheduled")).json())["jobs"]
    assert (job["kind"], job["attempt"], job["class"], job["queue"]) == (
        "retry",
        2,
        "Flaky",
        "work",
    )


@on_both
async def test_run_now_and_delete_act_on_that_job_only(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue_in(3600, "mail", "A")
    await client.enqueue_in(3600, "mail", "B")
    await client.enqueue_in(3600, "other", "C")
    a, b, c = (await (await http.get("/api/scheduled")).json())["jobs"]
    run = await post(http, f"/api/scheduled/{a['id']}/run")
    assert (await run.json()) == {"run": a["id"]}
    (queued,) = await redis.lrange("resque:queue:mail", 0, -1)
    assert json.loads(queued)["class"] == "A"
    again = await post(http, f"/api/scheduled/{a['id']}/run")
    assert again.status == 404
    assert "ran or was deleted meanwhile" in (await again.json())["error"]
    page = await form(http, "/api/scheduled/bulk", one=f"delete {b['id']}", next="/scheduled")
    assert (page.status, page.headers["Location"]) == (303, "/scheduled")
    assert "1 scheduled jobs deleted." in await (await http.get("/scheduled")).text()
    assert await redis.zcard("resque:pace:schedule") == 1
    bulk = await post(http, "/api/scheduled/bulk", {"action": "run", "ids": [c["id"], b["id"]]})
    assert (await bulk.json()) == {"run": 1, "skipped": [b["id"]]}
    assert await redis.llen("resque:queue:other") == 1
    assert await redis.sismember("resque:queues", "other")
    for path, body, reason in [
        ("/api/scheduled/nope/run", None, "a scheduled job's id"),
        (f"/api/scheduled/{'9' * 20}-{'a' * 16}/delete", None, "a scheduled job's id"),
        ("/api/scheduled/bulk", {"action": "zap", "ids": [c["id"]]}, "action is"),
        ("/api/scheduled/bulk", {"action": "run", "ids": []}, "ids is a list"),
    ]:
        response = await post(http, path, body)
        assert response.status == 400, path
        assert reason in (await response.json())["error"]
