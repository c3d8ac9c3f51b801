"""OpenTelemetry tracing with the real SDK: spans go to its in-memory exporter."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from redis.asyncio import Redis

import pace
from pace.integrations import otel
from pace.wire import loads
from tests.support import Starter, wait_for


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing installed for every client and worker, into an in-memory exporter; removed
    after the test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.install(tracer_provider=provider)
    yield exporter
    otel.uninstall()
    provider.shutdown()


def finished(exporter: InMemorySpanExporter, count: int) -> Any:
    return lambda: len(exporter.get_finished_spans()) >= count


def parent(span: ReadableSpan) -> int | None:
    """The span id of ``span``'s parent; ``None`` for a root span."""
    return None if span.parent is None else span.parent.span_id


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


async def test_one_trace_from_enqueue_to_perform_across_a_retry(
    client: pace.Client, start: Starter, spans: InMemorySpanExporter
) -> None:
    inside: list[trace.SpanContext] = []

    async def flaky(job: pace.Job) -> None:
        inside.append(trace.get_current_span().get_span_context())
        if job.attempt == 1:
            raise pace.Retry(delay=0)

    job_id = await client.enqueue("mail", "SendMail", "bob@example.com")
    await start(["mail"], flaky)
    await wait_for(finished(spans, 3))

    found = by_name(spans)
    [enqueue] = found["enqueue mail"]
    first, second = sorted(found["perform mail"], key=lambda s: s.attributes["pace.attempt"])
    assert {span.context.trace_id for span in (enqueue, first, second)} == {
        enqueue.context.trace_id
    }
    assert enqueue.kind is SpanKind.PRODUCER
    assert parent(enqueue) is None
    assert (first.kind, second.kind) == (SpanKind.CONSUMER, SpanKind.CONSUMER)
    assert parent(first) == parent(second) == enqueue.context.span_id
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    assert list(first.links) == []
    assert [context.span_id for context in inside] == [
        first.context.span_id,
        second.context.span_id,
    ], "the perform span is current in the handler"

    assert dict(enqueue.attributes or {}) == {
        "messaging.system": "resque",
        "messaging.operation.type": "send",
        "messaging.operation.name": "enqueue",
        "messaging.destination.name": "mail",
        "pace.class": "SendMail",
    }
    assert second.attributes is not None
    assert second.attributes["messaging.operation.type"] == "process"
    assert second.attributes["messaging.operation.name"] == "perform"
    assert second.attributes["messaging.destination.name"] == "mail"
    assert second.attributes["messaging.message.id"] == job_id
    assert second.attributes["pace.class"] == "SendMail"


async def test_an_error_is_recorded_on_the_span_and_in_the_failure_record(
    client: pace.Client, redis: Redis, start: Starter, spans: InMemorySpanExporter
) -> None:
    async def broken(job: pace.Job) -> None:
        raise ValueError("no such mailbox")

    await client.enqueue("mail", "SendMail", "nobody")
    await start(["mail"], broken)
    await wait_for(finished(spans, 2))
    await wait_for(lambda: redis.llen("resque:failed"))

    [perform] = by_name(spans)["perform mail"]
    assert perform.status.status_code is StatusCode.ERROR
    assert perform.status.description == "no such mailbox"
    assert perform.attributes is not None
    assert perform.attributes["error.type"] == "ValueError"
    [event] = perform.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "no such mailbox"
    record = loads(await redis.lindex("resque:failed", 0))
    previous = record["payload"]["pace_trace"]["previous"]["traceparent"]
    assert previous.split("-")[2] == format(perform.context.span_id, "016x")


async def test_a_job_without_a_trace_context_gets_a_root_span(
    redis: Redis, start: Starter, spans: InMemorySpanExporter
) -> None:
    ruby = b'{"class":"Resize","args":[1]}'  # as Ruby's Resque.enqueue writes it
    mangled = [
        b'{"class":"Resize","args":[2],"pace_trace":7}',
        b'{"class":"Resize","args":[3],"pace_trace":{"traceparent":"00-nonsense"}}',
        b'{"class":"Resize","args":[4],"pace_trace":{"traceparent":[1],"previous":"x"}}',
    ]
    await redis.rpush("resque:queue:img", ruby, *mangled)
    ran: list[int] = []

    async def resize(job: pace.Job) -> None:
        ran.append(job.args[0])

    await start(["img"], resize)
    await wait_for(finished(spans, 4))

    performs = by_name(spans)["perform img"]
    assert sorted(ran) == [1, 2, 3, 4]
    assert [parent(span) for span in performs] == [None] * 4
    assert len({span.context.trace_id for span in performs}) == 4
    assert all("messaging.message.id" not in (span.attributes or {}) for span in performs)


async def test_a_retried_job_without_a_trace_context_stays_in_its_first_attempt_s_trace(
    redis: Redis, start: Starter, spans: InMemorySpanExporter
) -> None:
    await redis.rpush("resque:queue:img", b'{"class":"Resize","args":[1]}')

    async def flaky(job: pace.Job) -> None:
        if job.attempt < 3:
            raise pace.Retry(delay=0)

    await start(["img"], flaky)
    await wait_for(finished(spans, 3))

    attempts = sorted(spans.get_finished_spans(), key=lambda s: s.attributes["pace.attempt"])
    first, second, third = attempts
    assert parent(first) is None
    assert parent(second) == parent(third) == first.context.span_id
    assert [link.context.span_id for link in third.links] == [second.context.span_id]
    assert len({span.context.trace_id for span in attempts}) == 1


async def test_enqueue_many_is_one_span_whose_context_every_payload_carries(
    client: pace.Client, redis: Redis, spans: InMemorySpanExporter
) -> None:
    await client.enqueue_many("img", "Resize", [[1], [2], [3]])
    await client.enqueue_in(60, "img", "Resize", 4)

    many, later = spans.get_finished_spans()
    assert many.attributes is not None
    assert many.attributes["messaging.batch.message_count"] == 3
    assert later.attributes is not None
    assert "messaging.batch.message_count" not in later.attributes
    payloads = [loads(raw) for raw in await redis.lrange("resque:queue:img", 0, -1)]
    parents = {tuple(payload["pace_trace"]["traceparent"].split("-")[1:3]) for payload in payloads}
    assert parents == {(f"{many.context.trace_id:032x}", f"{many.context.span_id:016x}")}
    [entry] = await redis.zrange("resque:pace:schedule", 0, -1)
    assert f"{later.context.span_id:016x}".encode() in entry


async def test_nothing_is_traced_before_install_nor_after_uninstall(
    client: pace.Client, redis: Redis
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    await client.enqueue("q", "Before")
    otel.install(tracer_provider=provider)
    otel.install(tracer_provider=provider)  # installing again replaces: one span per enqueue
    await client.enqueue("q", "During")
    otel.uninstall()
    await client.enqueue("q", "After")

    payloads = [loads(raw) for raw in await redis.lrange("resque:queue:q", 0, -1)]
    assert ["pace_trace" in payload for payload in payloads] == [False, True, False]
    assert [span.attributes["pace.class"] for span in exporter.get_finished_spans()] == ["During"]
    assert pace.Worker.class_hooks.get("perform") == []
    assert pace.Client.class_hooks.get("enqueue") == []


async def test_importing_without_opentelemetry_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "pace.integrations.otel")

    with pytest.raises(ImportError, match=r"pip install 'pace-worker\[otel\]'"):
        importlib.import_module("pace.integrations.otel")
