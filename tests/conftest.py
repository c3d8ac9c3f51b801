"""Shared fixtures: one embedded redis-server per test session, flushed before each test."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

import pace
from pace.embedded import EmbeddedCluster, EmbeddedRedis, temporary
from tests.support import Starter, wait_for

pytest_plugins = ["tests.web_support"]  # the web tests' fixtures (make_client, http)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """The embedded redis-server, on a unix socket in a short temporary directory."""
    with temporary() as server:
        yield server


@pytest.fixture(scope="session")
def cluster_server() -> Iterator[EmbeddedCluster]:
    """A Redis Cluster of 3 embedded masters on free ports of 127.0.0.1, started the first
    time a test asks for it (:data:`tests.support.on_both`), stopped with the session."""
    with (
        tempfile.TemporaryDirectory(prefix="pace-c-") as directory,
        EmbeddedCluster(directory, masters=3) as cluster,
    ):
        yield cluster


@pytest.fixture(scope="session")
def replicated_cluster() -> Iterator[EmbeddedCluster]:
    """A Redis Cluster of 3 embedded masters with a replica each, for the failover test."""
    with (
        tempfile.TemporaryDirectory(prefix="pace-r-") as directory,
        EmbeddedCluster(directory, masters=3, replicas=1) as cluster,
    ):
        yield cluster


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """The URL of the session's Redis (``unix://...``), or of its cluster
    (``redis+cluster://...``) in a test parametrised with :data:`tests.support.on_both`."""
    cluster = getattr(request, "param", "single") == "cluster"
    return str(request.getfixturevalue("cluster_server" if cluster else "redis_server").url)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client on a flushed database, closed after the test."""
    client = await pace.connect(redis_url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def client(redis: Redis) -> AsyncIterator[pace.Client]:
    """A pace Client sharing the test's connection."""
    async with pace.Client(redis=redis) as pace_client:
        yield pace_client


@pytest.fixture
def cli_env(redis_url: str) -> dict[str, str]:
    """Environment for CLI subprocesses: the session's Redis as REDIS_URL."""
    return {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
async def start(redis: Redis) -> AsyncIterator[Starter]:
    """Start workers in the background on the test's Redis; stop them after the test."""
    running: list[tuple[pace.Worker, asyncio.Task[None]]] = []

    async def starter(queues: Any, handler: Any, **settings: Any) -> pace.Worker:
        worker = pace.Worker(queues, redis=redis, **settings)
        task = asyncio.create_task(worker.start(handler))
        running.append((worker, task))
        await wait_for(lambda: worker.stopping or redis.sismember("resque:workers", worker.id))
        return worker

    yield starter
    for worker, task in running:
        await worker.stop(0)
        await task
