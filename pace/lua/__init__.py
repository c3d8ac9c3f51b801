"""Every Lua script pace runs, one ``.lua`` file each, composed from the libraries in ``lib/``.

A script's first line may name the libraries it is built on (``--! uses: inflight batch``);
they are prepended, in that order, so scripts share logic by composition, never by copy.
Each script's source and SHA are computed once per process; a client runs it with
``EVALSHA`` and loads it (``SCRIPT LOAD``) only when Redis does not have it yet, so a script
is sent to a server once, not with every call.

Example::

    moved = await script("requeue")(redis, keys=[inflight_key], args=[prefix, *entries])
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

__all__ = ["Script", "script"]

_USES = "--! uses:"


@dataclass(frozen=True, slots=True)
class Script:
    """One Lua script: its name, its full source (libraries included) and its SHA1."""

    name: str
    source: str
    sha: str

    async def __call__(self, redis: Any, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run the script with ``keys`` and ``args`` on ``redis`` (a client or a pipeline's
        owner); load it first if the server does not know it."""
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)


def _read(path: str) -> str:
    return resources.files(__package__).joinpath(path).read_text(encoding="utf-8")


@functools.cache
def script(name: str) -> Script:
    """The script ``pace/lua/<name>.lua``, with the libraries it uses prepended."""
    body = _read(f"{name}.lua")
    first, _, rest = body.partition("\n")
    if first.startswith(_USES):
        libraries = [_read(f"lib/{lib}.lua") for lib in first[len(_USES) :].split()]
        body = "\n".join([*libraries, rest])
    return Script(name, body, hashlib.sha1(body.encode()).hexdigest())
