"""Every key pace owns comes from pace.keys, and progress scopes can never take one."""

from __future__ import annotations

import inspect

import pytest

import pace
from pace.errors import ConfigError
from pace.keys import RESERVED, Keys, reserved


def pace_keys(keys: Keys) -> list[str]:
    """Every key under ``<ns>:pace:`` that a method or property of Keys names."""
    names = []
    for name, member in inspect.getmembers(Keys):
        if name.startswith("_") or name in ("pace", "progress"):
            continue
        if isinstance(member, property):
            names.append(getattr(keys, name))
        elif inspect.isfunction(member):
            arity = len(inspect.signature(member).parameters) - 1
            names.append(member(keys, *["x"] * arity))
    prefix = keys.pace("")
    return [key for key in names if key.startswith(prefix)]


def test_every_key_pace_owns_is_reserved() -> None:
    keys = Keys("resque")
    owned = pace_keys(keys)
    assert len(owned) >= 8
    for key in owned:
        assert reserved(key.removeprefix(keys.pace(""))), f"{key} is not reserved"


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_a_progress_scope_cannot_start_with_a_name_pace_uses(name: str) -> None:
    """A scope named ``paused`` once wrote into the fleet-pause hash."""
    with pytest.raises(ConfigError, match=f"cannot start with {name!r}"):
        pace.Progress((name, 1), total=1)
    with pytest.raises(ConfigError, match=f"cannot start with {name!r}"):
        Keys().progress(name)


def test_a_batch_scope_of_one_word_is_free_but_its_subkeys_are_not() -> None:
    assert Keys().progress("batch") == "resque:pace:batch"
    with pytest.raises(ConfigError):
        Keys().progress("batch:abc")
