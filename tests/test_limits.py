"""Fleet-wide limits per queue: how they are given, stored and listed (pace.limits, the CLI)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

import pace
from pace.errors import ConfigError
from pace.limits import parse_rate
from tests.test_cli import pace_cli


@pytest.mark.parametrize(
    ("rate", "parsed"), [("100/s", (100, 1.0)), ("20/m", (20, 60.0)), (" 7 / h ", (7, 3600.0))]
)
def test_rates_are_jobs_per_second_minute_or_hour(rate: str, parsed: tuple[int, float]) -> None:
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["100", "100/d", "0/s", "-1/s", "1.5/s", "", "s/100"])
def test_a_rate_that_is_not_n_per_unit_says_what_to_write(rate: str) -> None:
    with pytest.raises(ConfigError, match=r"N/s, N/m or N/h|whole number >= 1"):
        parse_rate(rate)


async def test_limits_are_set_per_bound_listed_and_cleared(redis: Redis) -> None:
    limits = pace.Limits(redis)
    assert await limits.set("mail", rate="100/s") == pace.Limit("mail", 100, 1.0, None)
    assert await limits.set("mail", concurrency=5) == pace.Limit("mail", 100, 1.0, 5)
    await limits.set("api", concurrency=1)
    assert [str(limit) for limit in await limits.list()] == [
        "api: 1 at once",
        "mail: 100/s, 5 at once",
    ]
    assert await redis.hgetall("resque:pace:limit:{resque:queue:mail}") == {
        b"rate": b"100", b"period": b"1.0", b"concurrency": b"5"
    }
    assert await limits.clear("mail")
    assert not await limits.clear("mail")
    assert await limits.get("mail") is None
    assert [limit.queue for limit in await limits.list()] == ["api"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "give a rate"),
        ({"concurrency": 0}, "concurrency must be a whole number >= 1"),
        ({"rate": "fast"}, "a rate is N/s"),
    ],
)
async def test_bad_limits_are_refused_and_nothing_is_stored(
    redis: Redis, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        await pace.Limits(redis).set("mail", **settings)  # type: ignore[arg-type]
    assert await redis.keys("resque:pace:limit*") == []


async def test_the_cli_sets_lists_and_clears_limits(redis: Redis, cli_env: dict[str, str]) -> None:
    done = await pace_cli("limit", "mail", "--rate", "100/s", "--concurrency", "5", env=cli_env)
    assert (done.returncode, done.stdout) == (0, "mail: 100/s, 5 at once\n")
    assert (await pace_cli("limit", env=cli_env)).stdout == "mail: 100/s, 5 at once\n"
    bad = await pace_cli("limit", "mail", "--rate", "100/x", env=cli_env)
    assert (bad.returncode, bad.stderr.strip()) == (
        2, "pace-worker: error: a rate is N/s, N/m or N/h (like 100/s), got '100/x'"
    )  # fmt: skip
    cleared = await pace_cli("limit", "mail", "--clear", env=cli_env)
    assert cleared.stdout == "mail: limit cleared\n"
    assert (await pace_cli("limit", env=cli_env)).stdout == ""
