"""Fixtures and helpers shared by the web app's tests (``tests/test_web_*.py``): the app
behind aiohttp's test client, CSRF-aware POSTs, Ruby failure records, server-sent events and
``pace-worker web``.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

import pace
from pace.web import create_app

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


async def read_events(
    response: aiohttp.ClientResponse, count: int, kind: str = "progress"
) -> list[dict[str, Any]]:
    """Read ``count`` events of ``kind`` from a server-sent event stream (bounded in time)."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        event = None
        while len(events) < count:
            line = (await response.content.readline()).decode()
            assert line, "the stream ended early"
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: ") and event == kind:
                events.append(json.loads(line[6:]))
    return events


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
