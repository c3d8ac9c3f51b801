"""The one validator of settings: whole numbers and numbers (seconds, rates).

Every setting pace takes goes through :func:`count` or :func:`number`, so the rules (``True``
is not a number, NaN and infinities are refused, the bound is named) and the message (what
to fix, and the value given) are the same everywhere.

Example::

    concurrency = count("concurrency", concurrency)                  # >= 1
    timeout = number("job_timeout", timeout, positive=True, optional=True)
"""

from __future__ import annotations

import math
from typing import Any, Literal, overload

from pace.errors import ConfigError

__all__ = ["count", "number"]


def count(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` if it is a whole number >= ``minimum``, else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


@overload
def number(
    name: str,
    value: Any,
    *,
    positive: bool = ...,
    at_least: float | None = ...,
    at_most: float | None = ...,
    optional: Literal[False] = ...,
    unit: str = ...,
) -> float: ...
@overload
def number(
    name: str,
    value: Any,
    *,
    positive: bool = ...,
    at_least: float | None = ...,
    at_most: float | None = ...,
    optional: Literal[True],
    unit: str = ...,
) -> float | None: ...
def number(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    at_least: float | None = None,
    at_most: float | None = None,
    optional: bool = False,
    unit: str = "seconds",
) -> float | None:
    """``value`` as a float if it is a finite number in range, else raise :class:`ConfigError`.

    By default the range is ``>= 0``; ``positive`` makes it ``> 0``; ``at_least`` and
    ``at_most`` set other bounds. ``optional`` lets ``None`` through. ``unit`` names what the
    number counts, in the message (``"seconds"``; ``""`` for a plain number).
    """
    if value is None and optional:
        return None
    low = 0.0 if at_least is None else at_least
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (value <= low if positive else value < low)
        or (at_most is not None and value > at_most)
    ):
        what = f"a number of {unit}" if unit else "a number"
        bound = f"> {low:g}" if positive else f">= {low:g}"
        if at_most is not None:
            bound += f" and <= {at_most:g}"
        nothing = " (or None)" if optional else ""
        raise ConfigError(f"{name} must be {what} {bound}{nothing}, got {value!r}")
    return float(value)
