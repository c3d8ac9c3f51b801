"""The Redis URL lookup order, redaction, and a clear error for an unreachable Redis."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import pace
from pace.connection import DEFAULT_REDIS_URL, redact, resolve_url


def test_lookup_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(pace, "redis_url", None)
    assert resolve_url() == DEFAULT_REDIS_URL == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", "redis://env/1")
    assert resolve_url() == "redis://env/1"
    monkeypatch.setattr(pace, "redis_url", "redis://module/2")
    assert resolve_url() == "redis://module/2"
    assert resolve_url("rediss://explicit/3") == "rediss://explicit/3"


def test_redact_hides_only_the_password() -> None:
    assert redact("redis://:s3cret@host:6380/0") == "redis://:***@host:6380/0"
    assert redact("rediss://user:pw@host/0") == "rediss://user:***@host/0"
    assert redact("unix:///tmp/r.sock?db=1") == "unix:///tmp/r.sock?db=1"


async def test_unreachable_redis_is_one_clear_error() -> None:
    with pytest.raises(pace.RedisUnavailable) as info:
        await pace.connect("redis://:pw@127.0.0.1:1/0")
    message = str(info.value)
    assert "redis://:***@127.0.0.1:1/0" in message
    assert "--embedded" in message
    assert "\n" not in message


async def test_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(pace.ConfigError, match="bad Redis URL"):
        await pace.connect("http://nope")


async def test_unix_socket_urls_work(redis_url: str) -> None:
    assert redis_url.startswith("unix://")
    client = await pace.connect(redis_url)
    assert await client.ping()
    await client.aclose()


def test_make_test_runs_on_the_lowest_redis_py_allowed() -> None:
    """``make test`` runs the connection, fault and delivery tests again on ``REDIS_PY_LOWEST``:
    it must be the minimum ``pyproject.toml`` declares."""
    root = Path(__file__).parent.parent
    (lowest,) = re.findall(r"^REDIS_PY_LOWEST := (\S+)$", (root / "Makefile").read_text(), re.M)
    requirements = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"redis[hiredis]>={lowest}" in requirements
