"""Helpers of the worker: handler lookup, signal handlers, cancelling tasks."""

from __future__ import annotations

import asyncio
import inspect
import math
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from pace.errors import ConfigError, UnknownJobClass
from pace.job import Handler

__all__ = [
    "HARD_STOP_WITHIN", "HardStop", "SignalHandlers", "cancel_all", "check_handler", "resolver",
    "unless_cancelled", "wait_unless",
]  # fmt: skip

HARD_STOP_WITHIN = 1.0
"""Seconds a hard stop leaves to the shutdown's talks with Redis, all of them together."""


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


def unless_cancelled(exc: BaseException | None = None) -> None:
    """Raise :class:`asyncio.CancelledError` (from ``exc``) if the current task is being
    cancelled. A loop that goes on after an error (or after a call) checks it: a client
    library may turn a cancellation into an error of its own, and Python 3.11's
    ``asyncio.wait_for`` (which redis-py uses) may return a result and drop the cancel, so a
    loop that carries on would swallow the only cancel it gets."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> None:
    """Cancel ``tasks`` and wait for them, at most ``timeout`` seconds."""
    tasks = [task for task in tasks if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


async def wait_unless(
    tasks: Iterable[asyncio.Task[Any]], timeout: float | None, cut: asyncio.Event
) -> set[asyncio.Task[Any]]:
    """Wait for ``tasks`` at most ``timeout`` seconds (``None``: no limit), less if ``cut``
    is set meanwhile; return those not done."""
    pending = {task for task in tasks if not task.done()}
    if not pending or cut.is_set():
        return pending
    cutting = asyncio.ensure_future(cut.wait())
    try:
        async with asyncio.timeout(timeout):
            while pending and not cutting.done():
                await asyncio.wait([*pending, cutting], return_when=asyncio.FIRST_COMPLETED)
                pending = {task for task in pending if not task.done()}
    except TimeoutError:
        pass
    finally:
        cutting.cancel()
    return {task for task in pending if not task.done()}


class HardStop:
    """A second stop (TERM twice, or TERM after QUIT): every wait of the shutdown ends at
    once, but for talks with Redis, which share what is left of :data:`HARD_STOP_WITHIN`
    seconds, counted from the first that is cut short.

    Example::

        hard = HardStop()
        pending = await hard.within(consumers, 30)    # up to 30 s, less once hard.trigger()
        await hard.run(inflight.release())            # cancelled when its time is out
    """

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self._until = math.inf  # the talks' deadline (time.monotonic()), once counted

    def trigger(self) -> None:
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    async def within(
        self, tasks: Iterable[asyncio.Task[Any]], timeout: float | None, talking: bool = False
    ) -> set[asyncio.Task[Any]]:
        """Wait for ``tasks`` up to ``timeout`` seconds (``None``: no limit); return those not
        done. A hard stop ends the wait at once, but for tasks ``talking`` to Redis."""
        pending = await wait_unless(tasks, timeout, self.event)
        if pending and talking and self.event.is_set():
            if self._until == math.inf:
                self._until = time.monotonic() + HARD_STOP_WITHIN
            left = max(0.0, self._until - time.monotonic())
            pending = (await asyncio.wait(pending, timeout=left))[1]
        return pending

    async def run(self, work: Awaitable[object]) -> None:
        """Await ``work`` (a talk with Redis), no longer than a hard stop allows (then it is
        cancelled: recovery puts back what it leaves)."""
        task = asyncio.ensure_future(work)
        if await self.within([task], None, talking=True):
            task.cancel()
        elif not task.cancelled():
            task.result()


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

