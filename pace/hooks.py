"""Hooks: user callables fired at documented moments; a hook's exception is logged, never raised.

Events and their arguments:

- ``"start"``: ``(worker)``, once the worker is registered and about to take jobs.
- ``"processed"``: ``(job)``, after a job succeeded and its outcome is stored.
- ``"error"``: ``(payload, exc)``, after a failure is stored; ``payload`` is the job's decoded
  payload (the raw text when it would not decode), or ``None`` when the error is not a job's.
  Inside the hook, :func:`pace.current_job` returns the job, if there is one.
- ``"shutdown"``: ``(worker)``, after the worker unregistered.

A hook may be a plain function or a coroutine function.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from pace.errors import ConfigError

__all__ = ["EVENTS", "Hook", "Hooks", "fire", "listening"]

logger = logging.getLogger("pace")

Hook = Callable[..., Any]
EVENTS = ("error", "processed", "shutdown", "start")


class Hooks:
    """Hooks by event, for one worker or (``Worker.class_hooks``) for every worker.

    Example::

        hooks = Hooks()
        hooks.add("error", lambda payload, exc: print(payload, exc))
    """

    __slots__ = ("_by_event",)

    def __init__(self) -> None:
        self._by_event: dict[str, list[Hook]] = {}

    def add(self, event: str, hook: Hook) -> None:
        """Register ``hook`` for ``event``; raises :class:`ConfigError` for an unknown event."""
        if event not in EVENTS:
            raise ConfigError(f"unknown hook event {event!r}; choose one of {', '.join(EVENTS)}")
        if not callable(hook):
            raise ConfigError(f"a {event!r} hook must be callable, got {hook!r}")
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
    return any(registry.get(event) for registry in chain)


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
