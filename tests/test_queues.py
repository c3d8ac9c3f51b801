"""Queue lists: priority order, '*', globs and exclusions, as Resque resolves them."""

from __future__ import annotations

import pytest

from pace.errors import ConfigError
from pace.queues import QueueSelector

KNOWN = {"high", "low", "mail_eu", "mail_us", "normal"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (["normal", "high"], ["normal", "high"]),
        ("high,normal", ["high", "normal"]),
        (["*"], ["high", "low", "mail_eu", "mail_us", "normal"]),
        (["high", "*"], ["high", "low", "mail_eu", "mail_us", "normal"]),
        (["*", "!low"], ["high", "mail_eu", "mail_us", "normal"]),
        (["mail_*", "high"], ["mail_eu", "mail_us", "high"]),
        (["*", "!mail_*"], ["high", "low", "normal"]),
        (["missing", "*"], ["high", "low", "mail_eu", "mail_us", "normal"]),
    ],
)
def test_resolve(spec: list[str] | str, expected: list[str]) -> None:
    assert QueueSelector(spec).resolve(KNOWN) == expected


def test_a_static_list_is_polled_as_given_even_if_unknown() -> None:
    selector = QueueSelector(["new", "high"])
    assert not selector.dynamic
    assert selector.resolve(set()) == ["new", "high"]
    assert str(selector) == "new,high"


@pytest.mark.parametrize("spec", [[], [""], ["a:b"], ["a b"], ["!x:y"], ["q*:"]])
def test_bad_names_are_refused(spec: list[str]) -> None:
    with pytest.raises(ConfigError):
        QueueSelector(spec)
