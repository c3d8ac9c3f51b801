"""Hooks: user callables fired at documented moments; a hook's exception is logged, never raised.

Events and their arguments:

- ``"start"``: ``(worker)``, once the worker is registered and about to take jobs.
- ``"processed"``: ``(job)``, after a job succeeded and its outcome is stored.
- ``"error"``: ``(payload, exc)``, after a failure is stored; ``payload`` is the job's decoded
  payload (the raw text when it would not decode), or ``None`` when the error is not a job's.
  Inside the hook, :func:`pace.current_job` returns the job, if there is one.
- ``"shutdown"``: ``(worker)``, after the worker unregistered.
- ``"perform"``: ``(job)``, returning a context manager that is entered around the job's run,
  in the job's task (:func:`around`): tracing, timing, test recorders.

A client's hooks (:data:`CLIENT_EVENTS`, on ``pace.Client.class_hooks``):

- ``"enqueue"``: ``(queue, class_name, count)``, returning a context manager entered around
  the encoding and sending of ``count`` new jobs; what its ``__enter__`` returns, if a
  mapping, is added to every new job's payload (keys Ruby ignores: a trace context).

A hook may be a plain function or a coroutine function (a ``"perform"`` or ``"enqueue"``
hook is a plain function).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Generator, Sequence
from types import TracebackType
from typing import Any

from pace.errors import ConfigError

__all__ = ["CLIENT_EVENTS", "EVENTS", "Hook", "Hooks", "around", "fire", "listening"]

logger = logging.getLogger("pace")

Hook = Callable[..., Any]
EVENTS = ("error", "perform", "processed", "shutdown", "start")
"""A worker's events."""
CLIENT_EVENTS = ("enqueue",)
"""A client's events."""
_AROUND = frozenset({"enqueue", "perform"})  # their hooks return context managers (around())


class Hooks:
    """Hooks by event, for one worker or (``Worker.class_hooks``) for every worker.

    Example::

        hooks = Hooks()
        hooks.add("error", lambda payload, exc: print(payload, exc))

    Args:
        events: the events it takes (a worker's, or :data:`CLIENT_EVENTS`).
    """

    __slots__ = ("_by_event", "events")

    def __init__(self, events: tuple[str, ...] = EVENTS) -> None:
        self.events = events
        self._by_event: dict[str, list[Hook]] = {}

    def add(self, event: str, hook: Hook) -> None:
        """Register ``hook`` for ``event``; raises :class:`ConfigError` for an unknown event."""
        if event not in self.events:
            raise ConfigError(
                f"unknown hook event {event!r}; choose one of {', '.join(self.events)}"
            )
        if not callable(hook):
            raise ConfigError(f"a {event!r} hook must be callable, got {hook!r}")
        if event in _AROUND and inspect.iscoroutinefunction(hook):
            raise ConfigError(
                f"a {event!r} hook is a plain function returning a context manager, "
                f"not a coroutine function: {hook!r}"
            )
        self._by_event.setdefault(event, []).append(hook)

    def remove(self, event: str, hook: Hook) -> None:
        """Unregister ``hook``; a hook that was never added is ignored."""
        hooks = self._by_event.get(event, [])
        if hook in hooks:
            hooks.remove(hook)
        if not hooks:
            self._by_event.pop(event, None)

    def get(self, event: str) -> list[Hook]:
        """The hooks of ``event``, in the order added."""
        return self._by_event.get(event, [])


class _Done:
    """An awaitable that is already done: what :func:`fire` returns when no hook listens."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


_DONE = _Done()


def listening(chain: tuple[Hooks, ...], event: str) -> bool:
    """True if any registry of ``chain`` has a hook for ``event``."""
    for registry in chain:  # noqa: SIM110 - any() and its generator cost 3x: asked once a job
        if event in registry._by_event:  # only events with hooks are kept (see remove)
            return True
    return False


def fire(chain: tuple[Hooks, ...], event: str, *args: Any) -> Awaitable[None]:
    """Call every hook of ``event`` in ``chain`` order; log (never raise) what they raise.

    With no hook for the event (the usual case, once per job) nothing is created.
    """
    if not listening(chain, event):
        return _DONE
    return _call(event, [hook for registry in chain for hook in registry.get(event)], args)


async def _call(event: str, hooks: list[Hook], args: tuple[Any, ...]) -> None:
    for hook in hooks:
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("%r hook %r raised; ignored", event, hook)


_NOTHING = contextlib.nullcontext(())


def around(
    chain: tuple[Hooks, ...], event: str, *args: Any
) -> contextlib.AbstractContextManager[Sequence[Any]]:
    """Enter the context manager each hook of ``event`` returns (called with ``args``), in
    ``chain`` order, around a ``with`` block; exit them in reverse order. The block gets what
    their ``__enter__`` returned.

    A hook that raises (when called, entered or exited) is logged and left out; the block's
    own exception always goes on, never swallowed nor replaced. With no hook for the event
    (the usual case, once per job) nothing is created.

    Example::

        with around(chain, "perform", job):
            await handler(job)
    """
    if not listening(chain, event):
        return _NOTHING
    return _Around(event, [hook for registry in chain for hook in registry.get(event)], args)


class _Around:
    """The context managers of some hooks, entered as one."""

    __slots__ = ("_args", "_entered", "_event", "_hooks")

    def __init__(self, event: str, hooks: list[Hook], args: tuple[Any, ...]) -> None:
        self._event = event
        self._hooks = hooks
        self._args = args
        self._entered: list[contextlib.AbstractContextManager[Any]] = []

    def __enter__(self) -> list[Any]:
        values = []
        for hook in self._hooks:
            try:
                manager = hook(*self._args)
                values.append(manager.__enter__())
            except Exception:
                logger.exception("%r hook %r raised; ignored", self._event, hook)
            else:
                self._entered.append(manager)
        return values

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for manager in reversed(self._entered):
            try:
                manager.__exit__(exc_type, exc, tb)  # what it returns is ignored: no swallowing
            except Exception as raised:
                if raised is not exc:
                    logger.exception("%r hook %r raised; ignored", self._event, manager)
