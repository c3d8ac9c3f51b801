"""The web app (pace.web) through aiohttp's test client against a real Redis: every page, API
route and action, the escaping, the token, CSRF, bad input, /metrics, live progress (SSE), remote
pause of a running worker, and ``pace-worker web``."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

import pace
from pace.progress import RedisStore
from pace.web import create_app, reads
from pace.web.security import is_remote
from tests.support import Starter, wait_for

XSS = "<script>alert(1)</script>"
Factory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def make_client(redis: Redis) -> AsyncIterator[Factory]:
    """Start the app (on the test's Redis unless told otherwise) behind a test client."""
    clients: list[Client] = []

    async def make(app: web.Application | None = None, **settings: Any) -> Client:
        if app is None:
            app = create_app(redis=redis, **settings)
        client = TestClient(
            TestServer(app, host="127.0.0.1"), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def http(make_client: Factory) -> Client:
    """The app with default settings (no token, loopback)."""
    return await make_client()


async def csrf(client: Client) -> str:
    """This session's CSRF token (and its cookie in the client's jar)."""
    response = await client.get("/api/csrf")
    assert response.status == 200
    return str((await response.json())["token"])


async def post(client: Client, path: str, body: Any = None, **kwargs: Any) -> Any:
    """A POST from the page's JS: the CSRF header echoing the cookie, an optional JSON body."""
    headers = {"X-CSRF-Token": await csrf(client), **kwargs.pop("headers", {})}
    if body is not None:
        kwargs["json"] = body
    return await client.post(path, headers=headers, **kwargs)


async def form(client: Client, path: str, **fields: str) -> Any:
    """A POST from one of the page's HTML forms (the CSRF token in a field)."""
    data = {"csrf": await csrf(client), **fields}
    return await client.post(path, data=data, allow_redirects=False)


def ruby_failure(class_name: str = "Divide", args: Any = (1, 0), queue: str = "q") -> bytes:
    record = {
        "failed_at": "2026/11/22 10:53:41 UTC",
        "payload": {"class": class_name, "args": list(args)},
        "exception": "ZeroDivisionError",
        "error": "divided by 0",
        "backtrace": ["app/jobs/divide.rb:3:in `perform'"],
        "worker": "host:42:q",
        "queue": queue,
    }
    return json.dumps(record, separators=(",", ":")).encode()


async def hold(job: pace.Job) -> None:
    """A handler that runs until cancelled (so the worker shows it as in progress)."""
    await asyncio.sleep(30)


# -- pages and reads --------------------------------------------------------------------


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
    await redis.rpush("resque:failed", ruby_failure(XSS, [XSS], queue="q"))
    progress = pace.Progress(("user", 1), total=4, name=XSS, store=RedisStore(redis))
    await progress.tick(force=True)
    pages = ["/", "/queues/q", "/failures", "/workers", "/progress", "/progress/user:1",
             "/queues/%3Ci%3Eq", f"/queues/{XSS}"]  # fmt: skip
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


# -- failures ---------------------------------------------------------------------------


async def test_failures_are_listed_and_paged(http: Client, redis: Redis) -> None:
    await redis.rpush("resque:failed", *(ruby_failure(args=[i]) for i in range(30)))
    data = await (await http.get("/api/failures?start=25&count=10")).json()
    assert data["total"] == 30
    assert [f["index"] for f in data["failures"]] == [25, 26, 27, 28, 29]
    first = data["failures"][0]
    assert first["class"] == "Divide"
    assert first["args"] == [25]
    assert first["exception"] == "ZeroDivisionError"
    assert first["backtrace"] == ["app/jobs/divide.rb:3:in `perform'"]
    assert first["retried_at"] is None
    page = await (await http.get("/failures?start=20&count=5")).text()
    assert "20 to 24 of 30" in page
    assert "ZeroDivisionError" in page
    assert (await http.get("/api/failures?count=x")).status == 400


async def test_retry_remove_retry_all_and_clear(http: Client, redis: Redis) -> None:
    await redis.rpush("resque:failed", ruby_failure(args=[0]), ruby_failure(args=[1]))
    retried = await post(http, "/api/failures/1/retry")
    assert retried.status == 200
    assert (await retried.json())["retried"]["index"] == 1
    assert await redis.lrange("resque:queue:q", 0, -1) == [b'{"class":"Divide","args":[1]}']
    record = json.loads(await redis.lindex("resque:failed", 1))
    assert record["retried_at"]

    removed = await post(http, "/api/failures/0/remove")
    assert (await removed.json())["removed"]["args"] == [0]
    assert await redis.llen("resque:failed") == 1

    await redis.rpush("resque:failed", b"not a record", ruby_failure(args=[2]))
    summary = await (await post(http, "/api/failures/retry-all")).json()
    assert summary["requeued"] == 2
    assert list(summary["skipped"]) == ["1"]
    assert await redis.llen("resque:queue:q") == 3

    cleared = await post(http, "/api/failures/clear")
    assert (await cleared.json()) == {"removed": 3}
    assert await redis.llen("resque:failed") == 0


async def test_bad_failure_actions_get_a_4xx(http: Client, redis: Redis) -> None:
    await redis.rpush("resque:failed", b"not a record")
    for path, status, reason in [
        ("/api/failures/x/retry", 400, "a failure index is a whole number"),
        ("/api/failures/7/retry", 404, "no failure at index 7"),
        ("/api/failures/7/remove", 404, "no failure at index 7"),
        ("/api/failures/0/retry", 409, "cannot be requeued"),
    ]:
        response = await post(http, path)
        assert response.status == status, path
        assert reason in (await response.json())["error"]


async def test_failure_buttons_post_forms_and_come_back_with_a_notice(
    http: Client, redis: Redis
) -> None:
    await redis.rpush("resque:failed", ruby_failure(args=[5]))
    page = await (await http.get("/failures")).text()
    assert 'action="/api/failures/0/retry"' in page
    assert "data-confirm=" in page
    response = await form(http, "/api/failures/0/retry", next="/failures")
    assert response.status == 303
    assert response.headers["Location"] == "/failures"
    assert await redis.llen("resque:queue:q") == 1
    after = await (await http.get("/failures")).text()
    assert "Failure 0 (Divide) requeued on q." in after
    assert "retried" in after
    again = await (await http.get("/failures")).text()
    assert "requeued on q." not in again  # a notice shows once
    bad = await form(http, "/api/failures/9/remove", next="/failures")
    assert bad.status == 404
    assert "text/html" in bad.headers["Content-Type"]
    assert "no failure at index 9" in await bad.text()


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


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    """Read ``count`` progress events from a server-sent event stream (bounded in time)."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        event = None
        while len(events) < count:
            line = (await response.content.readline()).decode()
            assert line, "the stream ended early"
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: ") and event == "progress":
                events.append(json.loads(line[6:]))
    return events


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


# -- remote control ---------------------------------------------------------------------


async def test_pause_and_resume_a_queue_through_the_api(
    http: Client, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("mail", "SendMail")
    response = await post(http, "/api/queues/mail/pause", {"seconds": 30})
    assert response.status == 200
    paused = (await response.json())["paused"]
    assert (paused["kind"], paused["name"]) == ("queue", "mail")
    assert 25 < paused["until"] - time.time() <= 30
    (pause,) = await pace.Pauses(redis).list()
    assert pause.name == "mail"
    forever = await (await post(http, "/api/queues/mail/pause", {"seconds": None})).json()
    assert forever["paused"]["until"] is None
    assert (await post(http, "/api/queues/mail/pause")).status == 200  # no body: until resumed
    resumed = await post(http, "/api/queues/mail/resume")
    assert (await resumed.json()) == {"resumed": "mail"}
    assert await pace.Pauses(redis).list() == []


async def test_bad_pause_requests_get_a_400_or_404(http: Client, client: pace.Client) -> None:
    await client.enqueue("mail", "SendMail")
    cases: list[tuple[Any, int, str]] = [
        ("not json", 400, "the body is not JSON"),
        ("[1, 2]", 400, "the body must be a JSON object"),
        ('{"seconds": -1}', 400, "seconds must be more than 0"),
        ('{"seconds": "soon"}', 400, "seconds must be a number"),
        ('{"seconds": true}', 400, "seconds must be a number"),
        ('{"seconds": NaN}', 400, "the body is not JSON"),
        ('{"second": 3}', 400, "unknown field(s) 'second'"),
    ]
    for body, status, reason in cases:
        response = await post(http, "/api/queues/mail/pause", data=body,
                              headers={"Content-Type": "application/json"})  # fmt: skip
        assert response.status == status, body
        assert reason in (await response.json())["error"], body
    for path in ["/api/queues/nowhere/pause", "/api/queues/nowhere/resume",
                 "/api/workers/nobody/pause", "/api/workers/nobody/resume"]:  # fmt: skip
        response = await post(http, path)
        assert response.status == 404, path


async def test_a_paused_queue_stops_a_running_worker_within_a_second_and_resumes(
    http: Client, client: pace.Client, start: Starter
) -> None:
    starts: dict[str, list[float]] = {"a": [], "b": []}

    async def handler(job: pace.Job) -> None:
        starts[job.queue].append(time.monotonic())
        await asyncio.sleep(0.01)

    async def feed() -> None:
        while True:
            await client.enqueue_many("a", "Job", [[i] for i in range(20)])
            await client.enqueue_many("b", "Job", [[i] for i in range(20)])
            await asyncio.sleep(0.1)

    await start(["a", "b"], handler, concurrency=4)
    feeding = asyncio.create_task(feed())
    try:
        await wait_for(lambda: len(starts["a"]) > 20)
        response = await post(http, "/api/queues/a/pause", {"seconds": 2})
        paused_at = time.monotonic()
        assert response.status == 200
        await asyncio.sleep(1.5)
        late = [t for t in starts["a"] if t > paused_at + 1.0]
        assert late == [], "a job of the paused queue started more than 1 s after the pause"
        count_b = len(starts["b"])
        await wait_for(lambda: len(starts["b"]) > count_b, timeout=2)  # b kept going
        await wait_for(lambda: any(t > paused_at + 2.0 for t in starts["a"]), timeout=3)
        assert (await (await http.get("/api/pauses")).json())["pauses"] == []
    finally:
        feeding.cancel()


async def test_pause_and_resume_one_worker_through_the_api(
    http: Client, client: pace.Client, start: Starter
) -> None:
    ran: list[int] = []

    async def handler(job: pace.Job) -> None:
        ran.append(job.args[0])

    worker = await start(["q"], handler)
    path = f"/api/workers/{aiohttp.helpers.quote(worker.id, safe='')}"
    response = await post(http, f"{path}/pause")
    assert (await response.json())["paused"] == {"kind": "worker", "name": worker.id, "until": None}
    await wait_for(lambda: worker.paused, timeout=2)
    await client.enqueue("q", "Job", 1)
    await asyncio.sleep(0.3)
    assert ran == []
    shown = (await (await http.get("/api/workers")).json())["workers"][0]
    assert shown["paused"] is True
    assert "Resume" in await (await http.get("/workers")).text()
    assert (await post(http, f"{path}/resume")).status == 200
    await wait_for(lambda: ran == [1], timeout=2)


async def test_pause_buttons_post_forms(http: Client, client: pace.Client, redis: Redis) -> None:
    await client.enqueue("mail", "SendMail")
    page = await (await http.get("/")).text()
    assert 'action="/api/queues/mail/pause"' in page
    assert 'name="seconds"' in page
    response = await form(http, "/api/queues/mail/pause", seconds="45", next="/")
    assert (response.status, response.headers["Location"]) == (303, "/")
    (pause,) = await pace.Pauses(redis).list()
    assert pause.until is not None
    assert 40 < pause.until - time.time() <= 45
    page = await (await http.get("/")).text()
    assert "Queue mail paused for 45 s." in page
    assert 'action="/api/queues/mail/resume"' in page
    response = await form(http, "/api/queues/mail/resume", next="//evil.example/")
    assert response.headers["Location"] == "/"  # only this app's pages
    assert await pace.Pauses(redis).list() == []
    empty = await form(http, "/api/queues/mail/pause", seconds="", next="/queues/mail")
    assert empty.headers["Location"] == "/queues/mail"
    assert (await pace.Pauses(redis).list())[0].until is None


# -- security ---------------------------------------------------------------------------


async def test_a_token_is_needed_for_every_request(make_client: Factory, redis: Redis) -> None:
    http = await make_client(token="s3cret")
    for path in ["/", "/api/overview", "/metrics", "/static/pace.css", "/api/events?scope=s"]:
        response = await http.get(path)
        assert response.status == 401, path
    assert "needs its token" in (await (await http.get("/api/overview")).json())["error"]
    assert "text/html" in (await http.get("/")).headers["Content-Type"]
    wrong = await http.get("/api/overview", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert (await http.get("/?token=nope")).status == 401
    bearer = {"Authorization": "Bearer s3cret"}
    assert (await http.get("/api/overview", headers=bearer)).status == 200
    assert (await http.get("/metrics", headers=bearer)).status == 200
    # a bearer request cannot be forged by a browser: it needs no CSRF token
    await redis.sadd("resque:queues", "q")
    assert (await http.post("/api/queues/q/pause", headers=bearer)).status == 200


async def test_a_token_in_the_url_once_sets_a_cookie_for_the_browser(
    make_client: Factory,
) -> None:
    http = await make_client(token="s3cret")
    response = await http.get("/failures?token=s3cret&start=0", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/failures?start=0"
    cookie = response.headers["Set-Cookie"]
    assert "pace_token=s3cret" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert (await http.get("/")).status == 200  # the cookie now
    assert (await http.get("/static/pace.js")).status == 200
    # ... but a POST still needs the CSRF token: the cookie is ambient
    assert (await http.post("/api/failures/clear")).status == 403
    assert (await post(http, "/api/failures/clear")).status == 200


async def test_posts_need_the_csrf_token_and_the_same_origin(http: Client, redis: Redis) -> None:
    await redis.sadd("resque:queues", "q")
    bare = await http.post("/api/queues/q/pause")
    assert bare.status == 403
    assert "CSRF token" in (await bare.json())["error"]
    token = await csrf(http)
    wrong = await http.post("/api/queues/q/pause", headers={"X-CSRF-Token": token + "x"})
    assert wrong.status == 403
    evil = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
    response = await http.post("/api/queues/q/pause", headers=evil)
    assert response.status == 403
    assert "cross-origin" in (await response.json())["error"]
    cross = {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}
    assert (await http.post("/api/queues/q/pause", headers=cross)).status == 403
    no_field = await http.post("/api/queues/q/pause", data={"next": "/"}, allow_redirects=False)
    assert no_field.status == 403
    assert "text/html" in no_field.headers["Content-Type"]
    assert await pace.Pauses(redis).list() == []
    same = {"X-CSRF-Token": token, "Origin": str(http.make_url("")).rstrip("/")}
    assert (await http.post("/api/queues/q/pause", headers=same)).status == 200


async def test_the_csrf_cookie_is_set_with_the_first_page(make_client: Factory) -> None:
    http = await make_client()
    response = await http.get("/")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("pace_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert f'<meta name="pace-csrf" content="{value}">' in await response.text()
    assert "Set-Cookie" not in (await http.get("/")).headers  # the same session keeps it


async def test_a_remote_app_without_a_token_refuses_every_post(
    make_client: Factory, redis: Redis
) -> None:
    await redis.sadd("resque:queues", "q")
    http = await make_client(remote=True)
    assert (await http.get("/api/overview")).status == 200  # reading is allowed
    response = await post(http, "/api/queues/q/pause")
    assert response.status == 403
    assert "reachable from other machines and has no token" in (await response.json())["error"]
    with_token = await make_client(remote=True, token="t0ken")
    allowed = await with_token.post(
        "/api/queues/q/pause", headers={"Authorization": "Bearer t0ken"}
    )
    assert allowed.status == 200


@pytest.mark.parametrize(
    ("sockname", "remote"),
    [
        (("127.0.0.1", 8080), False),
        (("127.3.2.1", 8080), False),
        (("::1", 8080, 0, 0), False),
        (("::ffff:127.0.0.1", 8080, 0, 0), False),
        (("10.1.2.3", 8080), True),
        (("192.168.1.9", 8080), True),
        (("::ffff:10.1.2.3", 8080, 0, 0), True),
        (("fe80::1%eth0", 8080, 0, 2), True),
        ("/run/pace.sock", False),
    ],
)
def test_a_connection_is_remote_by_the_address_it_arrived_on(sockname: Any, remote: bool) -> None:
    app = create_app("redis://127.0.0.1:1")
    transport = mock.Mock()
    transport.get_extra_info.return_value = sockname
    request = make_mocked_request("POST", "/api/failures/clear", app=app, transport=transport)
    assert is_remote(request) is remote


def test_bad_settings_are_refused() -> None:
    with pytest.raises(pace.ConfigError, match="token"):
        create_app(token="two words")
    with pytest.raises(pace.ConfigError, match="namespace"):
        create_app(namespace="")


# -- metrics, API description, mounting -------------------------------------------------


async def test_metrics_in_prometheus_text_format(
    http: Client, client: pace.Client, redis: Redis, start: Starter
) -> None:
    async def handler(job: pace.Job) -> None:
        if job.args[0] == "fail":
            raise ValueError("no")
        await asyncio.sleep(0.02)

    worker = await start(["work"], handler, concurrency=5, jobs_per_second=200)
    await client.enqueue_many("work", "Job", [[i] for i in range(10)] + [["fail"]])
    await client.enqueue_many("later", "Job", [[1], [2], [3]])
    await pace.Pauses(redis).pause_queue("later")

    async def all_done() -> bool:
        return await redis.get("resque:stat:processed") == b"11"

    await wait_for(all_done)

    async def published() -> bool:
        raw = await redis.get(f"resque:pace:worker:{worker.id}:metrics")
        return raw is not None and json.loads(raw)["count"] == 11

    await wait_for(published, timeout=3)
    response = await http.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }
    assert samples[("pace_queue_jobs", (("queue", "later"),))] == 3
    assert samples[("pace_queue_jobs", (("queue", "work"),))] == 0
    assert samples[("pace_queue_paused", (("queue", "later"),))] == 1
    assert ("pace_queue_paused", (("queue", "work"),)) not in samples
    assert samples[("pace_jobs_processed_total", ())] == 11
    assert samples[("pace_jobs_failed_total", ())] == 1
    assert samples[("pace_failures", ())] == 1
    assert samples[("pace_workers", ())] == 1
    assert samples[("pace_jobs_in_flight", ())] == 0
    assert samples[("pace_job_duration_seconds_count", ())] == 11
    assert samples[("pace_job_duration_seconds_bucket", (("le", "+Inf"),))] == 11
    assert samples[("pace_job_duration_seconds_bucket", (("le", "0.005"),))] == 1  # the failure
    assert samples[("pace_job_duration_seconds_bucket", (("le", "0.01"),))] == 1
    assert samples[("pace_job_duration_seconds_bucket", (("le", "10.0"),))] == 11
    assert 0.2 <= samples[("pace_job_duration_seconds_sum", ())] < 2
    assert samples[("pace_rate_limit_wait_seconds_total", ())] >= 0


async def test_metrics_add_up_live_workers_only(http: Client, redis: Redis) -> None:
    def published(in_flight: int, fast: int, slow: int) -> str:
        buckets = [[0.1, fast], [1.0, fast + slow], ["+Inf", fast + slow]]
        return json.dumps({"in_flight": in_flight, "buckets": buckets, "sum": 1.5,
                           "count": fast + slow, "rate_limit_wait_seconds": 0.25})  # fmt: skip

    for name, alive in (("h:1:q", True), ("h:2:q", True), ("h:3:q", False)):
        await redis.sadd("resque:pace:workers", name)
        await redis.set(f"resque:pace:worker:{name}:metrics", published(2, 3, 4))
        if alive:
            await redis.set(f"resque:pace:worker:{name}:alive", 1)
    text = await (await http.get("/metrics")).text()
    assert "pace_jobs_in_flight 4.0" in text
    assert 'pace_job_duration_seconds_bucket{le="0.1"} 6.0' in text
    assert 'pace_job_duration_seconds_bucket{le="1.0"} 14.0' in text
    assert 'pace_job_duration_seconds_bucket{le="+Inf"} 14.0' in text
    assert "pace_job_duration_seconds_sum 3.0" in text
    assert "pace_rate_limit_wait_seconds_total 0.5" in text


async def test_the_openapi_description_lists_the_routes(http: Client) -> None:
    spec = await (await http.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "post" in spec["paths"]["/api/queues/{name}/pause"]
    assert "get" in spec["paths"]["/api/failures"]
    assert "/metrics" in spec["paths"]
    assert "post" in spec["paths"]["/api/batches/{id}/initiate"]
    assert spec["paths"]["/api/events"]["get"]["summary"].startswith("Stream the scopes")


async def test_the_app_mounts_in_another_service_and_opens_its_own_redis(
    make_client: Factory, redis_url: str, client: pace.Client
) -> None:
    await client.enqueue("mail", "SendMail")
    service = web.Application()
    service.add_subapp("/ops/pace/", create_app(redis_url))  # its own Redis client
    http = await make_client(service)
    page = await http.get("/ops/pace/")
    assert page.status == 200
    text = await page.text()
    assert 'href="/ops/pace/queues/mail"' in text
    assert 'src="/ops/pace/static/pace.js"' in text
    assert "Path=/ops/pace/" in page.headers["Set-Cookie"]
    assert (await http.get("/ops/pace/static/pace.css")).status == 200
    data = await (await http.get("/ops/pace/api/queues/mail")).json()
    assert data["size"] == 1
    missing = await http.get("/ops/pace/api/queues/none")
    assert (missing.status, (await missing.json())["status"]) == (404, 404)
    token = (await (await http.get("/ops/pace/api/csrf")).json())["token"]
    response = await http.post(
        "/ops/pace/api/queues/mail/pause",
        data={"csrf": token, "next": "/ops/pace/queues/mail"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/ops/pace/queues/mail"


# -- the CLI ----------------------------------------------------------------------------


async def serve(cli_env: dict[str, str], *args: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start ``pace-worker web --port 0 ARGS``; return the process and its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "web", "--port", "0", *args, env=cli_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
    match = re.search(r"http://\S+/", line)
    assert match, line
    return process, match.group(0)


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _out, err = await asyncio.wait_for(process.communicate(), timeout=10)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_the_cli_serves_the_app(
    cli_env: dict[str, str], client: pace.Client, redis: Redis
) -> None:
    await client.enqueue("mail", "SendMail")
    process, url = await serve(cli_env, "--token", "cli-token")
    try:
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "api/overview") as response:
                assert response.status == 401
            headers = {"Authorization": "Bearer cli-token"}
            async with session.get(url + "api/overview", headers=headers) as response:
                assert [q["name"] for q in (await response.json())["queues"]] == ["mail"]
            async with session.post(url + "api/queues/mail/pause", headers=headers) as response:
                assert response.status == 200
        assert [p.name for p in await pace.Pauses(redis).list()] == ["mail"]
    finally:
        status, _err = await stop(process)
    assert status == 0


async def test_the_cli_warns_on_a_public_host_without_a_token_and_refuses_posts(
    cli_env: dict[str, str], redis: Redis
) -> None:
    await redis.sadd("resque:queues", "q")
    env = {k: v for k, v in cli_env.items() if k != "PACE_WEB_TOKEN"}
    process, url = await serve(env, "--host", "0.0.0.0")
    try:
        local = url.replace("0.0.0.0", "127.0.0.1")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(local + "api/csrf") as response:
                token = (await response.json())["token"]
            headers = {"X-CSRF-Token": token}
            async with session.post(local + "api/queues/q/pause", headers=headers) as response:
                assert response.status == 403
                assert "no token" in (await response.json())["error"]
    finally:
        status, err = await stop(process)
    assert status == 0
    assert "warning: serving on 0.0.0.0 without a token" in err


async def test_the_cli_web_reports_an_unreachable_redis(cli_env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pace.cli", "web", "--redis-url", "redis://127.0.0.1:1",
        env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 1
    assert "cannot connect to Redis" in err.decode()


# -- workflows: staged groups and multi-step tasks --------------------------------------


async def test_a_staged_group_is_shown_initiated_and_deleted(
    http: Client, client: pace.Client, redis: Redis, start: Starter
) -> None:
    group = await pace.StagedGroup.create("nightly <import>", client=client, queue="stages")
    await group.stage(1).enqueue_many("ImportFile", [["a.csv"], ["b.csv"]])
    await group.stage(2).enqueue("Summary", XSS)
    listed = (await (await http.get("/api/batches")).json())["batches"]
    shown = [(b["id"], b["kind"], b["status"], b["stage"], b["stages"], b["total"]) for b in listed]
    assert shown == [(group.group_id, "staged", "not initiated", 0, 2, 3)]
    assert await redis.llen("resque:queue:stages") == 0
    page = await (await http.get("/batches")).text()
    assert "nightly &lt;import&gt;" in page
    assert "not initiated" in page
    detail = await (await http.get(f"/batches/{group.group_id}")).text()
    assert f'action="/api/batches/{group.group_id}/initiate"' in detail
    assert "&lt;script&gt;" in detail
    assert "<script>alert" not in detail

    async def handler(job: pace.Job) -> None:
        staged = job.staged
        assert staged is not None
        if job.class_name == "Summary":
            await staged.set_status_message("summing up")
            await asyncio.sleep(30)  # holds stage 2 (cancelled when the test ends)
        await staged.set_status_message(f"imported {job.args[0]}")

    await start(["other"], handler)  # the group's queue is not served yet: nothing moves
    response = await form(http, f"/api/batches/{group.group_id}/initiate",
                          next=f"/batches/{group.group_id}")  # fmt: skip
    assert response.status == 303
    assert await redis.llen("resque:queue:stages") == 2
    data = await (await http.get(f"/api/batches/{group.group_id}")).json()
    assert (data["status"], data["stage"]) == ("running", 1)
    first, second = data["stage_list"]
    assert (first["status"], first["by_status"]) == ("running", {"queued": 2})
    assert [job["args"] for job in first["jobs"]] == [["a.csv"], ["b.csv"]]
    assert (second["status"], second["by_status"]) == ("pending", {"pending": 1})
    again = await post(http, f"/api/batches/{group.group_id}/initiate")
    assert again.status == 409
    assert "already initiated" in (await again.json())["error"]
    await start(["stages"], handler)

    async def summing_up() -> bool:
        data = await (await http.get(f"/api/batches/{group.group_id}")).json()
        return bool(data["stage_list"][1]["jobs"][0]["status_message"] == "summing up")

    await wait_for(summing_up)
    data = await (await http.get(f"/api/batches/{group.group_id}")).json()
    assert (data["stage"], data["completed"]) == (2, 2)
    messages = [job["status_message"] for job in data["stage_list"][0]["jobs"]]
    assert messages == ["imported a.csv", "imported b.csv"]
    assert data["stage_list"][0]["by_status"] == {"successful": 2}
    assert data["stage_list"][1]["by_status"] == {"running": 1}
    assert "imported a.csv" in await (await http.get(f"/batches/{group.group_id}")).text()
    deleted = await post(http, f"/api/batches/{group.group_id}/delete")
    assert (await deleted.json()) == {"deleted": group.group_id}
    gone = await http.get(f"/api/batches/{group.group_id}")
    assert gone.status == 404
    assert (await post(http, f"/api/batches/{group.group_id}/delete")).status == 404
    assert (await http.get("/api/batches/a:b")).status == 400


async def test_a_multi_step_task_is_shown_with_its_steps(http: Client, client: pace.Client) -> None:
    task = await pace.MultiStepTask.create("reindex", client=client)
    await task.add_jobs("Reindex", [[1], [2], [3]])
    await task.add_finalization_job("Report")
    (shown,) = (await (await http.get("/api/batches")).json())["batches"]
    assert (shown["kind"], shown["name"], shown["status"], shown["total"]) == (
        "multistep", "reindex", "running", 4,
    )  # fmt: skip
    page = await (await http.get(f"/batches/{task.task_id}")).text()
    assert "multi-step task" in page
    assert "Finalization, step 1" in page
    assert "/initiate" not in page
    refused = await post(http, f"/api/batches/{task.task_id}/initiate")
    assert refused.status == 409
    assert "only a staged group is initiated" in (await refused.json())["error"]
