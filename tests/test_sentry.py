"""The Sentry hook with the real sentry-sdk: events go to an in-memory transport, not a server."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from redis.asyncio import Redis
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.transport import Transport

import pace
from pace.integrations.sentry import install, sentry_hook


class ListTransport(Transport):
    """Keeps every envelope the SDK sends, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The error events sent so far."""
        found = (envelope.get_event() for envelope in self.envelopes)
        return [dict(event) for event in found if event is not None]


@pytest.fixture
def sentry() -> Iterator[ListTransport]:
    """A real Sentry client whose events land in a list; no client again after the test."""
    transport = ListTransport()
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:1/1",
        transport=transport,
        default_integrations=False,  # no process-wide patching beyond logging
        auto_enabling_integrations=False,
        integrations=[LoggingIntegration()],  # as in a default init: a logged error is an event
    )
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def every_worker() -> Iterator[None]:
    """Undo a class-level ``install()`` after the test."""
    yield
    pace.Worker.remove_hook("error", sentry_hook)


async def failing(job: pace.Job) -> None:
    raise ValueError(f"cannot {job.class_name} {job.args}")


def only_event(transport: ListTransport) -> dict[str, Any]:
    assert len(transport.events) == 1, transport.events
    return transport.events[0]


def exception_type(event: dict[str, Any]) -> str:
    values = event["exception"]["values"]
    return str(values[-1]["type"])


async def test_install_on_a_worker_reports_its_failed_job(
    redis: Redis, client: pace.Client, sentry: ListTransport
) -> None:
    job_id = await client.enqueue("q", "Resize", "photo.png", 2)
    worker = pace.Worker(["q"], redis=redis, burst=True)
    install(worker)

    await worker.start(failing)

    event = only_event(sentry)
    assert exception_type(event) == "ValueError"
    assert event["exception"]["values"][-1]["value"] == "cannot Resize ['photo.png', 2]"
    assert event["tags"] == {
        "pace.queue": "q",
        "pace.class": "Resize",
        "pace.job_id": job_id,
        "pace.worker": worker.id,
    }
    assert event["contexts"]["pace job"] == {
        "queue": "q",
        "class": "Resize",
        "args": ["photo.png", 2],
        "job id": job_id,
        "worker id": worker.id,
    }
    assert event["transaction"] == "Resize"
    assert event["transaction_info"] == {"source": "task"}


async def test_install_on_a_worker_leaves_other_workers_alone(
    redis: Redis, client: pace.Client, sentry: ListTransport
) -> None:
    await client.enqueue("other", "Resize", "photo.png")
    install(pace.Worker(["q"], redis=redis, burst=True))

    await pace.Worker(["other"], redis=redis, burst=True).start(failing)

    assert sentry.events == []


async def test_install_for_every_worker(
    redis: Redis, client: pace.Client, sentry: ListTransport, every_worker: None
) -> None:
    first = await client.enqueue("a", "Send", 1)
    second = await client.enqueue("b", "Send", 2)
    install()

    await pace.Worker(["a"], redis=redis, burst=True).start(failing)
    await pace.Worker(["b"], redis=redis, burst=True).start(failing)

    assert [event["tags"]["pace.job_id"] for event in sentry.events] == [first, second]
    assert [event["contexts"]["pace job"]["args"] for event in sentry.events] == [[1], [2]]
    assert {exception_type(event) for event in sentry.events} == {"ValueError"}


async def test_a_payload_that_does_not_decode_is_reported_with_its_queue_worker_and_text(
    redis: Redis, sentry: ListTransport
) -> None:
    await redis.rpush("resque:queue:q", b"{not json")
    worker = pace.Worker(["q"], redis=redis, burst=True)
    install(worker)

    await worker.start(failing)

    event = only_event(sentry)
    assert exception_type(event) == "InvalidPayload"
    assert event["tags"] == {"pace.queue": "q", "pace.worker": worker.id}
    assert event["contexts"]["pace job"] == {
        "raw payload": "{not json", "queue": "q", "worker id": worker.id,
    }  # fmt: skip


async def test_outside_a_job_it_reports_without_pace_tags(sentry: ListTransport) -> None:
    sentry_hook(None, RuntimeError("x"))

    event = only_event(sentry)
    assert exception_type(event) == "RuntimeError"
    assert event["exception"]["values"][-1]["value"] == "x"
    assert not any(tag.startswith("pace.") for tag in event.get("tags", {}))
    assert "pace job" not in event.get("contexts", {})
    assert event.get("transaction") != "Resize"


async def test_outside_a_job_a_payload_gives_the_details(sentry: ListTransport) -> None:
    payload = {"class": "Resize", "args": ["photo.png"], "id": "abc123"}

    sentry_hook(payload, RuntimeError("x"))

    event = only_event(sentry)
    assert event["tags"] == {"pace.class": "Resize", "pace.job_id": "abc123"}
    assert event["contexts"]["pace job"] == {
        "class": "Resize",
        "args": ["photo.png"],
        "job id": "abc123",
    }
    assert event["transaction"] == "Resize"


async def test_tags_do_not_leak_into_later_events(sentry: ListTransport) -> None:
    sentry_hook({"class": "Resize", "args": [], "id": "abc123"}, RuntimeError("x"))

    sentry_sdk.capture_message("later")

    later = sentry.events[-1]
    assert later["message"] == "later"
    assert not any(tag.startswith("pace.") for tag in later.get("tags", {}))
    assert "pace job" not in later.get("contexts", {})
    assert later.get("transaction") != "Resize"


async def test_without_a_sentry_client_it_does_nothing() -> None:
    sentry_hook({"class": "Resize", "args": []}, RuntimeError("x"))  # must not raise


async def test_importing_without_sentry_sdk_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "pace.integrations.sentry")

    with pytest.raises(ImportError, match=r"pip install 'pace-worker\[sentry\]'"):
        importlib.import_module("pace.integrations.sentry")
