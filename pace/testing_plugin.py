"""pace's pytest plugin: the fixtures of :mod:`pace.testing`, in every pytest session where
pace-worker is installed (the ``pytest11`` entry point ``pace``).

Loading it costs nothing: pace is imported, and the embedded Redis started (once per
session), only when a test asks for one of these fixtures:

- ``pace_redis_server``: the session's embedded Redis (:class:`pace.embedded.EmbeddedRedis`;
  needs the ``embedded`` extra).
- ``pace_redis``: the same, flushed before the test, and ``pace.redis_url`` pointed at it for
  the test, so code that enqueues with pace's defaults lands there.
- ``pace_handlers``: the handlers ``pace_worker`` runs, ``{}`` unless you override it (in
  your ``conftest.py``).
- ``pace_worker_settings``: the other :class:`pace.Worker` settings of ``pace_worker``
  (``retry``, ``job_timeout``...), ``{}`` unless you override it.
- ``pace_worker``: an :class:`pace.testing.InlineWorker` on ``pace_redis`` with
  ``pace_handlers`` and ``pace_worker_settings``: ``await pace_worker.drain()`` runs what
  was enqueued.

Turn it off with ``-p no:pace``.

Example::

    # conftest.py
    @pytest.fixture
    def pace_handlers():
        return myapp.jobs.HANDLERS

    # test_signup.py
    async def test_signup_sends_the_welcome_mail(pace_worker):
        await myapp.signup("bob@example.com")
        drained = await pace_worker.drain()
        assert [job.args for job in drained.processed] == [["bob@example.com"]]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pace.embedded import EmbeddedRedis
    from pace.job import Handler
    from pace.testing import InlineWorker

__all__ = [
    "pace_handlers",
    "pace_redis",
    "pace_redis_server",
    "pace_worker",
    "pace_worker_settings",
]


@pytest.fixture(scope="session")
def pace_redis_server() -> Iterator[EmbeddedRedis]:
    """The embedded Redis of the session, in a temporary directory; started on first use."""
    from pace.embedded import temporary

    with temporary() as server:
        yield server


@pytest.fixture
def pace_redis(pace_redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch) -> EmbeddedRedis:
    """The session's embedded Redis, flushed, and ``pace.redis_url`` for this test."""
    import redis

    import pace

    with redis.Redis.from_url(pace_redis_server.url) as client:
        client.flushall()
    monkeypatch.setattr(pace, "redis_url", pace_redis_server.url)
    return pace_redis_server


@pytest.fixture
def pace_handlers() -> Mapping[str, Handler]:
    """The handlers of ``pace_worker``: none; override this fixture to give yours."""
    return {}


@pytest.fixture
def pace_worker_settings() -> dict[str, Any]:
    """The other worker settings of ``pace_worker``: none; override this fixture to give
    yours (``{"retry": pace.RetryPolicy(...)}``)."""
    return {}


@pytest.fixture
def pace_worker(
    pace_redis: EmbeddedRedis,
    pace_handlers: Mapping[str, Handler],
    pace_worker_settings: dict[str, Any],
) -> InlineWorker:
    """An :class:`~pace.testing.InlineWorker` running ``pace_handlers`` on ``pace_redis``,
    with ``pace_worker_settings``."""
    from pace.testing import InlineWorker

    return InlineWorker(pace_handlers, redis_url=pace_redis.url, **pace_worker_settings)
