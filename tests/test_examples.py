"""The examples against the session's Redis: http_fetch.py as a real process, the aiohttp service
in this process through aiohttp's test server."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SUMMARY = re.compile(
    r"done: (?P<jobs>\d+) jobs in (?P<seconds>[\d.]+) s, (?P<rate>[\d.]+) jobs/s, "
    r"(?P<ok>\d+) responses OK"
)


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"pace_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_http_example_fetches_every_job(redis: Redis, cli_env: dict[str, str]) -> None:
    status, out, err = await run_example("http_fetch", cli_env, "--jobs", "60", "--rate", "200")
    assert status == 0, err
    summary = SUMMARY.search(out)
    assert summary is not None, out
    assert (summary["jobs"], summary["ok"]) == ("60", "60")
    assert await redis.llen("resque:queue:http") == 0
    assert await redis.llen("resque:failed") == 0
    assert await redis.get("resque:stat:processed") == b"60"


async def poll_status(
    client: TestClient[Any, Any], condition: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    """GET /status until ``condition`` holds for it; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get("/status")
        assert response.status == 200
        status: dict[str, Any] = await response.json()
        if condition(status):
            return status
        assert time.monotonic() < deadline, f"status never matched: {status}"
        await asyncio.sleep(0.02)


async def test_aiohttp_service_runs_the_worker_for_the_life_of_the_app(
    redis: Redis, redis_url: str
) -> None:
    service = load_example("aiohttp_service")
    app = service.create_app(redis_url)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        worker, task = app[service.WORKER], app[service.WORKER_TASK]
        for name in ("ann", "bob", "cy"):
            response = await client.post("/jobs", json={"class": "Greet", "args": [name]})
            assert response.status == 202
            assert (await response.json())["queue"] == "web"
        await poll_status(client, lambda status: status["processed"] == 3)
        assert (await client.post("/jobs", data="{nope")).status == 400

        response = await client.post("/pause")
        assert (await response.json())["paused"] is True
        assert worker.paused
        assert (await client.post("/jobs", json={"args": ["dee"]})).status == 202
        await asyncio.sleep(0.3)  # a paused worker leaves the job in its queue
        paused = await poll_status(client, lambda status: True)
        assert (paused["paused"], paused["processed"], paused["queued"]) == (True, 3, 1)

        response = await client.post("/resume")
        assert (await response.json())["paused"] is False
        resumed = await poll_status(client, lambda status: status["processed"] == 4)
        assert (resumed["paused"], resumed["queued"]) == (False, 0)
        assert not task.done()

    assert task.done()
    assert task.exception() is None
    assert worker.stopping
    assert not await redis.sismember("resque:workers", worker.id)
    assert await redis.get("resque:stat:processed") == b"4"
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def run_example(name: str, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run ``examples/<name>.py`` in a subprocess; return its status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / f"{name}.py"), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(45):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_progress_example_shows_both_jobs_completing(
    redis: Redis, cli_env: dict[str, str]
) -> None:
    status, out, err = await run_example("progress", cli_env)
    assert status == 0, err
    finished = [line for line in out.splitlines() if "completed in" in line]
    assert len(finished) == 2, out
    assert any("60/60" in line for line in finished)
    assert any("120/120" in line for line in finished)


async def test_main_example_runs_every_job(redis: Redis, cli_env: dict[str, str]) -> None:
    status, out, err = await run_example("main", cli_env, "--jobs", "90", "--rate", "500")
    assert status == 0, err
    assert "done: 90 processed, 2 failed" in out
    assert '"exception": "ConnectionRefusedError"' in out
