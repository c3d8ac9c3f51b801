"""hooks.fire and hooks.around: order, sync and async hooks, a raising hook isolated, nothing
made when idle."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from pace import hooks
from pace.errors import ConfigError


async def test_hooks_fire_in_chain_order_sync_and_async_and_a_raising_one_is_isolated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    every, mine = hooks.Hooks(), hooks.Hooks()
    calls: list[tuple[str, int]] = []

    async def late(n: int) -> None:
        calls.append(("mine", n))

    def broken(n: int) -> None:
        raise RuntimeError("a broken hook")

    every.add("processed", lambda n: calls.append(("every", n)))
    mine.add("processed", broken)
    mine.add("processed", late)
    with caplog.at_level(logging.ERROR, logger="pace"):
        await hooks.fire((every, mine), "processed", 7)
    assert calls == [("every", 7), ("mine", 7)]
    assert "a broken hook" in caplog.text


def test_with_no_hook_for_the_event_nothing_is_created() -> None:
    chain = (hooks.Hooks(), hooks.Hooks())
    chain[0].add("error", print)
    assert not hooks.listening(chain, "processed")
    assert hooks.fire(chain, "processed", 1) is hooks.fire(chain, "start", 2), "one shared no-op"


def test_unknown_events_and_uncallable_hooks_are_refused_and_remove_is_forgiving() -> None:
    registry = hooks.Hooks()
    with pytest.raises(ConfigError, match="unknown hook event 'processd'"):
        registry.add("processd", print)
    with pytest.raises(ConfigError, match="must be callable"):
        registry.add("error", "print")  # type: ignore[arg-type]
    registry.remove("error", print)
    registry.add("error", print)
    registry.remove("error", print)
    assert registry.get("error") == []


def test_around_enters_in_chain_order_exits_in_reverse_and_gives_what_they_entered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    every, mine = hooks.Hooks(), hooks.Hooks()
    calls: list[str] = []

    @contextlib.contextmanager
    def named(name: str, job: int) -> Iterator[str]:
        calls.append(f"enter {name} {job}")
        yield name
        calls.append(f"exit {name}")

    def broken(job: int) -> None:
        raise RuntimeError("a broken hook")

    every.add("perform", lambda job: named("every", job))
    mine.add("perform", broken)
    mine.add("perform", lambda job: named("mine", job))
    with (
        caplog.at_level(logging.ERROR, logger="pace"),
        hooks.around((every, mine), "perform", 7) as entered,
    ):
        calls.append("block")
    assert entered == ["every", "mine"]
    assert calls == ["enter every 7", "enter mine 7", "block", "exit mine", "exit every"]
    assert "a broken hook" in caplog.text


def test_around_never_swallows_nor_replaces_the_block_s_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = hooks.Hooks()
    seen: list[BaseException] = []

    @contextlib.contextmanager
    def swallow(job: int) -> Iterator[None]:
        try:
            yield
        except ValueError as exc:
            seen.append(exc)  # returns: a plain `with` would swallow the error here

    @contextlib.contextmanager
    def replace(job: int) -> Iterator[None]:
        try:
            yield
        except ValueError:
            raise KeyError("replaced") from None

    registry.add("perform", swallow)
    registry.add("perform", replace)
    with (
        caplog.at_level(logging.ERROR, logger="pace"),
        pytest.raises(ValueError, match="the job's"),
        hooks.around((registry,), "perform", 1),
    ):
        raise ValueError("the job's")
    assert [str(exc) for exc in seen] == ["the job's"]
    assert "replaced" in caplog.text


def test_around_with_no_hook_creates_nothing_and_coroutine_hooks_are_refused() -> None:
    chain = (hooks.Hooks(), hooks.Hooks())
    chain[0].add("error", print)
    assert hooks.around(chain, "perform", 1) is hooks.around(chain, "perform", 2)

    async def coroutine(job: int) -> None: ...

    with pytest.raises(ConfigError, match="returning a context manager"):
        chain[0].add("perform", coroutine)


def test_a_client_s_hooks_take_client_events_only() -> None:
    registry = hooks.Hooks(hooks.CLIENT_EVENTS)
    registry.add("enqueue", contextlib.nullcontext)
    with pytest.raises(ConfigError, match="unknown hook event 'processed'; choose one of enqueue"):
        registry.add("processed", print)
    with pytest.raises(ConfigError, match="unknown hook event 'enqueue'"):
        hooks.Hooks().add("enqueue", print)
