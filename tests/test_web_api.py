"""The JSON API (pace.web.api): remote control of queues and workers, the OpenAPI description."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shlex
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from redis.asyncio import Redis

import pace
from tests.support import Starter, wait_for
from tests.web_support import Client, Factory, csrf, form, post

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


async def test_the_openapi_description_lists_the_routes(http: Client) -> None:
    spec = await (await http.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "post" in spec["paths"]["/api/queues/{name}/pause"]
    assert "get" in spec["paths"]["/api/failures"]
    assert "/metrics" in spec["paths"]
    assert "post" in spec["paths"]["/api/batches/{id}/initiate"]
    assert spec["paths"]["/api/events"]["get"]["summary"].startswith("Stream the scopes")


async def test_the_openapi_description_types_every_route(http: Client) -> None:
    spec = await (await http.get("/api/openapi.json")).json()
    routes = {
        (info.get("formatter") or info.get("path"), route.method.lower())
        for route in http.app.router.routes()
        if (route.name or "").startswith(("api.", "metrics")) and route.method != "HEAD"
        for info in [route.resource.get_info() if route.resource else {}]
    }
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert described == routes  # every route, none missing
    schemas = spec["components"]["schemas"]
    for path, method in described:
        op = spec["paths"][path][method]
        assert op["summary"], path
        assert not re.search(r"``|:[a-z]+:`", op["summary"]), (path, op["summary"])
        names = [p["name"] for p in op["parameters"] if p["in"] == "path"]
        assert names == re.findall(r"{(\w+)}", path), path
        assert all("schema" in p for p in op["parameters"])
        ok = op["responses"]["200"]["content"]
        assert len(ok) == 1, path
        assert "schema" in next(iter(ok.values())), path
        for code in ("400", "401", "503", *(("403",) if method == "post" else ())):
            error = op["responses"][code]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}, (path, code)
        if method == "post":
            assert "application/json" in op["requestBody"]["content"], path
    for refs in re.findall(r'"#/components/schemas/(\w+)"', json.dumps(spec)):
        assert refs in schemas
    assert list(spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == [
        "text/plain; version=0.0.4"
    ]
    assert list(spec["paths"]["/api/events"]["get"]["responses"]["200"]["content"]) == [
        "text/event-stream"
    ]
    pause = spec["paths"]["/api/queues/{name}/pause"]["post"]
    body = pause["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["seconds"]["exclusiveMinimum"] == 0
    assert "404" in pause["responses"]
    retry = spec["paths"]["/api/failures/{index}/retry"]["post"]
    assert retry["parameters"][0]["schema"]["type"] == "integer"
    assert "409" in retry["responses"]
    queue = spec["paths"]["/api/queues/{name}"]["get"]
    count = next(p for p in queue["parameters"] if p["name"] == "count")
    assert (count["schema"]["minimum"], count["schema"]["maximum"]) == (1, 500)
    assert spec["paths"]["/api/scheduled"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]["jobs"]["items"] == {
        "$ref": "#/components/schemas/Scheduled"}  # fmt: skip


async def test_every_api_error_is_json_whatever_the_content_type(
    http: Client, client: pace.Client
) -> None:
    await client.enqueue("mail", "SendMail")
    token = await csrf(http)
    headers = {"X-CSRF-Token": token}
    # curl -d sends a form body: a JSON error that says what is wrong
    as_form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    response = await http.post("/api/queues/mail/pause", data='{"seconds": 300}', headers=as_form)
    assert (response.status, response.content_type) == (400, "application/json")
    body = await response.json()
    assert body["status"] == 400
    assert "Content-Type: application/json" in body["error"]
    for path, data in [("/api/queues/nowhere/pause", {"seconds": "3"}),
                       ("/api/failures/0/retry", {"id": "0" * 16})]:  # fmt: skip
        missing = await http.post(path, data=data, headers=headers)
        assert (missing.status, missing.content_type) == (404, "application/json"), path
    # a page's form (it carries next=) gets a page back
    page = await form(http, "/api/queues/nowhere/pause", next="/")
    assert (page.status, page.content_type) == (404, "text/html")


async def test_the_readmes_curl_example_works(
    make_client: Factory, client: pace.Client, redis: Redis
) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    (command,) = re.findall(r"curl (.+?)\n```", readme, re.DOTALL)
    args = shlex.split(command.replace("\\\n", " "))
    headers = dict(h.split(": ", 1) for flag, h in itertools.pairwise(args) if flag == "-H")
    data = args[args.index("-d") + 1]
    path = urlsplit(args[-1]).path
    headers.setdefault("Content-Type", "application/x-www-form-urlencoded")  # as curl -d does
    headers["Authorization"] = "Bearer t0ken"
    await client.enqueue("mail", "SendMail")
    http = await make_client(token="t0ken")
    response = await http.post(path, data=data, headers=headers)
    assert response.status == 200, await response.text()
    (pause,) = await pace.Pauses(redis).list()
    assert pause.name == "mail"
    assert pause.until is not None
