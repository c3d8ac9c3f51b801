"""A worker's own measurements, published to Redis for the web app (``/metrics``, the Stats page)
to add up.

Each worker keeps counts since it started and writes them every second as JSON to
``<ns>:pace:worker:<id>:metrics``::

    {"in_flight": 3, "buckets": [[0.005, 10], ..., ["+Inf", 42]], "sum": 1.25, "count": 42,
     "rate_limit_wait_seconds": 0.5, "limit_wait_seconds": {"api": 12.5},
     "classes": {"SendMail": {"count": 40, "failed": 2, "sum": 1.2, "buckets": [...]}},
     "minutes": [[1795500000, 120, 3, {"mail": [120, 3]}], ...]}

``buckets`` is a cumulative histogram of job durations (Prometheus' default bounds), over
every job and per job class (at most :data:`MAX_CLASSES` classes, then ``(other)``).
``minutes`` holds the jobs finished (failed ones included) and failed in each of the last
:data:`MINUTES` minutes, in total and per queue: ``[minute's Unix start, processed, failed,
{queue: [processed, failed]}]``, only the minutes with jobs.
"""

from __future__ import annotations

import bisect
import json
import math
import time
from typing import Any

__all__ = ["BOUNDS", "MAX_CLASSES", "MINUTES", "OTHER", "WorkerMetrics"]

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the job duration histogram, as Prometheus' default buckets."""
MAX_CLASSES = 100
"""Job classes measured one by one; the others are counted together as :data:`OTHER`."""
MAX_QUEUES = 100
"""Queues counted one by one per minute; the others together as :data:`OTHER`."""
MINUTES = 60
"""Minutes of throughput kept."""
OTHER = "(other)"


class _Histogram:
    """Job durations: counts per bucket (not cumulative; the last is +Inf), sum, failures."""

    __slots__ = ("counts", "failed", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.sum = 0.0
        self.failed = 0

    def add(self, other: _Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.sum += other.sum
        self.failed += other.failed

    def buckets(self) -> list[list[Any]]:
        cumulative, buckets = 0, []
        for bound, count in zip((*BOUNDS, "+Inf"), self.counts, strict=True):
            cumulative += count
            buckets.append([bound, cumulative])
        return buckets


def _capped(counts: dict[str, Any], name: str, most: int) -> str:
    return name if name in counts or len(counts) < most else OTHER


class WorkerMetrics:
    """Job durations, outcomes per class and per minute, and time spent waiting for the rate
    limit, counted in this process.

    Example::

        metrics = WorkerMetrics()
        metrics.observe(0.012, "SendMail", "mail")
        metrics.observe(0.5, "SendMail", "mail", ValueError("no"))  # a failed run
        metrics.to_json(in_flight=0)
    """

    __slots__ = ("_classes", "_counts", "_ends", "_minutes", "_starts", "rate_limit_wait")

    def __init__(self) -> None:
        self._classes: dict[str, _Histogram] = {}  # every job's is their sum (to_json)
        self._minutes: dict[int, dict[str, list[int]]] = {}  # minute -> {queue: [done, failed]}
        self._counts: dict[str, list[int]] = {}  # the current minute's
        self._starts = self._ends = -math.inf  # the current minute's bounds (floats: compared
        self.rate_limit_wait = 0.0  # with time.time() once a job, an int's compare is slower)

    def observe(
        self, seconds: float, class_name: str, queue: str, error: BaseException | None = None
    ) -> None:
        """Count one job of ``class_name`` from ``queue`` that ran for ``seconds`` and ended
        with ``error``: an ``Exception`` is a failure; a cancellation is neither a failure nor
        a job finished. Once a job: only what the published JSON cannot derive is counted."""
        histogram = self._classes.get(class_name)
        if histogram is None:  # a new class (no histogram built per job for setdefault)
            name = _capped(self._classes, class_name, MAX_CLASSES)
            histogram = self._classes.get(name) or self._classes.setdefault(name, _Histogram())
        histogram.counts[bisect.bisect_left(BOUNDS, seconds)] += 1
        histogram.sum += seconds
        if error is not None:
            if not isinstance(error, Exception):
                return
            histogram.failed += 1
        now = time.time()
        if not self._starts <= now < self._ends:
            self._turn(now)
        per_queue = self._counts.get(queue)
        if per_queue is None:
            counts = self._counts
            per_queue = counts.setdefault(_capped(counts, queue, MAX_QUEUES), [0, 0])
        per_queue[0] += 1
        if error is not None:
            per_queue[1] += 1

    def _turn(self, now: float) -> None:
        """A new minute: its counts, and those older than :data:`MINUTES` dropped."""
        minute = int(now // 60) * 60
        counts = self._minutes.get(minute)
        if counts is None:
            counts = self._minutes[minute] = {}
            for old in [m for m in self._minutes if m <= minute - MINUTES * 60]:
                del self._minutes[old]
        self._counts, self._starts, self._ends = counts, float(minute), float(minute + 60)

    def to_json(self, in_flight: int, limit_wait: dict[str, float] | None = None) -> bytes:
        """The published JSON (see the module docstring); ``limit_wait``: seconds each queue
        was held back by its fleet-wide limit (:attr:`pace.worker.holds.Holds.waited`)."""
        every = _Histogram()
        for histogram in self._classes.values():
            every.add(histogram)
        buckets = every.buckets()
        data: dict[str, Any] = {
            "in_flight": in_flight,
            "buckets": buckets,
            "sum": every.sum,
            "count": buckets[-1][1],
            "rate_limit_wait_seconds": self.rate_limit_wait,
            "limit_wait_seconds": limit_wait or {},
            "classes": {
                name: {
                    "count": sum(h.counts),
                    "failed": h.failed,
                    "sum": h.sum,
                    "buckets": h.buckets(),
                }
                for name, h in self._classes.items()
            },
            "minutes": [_minute(start, queues) for start, queues in sorted(self._minutes.items())],
        }
        return json.dumps(data, separators=(",", ":")).encode()


def _minute(minute: int, queues: dict[str, list[int]]) -> list[Any]:
    """A minute as published: its start, jobs finished, failed, and the same per queue."""
    return [minute, sum(c[0] for c in queues.values()), sum(c[1] for c in queues.values()), queues]
