"""pace's public face: one sorted __all__, every name importable (httpx's model)."""

from __future__ import annotations

import pace

PUBLIC = [
    "BatchJob", "CannotRequeue", "Client", "ConfigError", "EmbeddedUnavailable", "Failure",
    "Failures", "Handler", "Info", "InvalidPayload", "Job", "JobError", "JobTimeout",
    "Limit", "Limits", "MultiStepTask", "NoSuchBatch", "NoSuchFailure", "NoSuchMultiStepTask",
    "NoSuchStagedGroup",
    "PaceError", "Pause", "Pauses", "PoisonJob", "Progress", "RedisUnavailable",
    "RequeueSummary", "Retry", "RetryPolicy", "Stage", "StageComplete", "StagedGroup",
    "StagedJobHandle", "Tick", "UnknownJobClass", "Worker", "__version__", "connect",
    "current_job", "enqueue", "redis_url", "run",
]  # fmt: skip


def test_all_is_sorted_and_pinned() -> None:
    assert pace.__all__ == sorted(pace.__all__)
    assert pace.__all__ == PUBLIC, "a change to the public API: update PUBLIC deliberately"


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    for name in pace.__all__:
        assert getattr(pace, name) is not None or name == "redis_url", name
    assert set(pace.__all__) <= set(dir(pace))


def test_public_classes_say_they_are_pace_s() -> None:
    for name in pace.__all__:
        value = getattr(pace, name)
        if isinstance(value, type):
            assert value.__module__.startswith("pace."), name
            assert value.__doc__, f"{name} has no docstring"
