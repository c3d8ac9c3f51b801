"""The pages and what they read (pace.web.pages, pace.web.reads): overview, queues, workers,
progress, and the escaping of everything shown."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from unittest import mock

from redis.asyncio import Redis

import pace
from pace.progress import RedisStore
from tests.support import Starter, on_both, wait_for
from tests.web_support import (
    XSS,
    Client,
    form,
    hold,
    post,
    ruby_failure,
)


async def test_the_overview_shows_queues_workers_totals_and_pauses(
    http: Client, client: pace.Client, redis: Redis, start: Starter
) -> None:
    await client.enqueue_many("mail", "SendMail", [["a@example.com"], ["b@example.com"]])
    await client.enqueue("high", "Resize", 7)
    await redis.set("resque:stat:processed", 41)
    await redis.set("resque:stat:failed", 2)
    await redis.rpush("resque:failed", ruby_failure())
    worker = await start(["busy"], hold)
    await client.enqueue("busy", "Crunch", "numbers")
    await pace.Pauses(redis).pause_queue("high", seconds=60)
    await wait_for(lambda: redis.exists(f"resque:pace:worker:{worker.id}:jobs"))

    data = await (await http.get("/api/overview")).json()
    assert data["processed"] == 41
    assert data["failed"] == 2
    assert data["failures"] == 1
    assert [(q["name"], q["size"], q["paused"]) for q in data["queues"]] == [
        ("busy", 0, False), ("high", 1, True), ("mail", 2, False),
    ]  # fmt: skip
    assert 55 < data["queues"][1]["paused_until"] - time.time() <= 60
    (shown,) = data["workers"]
    assert shown["id"] == worker.id
    assert shown["pace"] is True
    assert shown["alive"] is True
    assert shown["queues"] == ["busy"]
    assert [(j["queue"], j["class"], j["args"]) for j in shown["jobs"]] == [
        ("busy", "Crunch", ["numbers"])
    ]
    assert data["pauses"] == [{"kind": "queue", "name": "high", "until": mock.ANY}]
    assert data["paused_all"] is False

    response = await http.get("/")
    assert response.status == 200
    page = await response.text()
    for text in ("mail", "high", "busy", "41", "Crunch", "[&#34;numbers&#34;]", "paused"):
        assert text in page, text
    assert worker.id.split(":")[0] in page
    assert (await http.get("/api/queues")).status == 200
    pauses = await (await http.get("/api/pauses")).json()
    assert [p["name"] for p in pauses["pauses"]] == ["high"]


async def test_resque_pause_all_is_shown(http: Client, redis: Redis) -> None:
    await redis.set("resque:pause-all-workers", "true")
    assert (await (await http.get("/api/overview")).json())["paused_all"] is True
    assert "pause-all-workers" in await (await http.get("/")).text()


@on_both
async def test_a_queue_is_paged_oldest_first(http: Client, client: pace.Client) -> None:
    await client.enqueue_many("q", "Job", [[i] for i in range(120)])
    data = await (await http.get("/api/queues/q?start=100&count=50")).json()
    assert data["size"] == 120
    assert [job["index"] for job in data["jobs"]] == list(range(100, 120))
    assert [job["args"] for job in data["jobs"]] == [[i] for i in range(100, 120)]
    assert all(job["class"] == "Job" and len(job["id"]) == 32 for job in data["jobs"])
    first = await (await http.get("/api/queues/q")).json()
    assert len(first["jobs"]) == 50
    page = await (await http.get("/queues/q?start=50&count=25")).text()
    assert "50 to 74 of 120" in page
    assert "start=25&amp;count=25" in page  # previous
    assert "start=75&amp;count=25" in page  # next


async def test_a_queue_whose_name_has_a_hash_tag_is_shown_and_paused(
    http: Client, client: pace.Client
) -> None:
    await client.enqueue("{stages}", "Job", 1)  # a staged group's queue on a cluster
    data = await (await http.get("/api/queues/%7Bstages%7D")).json()
    assert (data["size"], data["jobs"][0]["args"]) == (1, [1])
    assert "{stages}" in await (await http.get("/queues/%7Bstages%7D")).text()
    assert (await post(http, "/api/queues/%7Bstages%7D/pause", {})).status == 200


async def test_a_payload_that_is_not_a_job_is_shown_raw(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("q", "Job")
    await redis.rpush("resque:queue:q", b"{not json")
    jobs = (await (await http.get("/api/queues/q")).json())["jobs"]
    assert jobs[1] == {"index": 1, "class": None, "args": None, "id": None, "payload": None,
                       "raw": "{not json"}  # fmt: skip
    assert "not a job" in await (await http.get("/queues/q")).text()


async def test_bad_queue_requests_get_a_4xx_with_a_reason(http: Client) -> None:
    for path, status, reason in [
        ("/api/queues/nowhere", 404, "no queue named 'nowhere'"),
        ("/api/queues/a:b", 400, "bad queue name"),
        ("/api/queues/q?start=-1", 400, "start must be between"),
        ("/api/queues/q?count=0", 400, "count must be between"),
        ("/api/queues/q?count=501", 400, "count must be between"),
        ("/api/queues/q?start=x", 400, "start must be a whole number"),
    ]:
        response = await http.get(path)
        assert response.status == status, path
        body = await response.json()
        assert reason in body["error"], (path, body)
        assert body["status"] == status
    page = await http.get("/queues/nowhere")
    assert page.status == 404
    assert "text/html" in page.headers["Content-Type"]
    assert "no queue named &#39;nowhere&#39;" in await page.text()
    assert (await http.get("/no/such/page")).status == 404
    missing = await http.get("/api/nothing")
    assert missing.status == 404
    assert (await missing.json())["error"] == "Not Found"
    wrong = await http.get("/api/failures/retry-all")
    assert wrong.status == 405
    assert (await wrong.json())["status"] == 405


async def test_the_workers_page_shows_what_each_worker_runs(
    http: Client, client: pace.Client, redis: Redis, start: Starter
) -> None:
    worker = await start(["w1", "w2"], hold, concurrency=3)
    await client.enqueue_many("w1", "Long", [[1], [2]])
    await wait_for(lambda: redis.exists(f"resque:pace:worker:{worker.id}:jobs"))
    await wait_for(
        lambda: _job_count(http, worker.id, 2), timeout=3
    )  # the snapshot is refreshed each second
    (shown,) = (await (await http.get("/api/workers")).json())["workers"]
    assert shown["queues"] == ["w1", "w2"]
    assert shown["started"]
    assert shown["heartbeat"]
    assert shown["paused"] is False
    assert sorted(job["args"][0] for job in shown["jobs"]) == [1, 2]
    page = await (await http.get("/workers")).text()
    assert worker.id in page
    assert "Long" in page
    assert "Working on" in page


async def _job_count(http: Client, worker_id: str, count: int) -> bool:
    workers = (await (await http.get("/api/workers")).json())["workers"]
    return any(w["id"] == worker_id and len(w["jobs"]) == count for w in workers)


async def test_a_ruby_worker_is_shown_from_resques_own_keys(http: Client, redis: Redis) -> None:
    worker_id = "rubyhost:99:critical,*"
    await redis.sadd("resque:workers", worker_id)
    await redis.set(f"resque:worker:{worker_id}:started", "2026-11-23 00:24:57 +0000")
    working = {"queue": "critical", "run_at": "2026-11-23T00:25:00Z",
               "payload": {"class": "Archive", "args": [XSS]}}  # fmt: skip
    await redis.set(f"resque:worker:{worker_id}", json.dumps(working))
    (shown,) = (await (await http.get("/api/workers")).json())["workers"]
    assert shown["pace"] is False
    assert shown["alive"] is None
    assert shown["queues"] == ["critical", "*"]
    assert shown["jobs"] == [{"queue": "critical", "run_at": "2026-11-23T00:25:00Z",
                              "class": "Archive", "args": [XSS],
                              "payload": working["payload"]}]  # fmt: skip
    for path in ("/", "/workers"):
        page = await (await http.get(path)).text()
        assert "Archive" in page
        assert "<script>alert" not in page


# -- escaping ---------------------------------------------------------------------------


async def test_everything_shown_is_html_escaped(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("q", XSS, XSS, {"<b>": "</td><img src=x onerror=alert(1)>"})
    await client.enqueue("<i>q", "Job")  # a queue name may hold markup
    await client.enqueue_in(60, "q", XSS, XSS)
    await redis.rpush("resque:failed", ruby_failure(XSS, [XSS], queue="q"))
    progress = pace.Progress(("user", 1), total=4, name=XSS, store=RedisStore(redis))
    await progress.tick(force=True)
    pages = ["/", "/queues/q", "/failures", "/workers", "/progress", "/progress/user:1",
             "/queues/%3Ci%3Eq", f"/queues/{XSS}", "/queues", "/scheduled", "/stats",
             "/failures?view=table", "/failures/0"]  # fmt: skip
    for path in pages:
        response = await http.get(path)
        page = await response.text()
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert "<i>q" not in page, path
        assert "/static/pace.js" in page  # the only script of every page
    queue_page = await (await http.get("/queues/q")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in queue_page
    assert "&lt;img src=x onerror=alert(1)&gt;" in queue_page
    assert "&lt;i&gt;q" in await (await http.get("/")).text()
    assert "&lt;script&gt;" in await (await http.get("/failures")).text()
    assert "&lt;script&gt;" in await (await http.get("/progress/user:1")).text()


async def test_pages_forbid_inline_scripts_and_framing(http: Client) -> None:
    response = await http.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for name in ("pace.css", "pace.js"):
        static = await http.get(f"/static/{name}")
        assert static.status == 200
        assert "Content-Security-Policy" in static.headers


# -- progress and live events -----------------------------------------------------------


async def test_progress_of_a_scope(http: Client, redis: Redis) -> None:
    store = RedisStore(redis)
    done = pace.Progress(("user", 3421), total=2, name="import", store=store)
    await done.tick(2)
    await done.complete()
    running = pace.Progress(("user", 3421), total=10, name="export", store=store)
    await running.tick(4, force=True)
    data = await (await http.get("/api/progress/user:3421")).json()
    assert data["scope"] == "user:3421"
    assert (data["total"], data["running"]) == (2, 1)
    first, second = data["jobs"]
    assert (first["name"], first["status"], first["percentage"], first["count"]) == (
        "export", "running", 40.0, 4,
    )  # fmt: skip
    assert first["eta_seconds"] is not None
    assert (second["name"], second["status"], second["percentage"]) == ("import", "completed", 100)
    assert (await (await http.get("/api/progress")).json()) == {"scopes": ["user:3421"]}
    page = await (await http.get("/progress/user:3421")).text()
    assert 'value="40.0"' in page
    assert "ETA" in page
    assert "done in" in page
    listing = await (await http.get("/progress")).text()
    assert 'href="/progress/user%3A3421"' in listing
    # the overview follows the scopes it finds
    assert 'data-scope="user:3421"' in await (await http.get("/")).text()
    jump = await http.get("/progress?scope=user:3421", allow_redirects=False)
    assert (jump.status, jump.headers["Location"]) == (303, "/progress/user:3421")


@on_both
async def test_scope_discovery_skips_hashes_that_are_not_progress(
    http: Client, redis: Redis
) -> None:
    await redis.hset("resque:pace:deliveries", "abc", 1)
    await redis.hset("resque:pace:batch:7", "x", '{"other": 1}')
    await redis.hset("resque:pace:paused", "queue:q", 0)
    await pace.Progress("imports", total=3, store=RedisStore(redis)).tick(force=True)
    assert (await (await http.get("/api/progress")).json()) == {"scopes": ["imports"]}


async def test_bad_scopes_get_a_400(http: Client) -> None:
    for path in ["/api/progress/worker:1", "/api/progress/a::b", "/progress/schedule",
                 "/api/events?scope=a%20b", "/api/events", "/progress?scope=x::"]:  # fmt: skip
        response = await http.get(path)
        assert response.status == 400, path
    body = await (await http.get("/api/progress/workers")).json()
    assert "pace uses that name" in body["error"]
    many = "&".join(f"scope=s{i}" for i in range(21))
    assert (await http.get(f"/api/events?{many}")).status == 400
    assert (await http.get("/api/events?scope=s&limit=0")).status == 400


async def test_the_queues_tab_shows_latency_and_clears_a_queue(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    now = time.time()
    await redis.sadd("resque:queues", "fresh", "rails", "plain")
    older, newer = ({"class": "A", "args": [], "enqueued_at": at} for at in (now - 30, now))
    await redis.rpush("resque:queue:fresh", json.dumps(older), json.dumps(newer))
    wrapper = {
        "job_class": "Mailer",
        "enqueued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 120)),
    }
    await redis.rpush("resque:queue:rails", json.dumps({"class": "JobWrapper", "args": [wrapper]}))
    await client.enqueue("plain", "Job")  # Resque's payloads say nothing of their enqueue time
    latency = {
        q["name"]: q["latency"] for q in (await (await http.get("/api/queues")).json())["queues"]
    }
    assert 29 < latency["fresh"] < 40
    assert 119 < latency["rails"] < 130
    assert latency["plain"] is None
    page = await (await http.get("/queues")).text()
    assert 'action="/api/queues/fresh/clear"' in page
    assert "Delete all 2 jobs waiting in queue fresh?" in page
    assert "2 min" in page
    metrics = await (await http.get("/metrics")).text()
    assert 'pace_queue_latency_seconds{queue="fresh"} 3' in metrics
    assert 'pace_queue_latency_seconds{queue="plain"}' not in metrics
    cleared = await form(http, "/api/queues/fresh/clear", next="/queues")
    assert cleared.status == 303
    assert await redis.llen("resque:queue:fresh") == 0
    assert await redis.sismember("resque:queues", "fresh")
    assert "Queue fresh cleared: 2 jobs deleted." in await (await http.get("/queues")).text()
    assert (await post(http, "/api/queues/nowhere/clear")).status == 404


async def test_abandoned_progress_is_stale_and_a_ruby_worker_without_heartbeat_unknown(
    http: Client, redis: Redis
) -> None:
    started = time.time() - 900
    entry = {"count": 5, "total": 10, "started_at": iso(started), "updated_at": iso(started + 300),
             "name": "import"}  # fmt: skip
    await redis.hset("resque:pace:user:7", "a" * 32, json.dumps(entry))
    (job,) = (await (await http.get("/api/progress/user:7")).json())["jobs"]
    assert (job["status"], job["eta_seconds"]) == ("stale", None)
    assert 590 < job["silent_seconds"] < 700
    assert "stale: no progress for 10 min" in await (await http.get("/progress/user:7")).text()
    beats = {
        "ruby:1:q": None,
        "ruby:2:q": iso(time.time() - 30),
        "ruby:3:q": iso(time.time() - 900),
    }
    for worker_id, beat in beats.items():
        await redis.sadd("resque:workers", worker_id)
        if beat:
            await redis.hset("resque:workers:heartbeat", worker_id, beat)
    states = {
        w["id"]: w["state"] for w in (await (await http.get("/api/workers")).json())["workers"]
    }
    assert states == {"ruby:1:q": "unknown", "ruby:2:q": "running", "ruby:3:q": "silent"}
    page = await (await http.get("/workers")).text()
    assert page.count(">unknown</span>") == 1
    assert page.count(">running</span>") == 1


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


async def test_one_time_format_isolated_user_text_and_no_none(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    record = json.loads(ruby_failure("Charge", ["\u202egnp.exe"], "billing"))
    record["worker"] = None
    await redis.rpush("resque:failed", json.dumps(record))
    await redis.sadd("resque:workers", "rubyhost:9:q")
    await redis.set("resque:worker:rubyhost:9:q:started", "2026-11-23 00:24:57 +0000")
    await client.enqueue("mail", "SendMail")
    await pace.Pauses(redis).pause_queue("mail", seconds=90)
    failures = await (await http.get("/failures")).text()
    assert "None" not in failures
    assert '<time datetime="2026-11-22T10:53:41Z"' in failures  # Resque's 2026/11/22 ... UTC
    assert "<bdi" in failures
    assert re.search(
        r"<bdi[^>]*>[^<]*\u202egnp\.exe", failures
    )  # isolated: cannot reverse the page
    workers = await (await http.get("/workers")).text()
    assert '<time datetime="2026-11-23T00:24:57Z"' in workers  # Ruby's Time#to_s
    assert "ago</span>" in workers
    overview = await (await http.get("/")).text()
    assert 'class="countdown" data-until="' in overview  # pace.js counts it down
    icon = await http.get("/favicon.ico")
    assert (icon.status, icon.content_type) == (200, "image/svg+xml")
