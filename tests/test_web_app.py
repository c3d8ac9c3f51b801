"""The app as a whole (pace.web.app): mounting in another service, and ``pace-worker web``."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

import pace
from pace.web import Limits, create_app
from tests.web_support import (
    Factory,
    read_events,
    serve,
    stop,
)


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
    process, url = await serve(env, "--host", "0.0.0.0", "--allowed-host", "pace.example.com")
    try:
        local = url.replace("0.0.0.0", "127.0.0.1")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(local + "api/csrf") as response:
                token = (await response.json())["token"]
            headers = {"X-CSRF-Token": token}
            async with session.post(local + "api/queues/q/pause", headers=headers) as response:
                assert response.status == 403
                assert "no token" in (await response.json())["error"]
            for host, status in [("pace.example.com", 200), ("evil.example", 400)]:
                async with session.get(local + "api/queues", headers={"Host": host}) as response:
                    assert response.status == status, host
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


async def test_300_concurrent_requests_get_no_5xx(
    make_client: Factory, client: pace.Client, redis: Redis
) -> None:
    await client.enqueue_many("mail", "SendMail", [[i] for i in range(20)])
    http = await make_client()
    paths = ["/", "/api/overview", "/metrics"] * 100
    connector = aiohttp.TCPConnector(limit=0)  # every request at once, no client-side queue
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(path: str) -> int:
            async with session.get(http.make_url(path)) as response:
                await response.read()
                return response.status

        async with asyncio.timeout(30):
            statuses = await asyncio.gather(*(get(path) for path in paths))
    assert sorted(set(statuses)) == [200], sorted(statuses)[-5:]


async def test_a_saturated_app_answers_503_with_a_reason(
    make_client: Factory, redis: Redis, redis_url: str
) -> None:
    http = await make_client(limits=Limits(requests=2, streams=1, wait=0.3))
    async with http.get("/api/events?scope=s") as stream:
        await read_events(stream, 1)
        refused = await http.get("/api/events?scope=t")
        assert refused.status == 503
        assert "too many live streams" in (await refused.json())["error"]
    paused = await pace.connect(redis_url)
    try:
        await paused.execute_command("CLIENT", "PAUSE", 1500, "ALL")  # Redis stalls 1.5 s
        started = [asyncio.create_task(http.get("/api/overview")) for _ in range(3)]
        statuses = sorted([(await response).status for response in started])
    finally:
        await paused.aclose()
    assert statuses == [200, 200, 503]
    late = await http.get("/api/overview")
    assert late.status == 200
    page = await http.get("/")
    assert page.status == 200


def test_bad_limits_are_refused() -> None:
    for bad in ({"requests": 0}, {"streams": True}, {"wait": float("nan")}, {"wait": -1}):
        with pytest.raises(pace.ConfigError, match="limits"):
            Limits(**bad)
