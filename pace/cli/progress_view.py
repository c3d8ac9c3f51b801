"""Terminal progress bars of a scope (rich), for ``pace-worker progress SCOPE [--watch]``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from pace.connection import connect
from pace.keys import DEFAULT_NAMESPACE
from pace.progress import RedisStore, Tick, jobs, scope_key

__all__ = ["describe", "show"]


def describe(tick: Tick, now: datetime | None = None) -> str:
    """``running, ETA 12s`` / ``completed in 3s`` / ``failed: reason``."""
    now = now or datetime.now(UTC)
    if tick.failed:
        return f"failed: {tick.error}"
    if tick.completed:
        return f"completed in {tick.elapsed.total_seconds():.0f}s"
    eta = tick.eta
    if eta is None:
        return tick.status
    return f"{tick.status}, ETA {max(0.0, (eta - now).total_seconds()):.0f}s"


async def show(
    scope: Sequence[str],
    redis_url: str | None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    watch: bool = False,
    console: Console | None = None,
) -> None:
    """Print a bar per job of ``scope``; with ``watch``, refresh every second until every job
    is over."""
    console = console or Console()
    redis = await connect(redis_url)
    store = RedisStore(redis, namespace=namespace)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%  {task.completed:.0f}/{task.total}"),
        TextColumn("{task.fields[state]}"),
    )
    try:
        with Progress(*columns, console=console, auto_refresh=False) as bars:
            rows: dict[str, TaskID] = {}
            while True:
                ticks = await jobs(scope, store=store)
                for job_id, tick in sorted(ticks.items(), key=lambda item: item[1].started_at):
                    label = f"{tick.name or ''} {job_id[:12]}".strip()
                    total = tick.total if tick.total else None
                    state = describe(tick)
                    if job_id not in rows:
                        rows[job_id] = bars.add_task(label, total=total, state=state)
                    bars.update(rows[job_id], completed=tick.count, total=total, state=state)
                if not ticks:
                    console.print(f"no progress in scope {scope_key(scope)}")
                bars.refresh()
                if not watch or not any(tick.running for tick in ticks.values()):
                    return
                await asyncio.sleep(1.0)
    finally:
        await redis.aclose()
