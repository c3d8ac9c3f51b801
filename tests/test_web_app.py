"""The app as a whole (pace.web.app): mounting in another service, and ``pace-worker web``."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

import pace
from pace.web import create_app
from tests.web_support import (
    Factory,
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
