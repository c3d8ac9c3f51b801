"""Trace jobs with OpenTelemetry: a producer span per enqueue, a consumer span per run.

Needs ``opentelemetry-api`` (``pip install 'pace-worker[otel]'``; importing this module without
it raises :class:`ImportError` saying so) and, to export spans, the SDK set up by your app.
Nothing is traced until :func:`install`.

- **Enqueue** (:meth:`pace.Client.enqueue`, ``enqueue_many``, ``enqueue_at``, ``enqueue_in``,
  :func:`pace.enqueue`): an ``enqueue <queue>`` span of kind
  ``PRODUCER`` around the encoding and sending; its context goes into each payload under
  ``pace_trace`` (``{"traceparent": ...}``, as the global propagator writes it), a key Ruby
  Resque ignores. ``enqueue_many`` is one span for all its jobs.
- **Perform**: a ``perform <queue>`` span of kind ``CONSUMER`` around the handler, the child
  of the enqueue span, so one trace goes from enqueue to perform. A job without a trace context
  (enqueued by Ruby, or before tracing was on) gets a root span. The span is current while
  the handler runs: the handler's own spans are its children. An exception of the handler is
  recorded on the span (an ``exception`` event, status ``ERROR``, ``error.type``).
- **Retries**: a failed attempt's span context goes into the payload too (``previous`` in
  ``pace_trace``), so the next attempt is a span of the same trace, linked to the attempt
  before it. A job that had no trace context descends from its first attempt.

Attributes follow the messaging semantic conventions: ``messaging.system`` (``resque``),
``messaging.operation.type`` (``send``, ``process``), ``messaging.operation.name``
(``enqueue``, ``perform``), ``messaging.destination.name`` (the queue),
``messaging.message.id`` (the job id, on perform), ``messaging.batch.message_count`` (an
enqueue of several jobs), and pace's own ``pace.class``, ``pace.attempt``, ``pace.worker``.

Example::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    import pace.integrations.otel

    trace.set_tracer_provider(TracerProvider())   # and an exporter
    pace.integrations.otel.install()              # every client and worker of this process
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
except ImportError as exc:
    raise ImportError(
        "pace.integrations.otel needs opentelemetry-api: pip install 'pace-worker[otel]'"
    ) from exc

from pace.client import Client
from pace.job import Job
from pace.wire import TRACE_FIELD, exception_message, exception_name
from pace.worker import Worker

__all__ = ["SYSTEM", "Tracing", "install", "uninstall"]

SYSTEM = "resque"
"""``messaging.system`` of every span."""
_PREVIOUS = "previous"  # in TRACE_FIELD: the span context of the attempt that failed


class Tracing:
    """The ``"enqueue"`` and ``"perform"`` hooks that make the spans, with their tracer.

    :func:`install` makes one and adds its hooks to every client and worker.

    Example::

        tracing = Tracing(trace.get_tracer("pace"))
        pace.Client.class_hooks.add("enqueue", tracing.enqueue)
        worker.add_hook("perform", tracing.perform)    # this worker only
    """

    __slots__ = ("tracer",)

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    @contextmanager
    def enqueue(self, queue: str, class_name: str, count: int) -> Iterator[dict[str, Any]]:
        """The producer span around enqueueing ``count`` jobs; yields the payload field that
        carries its context (nothing when the span is not sampled)."""
        attributes: dict[str, Any] = {
            **_messaging(queue, "send", "enqueue"),
            "pace.class": class_name,
        }
        if count > 1:
            attributes["messaging.batch.message_count"] = count
        with self.tracer.start_as_current_span(
            f"enqueue {queue}", kind=SpanKind.PRODUCER, attributes=attributes
        ) as span:
            carrier = _carrier_of(span)
            yield {TRACE_FIELD: carrier} if carrier else {}

    @contextmanager
    def perform(self, job: Job) -> Iterator[None]:
        """The consumer span around a job's run: the child of its enqueue span (a root span
        without one), linked to its previous attempt's span, with the handler's error."""
        field = job.payload.get(TRACE_FIELD)
        carrier = _strings(field)
        previous = _span_context(
            _strings(field.get(_PREVIOUS) if isinstance(field, dict) else None)
        )
        attributes: dict[str, Any] = {
            **_messaging(job.queue, "process", "perform"),
            "pace.class": job.class_name,
            "pace.attempt": job.attempt,
        }
        if job.id is not None:
            attributes["messaging.message.id"] = job.id
        if job.worker is not None:
            attributes["pace.worker"] = job.worker.id
        with self.tracer.start_as_current_span(
            f"perform {job.queue}",
            context=propagate.extract(carrier),  # a fresh context: no trace context, a root span
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=[Link(previous)] if previous.is_valid else None,
            record_exception=False,
            set_status_on_exception=False,  # a worker that stops cancels jobs: no error
        ) as span:
            try:
                yield
            except Exception as exc:
                _record(span, exc)
                # the next attempt (if the job is retried) links to this one; a job without
                # a trace context descends from its first attempt
                this = _carrier_of(span)
                job.payload[TRACE_FIELD] = {**(carrier or this), _PREVIOUS: this}
                raise


def _messaging(queue: str, operation: str, name: str) -> dict[str, str]:
    return {
        "messaging.system": SYSTEM,
        "messaging.operation.type": operation,
        "messaging.operation.name": name,
        "messaging.destination.name": queue,
    }


def _record(span: Span, exc: Exception) -> None:
    span.record_exception(exc, escaped=True)
    span.set_attribute("error.type", exception_name(exc))
    span.set_status(Status(StatusCode.ERROR, exception_message(exc)))


def _carrier_of(span: Span) -> dict[str, str]:
    """``span``'s context as the global propagator writes it (``traceparent``...)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def _strings(value: object) -> dict[str, str]:
    """The string entries of a payload's object; nothing from anything else (a payload is
    input: a hostile or mangled ``pace_trace`` gives a root span, never an error)."""
    if not isinstance(value, dict):
        return {}
    return {
        key: item for key, item in value.items() if isinstance(key, str) and isinstance(item, str)
    }


def _span_context(carrier: dict[str, str]) -> trace.SpanContext:
    """The span context in ``carrier``; an invalid one when there is none."""
    return trace.get_current_span(propagate.extract(carrier)).get_span_context()


_installed: Tracing | None = None


def install(tracer_provider: trace.TracerProvider | None = None) -> Tracing:
    """Trace every enqueue and every job run in this process; installing again replaces.

    Args:
        tracer_provider: where spans go; ``None``: the global one (``trace.set_tracer_provider``).

    Example::

        pace.integrations.otel.install()
    """
    global _installed
    uninstall()
    tracing = Tracing(trace.get_tracer("pace", tracer_provider=tracer_provider))
    Client.class_hooks.add("enqueue", tracing.enqueue)
    Worker.add_hook("perform", tracing.perform)
    _installed = tracing
    return tracing


def uninstall() -> None:
    """Stop tracing: undo :func:`install` (nothing happens if it was not installed)."""
    global _installed
    if _installed is not None:
        Client.class_hooks.remove("enqueue", _installed.enqueue)
        Worker.remove_hook("perform", _installed.perform)
        _installed = None
