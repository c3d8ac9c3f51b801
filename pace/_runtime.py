"""Private helpers of the worker: handler lookup, signal handlers, cancelling tasks."""

from __future__ import annotations

import asyncio
import inspect
import signal
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from pace.errors import ConfigError, UnknownJobClass
from pace.job import Job

__all__ = ["Handler", "Opened", "SignalHandlers", "cancel_all", "check_handler", "resolver"]

Handler = Callable[[Job], Awaitable[Any]]
"""A job handler: ``async def handler(job: pace.Job) -> None``."""


def check_handler(handler: object, name: str) -> Handler:
    call = getattr(handler, "__call__", None)  # noqa: B004 - an async __call__ counts too
    if not (inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)):
        raise ConfigError(f"{name} must be a coroutine function (async def), got {handler!r}")
    return handler  # type: ignore[return-value]


def resolver(handler: Handler | Mapping[str, Handler]) -> Callable[[str], Handler]:
    """``class name -> coroutine function``, raising :class:`UnknownJobClass` for a stranger."""
    if not isinstance(handler, Mapping):
        one = check_handler(handler, "handler")
        return lambda _class_name: one
    registry = {name: check_handler(fn, f"handler for {name!r}") for name, fn in handler.items()}
    known = ", ".join(sorted(registry)) or "none"

    def lookup(class_name: str) -> Handler:
        try:
            return registry[class_name]
        except KeyError:
            raise UnknownJobClass(
                f"no handler for job class {class_name!r} (registered: {known})"
            ) from None

    return lookup


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> None:
    """Cancel ``tasks`` and wait for them, at most ``timeout`` seconds."""
    tasks = [task for task in tasks if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


class SignalHandlers:
    """Install loop signal handlers for the ``with`` block, then restore the defaults."""

    def __init__(self, actions: Mapping[signal.Signals, Callable[[], None]]) -> None:
        self.actions = actions

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, action in self.actions.items():
            loop.add_signal_handler(sig, action)

    def __exit__(self, *_exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self.actions:
            loop.remove_signal_handler(sig)


class Opened:
    """Something that is awaited (``x = await X(...)``) or entered (``async with X(...) as x``).

    Either way :meth:`_open` runs first; leaving the ``async with`` block runs :meth:`_close`
    with the block's exception (``None`` on a clean exit), then :meth:`aclose` always.
    """

    async def _open(self) -> Self:
        return self

    async def _close(self, exc: BaseException | None) -> None:
        """What leaving the block does, before :meth:`aclose`."""

    async def aclose(self) -> None:
        """Release what this object opened (a Redis connection)."""

    def __await__(self) -> Generator[Any, None, Self]:
        return self._open().__await__()

    async def __aenter__(self) -> Self:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._close(exc)
        finally:
            await self.aclose()
