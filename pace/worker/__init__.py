"""The worker, in the order a job meets it:

- :mod:`pace.worker.core`: :class:`Worker`: its settings, its life cycle, and the loop that
  fetches jobs and runs them;
- :mod:`pace.worker.inflight`: the in-flight list and the Lua calls that move jobs in and out;
- :mod:`pace.worker.settle`: storing each outcome (group-commit acknowledgements, failures,
  retries), backing off while Redis is away;
- :mod:`pace.worker.housekeeping`: the background loops, each under one runner that survives
  anything;
- :mod:`pace.worker.registration`, :mod:`pace.worker.schedule`: Resque's worker registry and
  the schedule of delayed jobs;
- :mod:`pace.worker.runtime`: handler lookup, signals, cancelling tasks.
"""

from pace.job import Handler
from pace.worker.core import Worker

__all__ = ["Handler", "Worker"]
