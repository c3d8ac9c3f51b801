"""The app's handlers and worker settings for pace's fixtures, and a fresh app per test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import newsletter
import pytest

import pace


@pytest.fixture
def pace_handlers() -> Mapping[str, pace.Handler]:
    return newsletter.HANDLERS


@pytest.fixture
def pace_worker_settings() -> dict[str, Any]:
    return {"retry": newsletter.RETRY}


@pytest.fixture(autouse=True)
def store() -> newsletter.Store:
    """The app's in-memory data, new for each test."""
    newsletter.store = newsletter.Store()
    return newsletter.store
