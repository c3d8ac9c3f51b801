"""hooks.fire: order, sync and async hooks, a raising hook isolated, nothing made when idle."""

from __future__ import annotations

import logging

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
