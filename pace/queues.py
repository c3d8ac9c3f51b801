"""A worker's queue list: priority order, ``*``, globs and ``!name`` exclusions, as Resque does."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence

from pace.errors import ConfigError

__all__ = ["QueueSelector", "check_queue_name"]

_GLOB = re.compile(r"[*?\[\]{}]")


def check_queue_name(name: str) -> str:
    """Return ``name`` if it can be a queue name, else raise :class:`ConfigError`."""
    if not name or ":" in name or any(ch.isspace() for ch in name):
        raise ConfigError(
            f"bad queue name {name!r}: a queue name is non-empty, without ':' or spaces"
        )
    return name


class QueueSelector:
    """The queues a worker polls, in priority order (earlier = higher priority).

    A static list (``["high", "normal"]``) is polled as given. A list with a pattern is
    dynamic: ``*`` is every known queue sorted by name, ``low_*`` a glob over the known
    queues, ``!name`` drops a queue; then even a plain name is polled only if it is known.

    Example::

        QueueSelector(["high", "*", "!low"]).resolve({"high", "low", "mail"})
        # ['high', 'mail']
    """

    __slots__ = ("dynamic", "spec")

    def __init__(self, spec: Sequence[str]) -> None:
        if isinstance(spec, str):
            spec = [part for part in spec.split(",") if part]
        if not isinstance(spec, list | tuple) or not all(isinstance(q, str) for q in spec):
            raise ConfigError(
                "queues: give a list of queue names (or one string, 'high,low'), "
                f"got {spec!r}"
            )
        if not spec:
            raise ConfigError("queues: give at least one queue name or '*'")
        for item in spec:
            name = item[1:] if item.startswith("!") else item
            if not _GLOB.search(name):
                check_queue_name(name)
            elif ":" in name:
                raise ConfigError(f"bad queue pattern {item!r}: queue names never contain ':'")
        self.spec: tuple[str, ...] = tuple(spec)
        self.dynamic = any(_GLOB.search(item) or item.startswith("!") for item in self.spec)

    def __str__(self) -> str:
        return ",".join(self.spec)

    def resolve(self, known: Iterable[str] = ()) -> list[str]:
        """The queue names to poll, in order, given the names in ``resque:queues``."""
        if not self.dynamic:
            return list(self.spec)
        known_sorted = sorted(known)
        known_set = set(known_sorted)
        excluded = [item[1:] for item in self.spec if item.startswith("!")]
        order: dict[str, None] = {}
        for item in self.spec:
            if item.startswith("!"):
                continue
            if _GLOB.search(item):
                matches = [name for name in known_sorted if fnmatch.fnmatchcase(name, item)]
            else:
                matches = [item] if item in known_set else []
            order.update(
                dict.fromkeys(
                    name
                    for name in matches
                    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in excluded)
                )
            )
        return list(order)
