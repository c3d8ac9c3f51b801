"""Failure records, as Resque writes them to ``resque:failed``."""

from __future__ import annotations

import base64
import traceback
from typing import Any

from pace._time import failed_at, utcnow
from pace.job import encode

__all__ = ["exception_name", "failure_record"]


def exception_name(exc: BaseException) -> str:
    """``ZeroDivisionError`` for builtins, ``module.Class`` otherwise."""
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _backtrace(exc: BaseException) -> list[str]:
    """Ruby-style lines, innermost first: ``file.py:12:in `perform'``."""
    frames = traceback.extract_tb(exc.__traceback__)
    return [f"{frame.filename}:{frame.lineno}:in `{frame.name}'" for frame in reversed(frames)]


def _encodable(payload: dict[str, Any]) -> bool:
    try:
        encode(payload)
    except ValueError:  # UnicodeEncodeError included
        return False
    return True


def failure_record(
    *, queue: str, raw: bytes, payload: dict[str, Any] | None, exc: BaseException, worker_id: str
) -> dict[str, Any]:
    """A ``resque:failed`` entry, keys in Resque's order.

    ``payload`` is the decoded job; for bytes that would not decode (or whose decoded form
    JSON cannot hold: an infinite float, a lone surrogate) it is the raw text, kept verbatim,
    and bytes that are not UTF-8 are also kept as ``raw_payload_base64``.
    """
    if payload is not None and not _encodable(payload):
        payload = None
    record: dict[str, Any] = {
        "failed_at": failed_at(utcnow()),
        "payload": payload,
        "exception": exception_name(exc),
        "error": str(exc),
        "backtrace": _backtrace(exc),
        "worker": worker_id,
        "queue": queue,
    }
    if payload is None:
        try:
            record["payload"] = raw.decode()
        except UnicodeDecodeError:
            record["payload"] = raw.decode(errors="replace")
            record["raw_payload_base64"] = base64.b64encode(raw).decode()
    return record
