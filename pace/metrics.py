"""A worker's own measurements, published to Redis for ``/metrics`` (the web app) to add up.

Each worker keeps cumulative counts since it started and writes them every second as JSON to
``<ns>:pace:worker:<id>:metrics``::

    {"in_flight": 3, "buckets": [[0.005, 10], ..., ["+Inf", 42]], "sum": 1.25, "count": 42,
     "rate_limit_wait_seconds": 0.5}

``buckets`` is a cumulative histogram of job durations (Prometheus' default bounds).
"""

from __future__ import annotations

import bisect
import json
from typing import Any

__all__ = ["BOUNDS", "WorkerMetrics"]

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the job duration histogram, as Prometheus' default buckets."""


class WorkerMetrics:
    """Job durations and time spent waiting for the rate limit, counted in this process.

    Example::

        metrics = WorkerMetrics()
        metrics.observe(0.012)
        metrics.to_json(in_flight=0)
    """

    __slots__ = ("_counts", "rate_limit_wait", "sum")

    def __init__(self) -> None:
        self._counts = [0] * (len(BOUNDS) + 1)  # per bucket, not cumulative; the last is +Inf
        self.sum = 0.0
        self.rate_limit_wait = 0.0

    def observe(self, seconds: float) -> None:
        """Count one job that ran for ``seconds``."""
        self._counts[bisect.bisect_left(BOUNDS, seconds)] += 1
        self.sum += seconds

    def to_json(self, in_flight: int) -> bytes:
        """The published JSON (see the module docstring)."""
        cumulative, buckets = 0, []
        for bound, count in zip((*BOUNDS, "+Inf"), self._counts, strict=True):
            cumulative += count
            buckets.append([bound, cumulative])
        data: dict[str, Any] = {
            "in_flight": in_flight,
            "buckets": buckets,
            "sum": self.sum,
            "count": cumulative,
            "rate_limit_wait_seconds": self.rate_limit_wait,
        }
        return json.dumps(data, separators=(",", ":")).encode()
