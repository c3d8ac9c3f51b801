"""RetryPolicy: which failures are retried, and how long each waits (no clock: pure)."""

from __future__ import annotations

import random

import pytest

from pace.errors import ConfigError
from pace.retry import RetryPolicy


def test_delays_grow_by_the_factor_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=10, backoff=1.0, factor=3.0, max_delay=20.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 3.0, 9.0, 20.0, 20.0]


def test_jitter_spreads_each_delay_within_its_fraction() -> None:
    random.seed(7)
    policy = RetryPolicy(backoff=10.0, jitter=0.2)
    delays = [policy.delay(1) for _ in range(500)]
    assert min(delays) >= 8.0
    assert max(delays) <= 12.0
    assert max(delays) - min(delays) > 2.0, "spread, not constant"


def test_only_chosen_exceptions_and_remaining_attempts_are_retried() -> None:
    policy = RetryPolicy(attempts=3, exceptions=(OSError,))
    assert policy.retries(ConnectionError(), attempt=1)
    assert policy.retries(OSError(), attempt=2)
    assert not policy.retries(OSError(), attempt=3), "the third run was the last"
    assert not policy.retries(ValueError(), attempt=1)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"backoff": -1}, "backoff"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": 1.5}, "jitter"),
        ({"exceptions": (int,)}, "exceptions"),
    ],
)
def test_bad_settings_name_themselves(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=f"RetryPolicy {message}"):
        RetryPolicy(**settings)  # type: ignore[arg-type]
