"""Every Redis key pace reads or writes, the namespace applied in one place.

Keys Resque owns follow ``docs/resque-format.md``; everything pace adds lives under
``<namespace>:pace:``. The names pace itself uses there are reserved (:data:`RESERVED`):
progress scopes, which share that space (``<ns>:pace:user:3421``), can never take one.

A key pace's scripts touch together with a queue carries a hash tag equal to the part of the
queue's key that Redis Cluster hashes (:func:`slot_tag`): ``resque:pace:inflight:{resque:queue:
mail}:<worker>`` lives in the slot of ``resque:queue:mail``, so each script touches one slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from pace.errors import ConfigError

__all__ = [
    "DEFAULT_NAMESPACE", "PROGRESSRUS_PREFIX", "RESERVED", "Keys", "progressrus", "reserved",
    "slot_tag",
]  # fmt: skip

DEFAULT_NAMESPACE = "resque"

PROGRESSRUS_PREFIX = "progressrus"
"""The Ruby gem Progressrus's default key prefix: its scope ``[:user, 3421]`` is the hash
``progressrus:user:3421`` (no Resque namespace)."""

# fmt: off
RESERVED = frozenset({
    "batches", "deliveries", "inflight", "limit", "limits", "paused", "schedule", "worker",
    "workers",
})
# fmt: on
"""First parts of pace's own keys under ``<ns>:pace:``; no progress scope may start with one."""
_RESERVED_PREFIXES = frozenset({"batch"})
"""Reserved when more parts follow (``batch:<id>...``); a scope of that one word is free."""


def reserved(scope: str) -> bool:
    """True if ``<ns>:pace:<scope>`` could be (or contain) one of pace's own keys."""
    head, sep, _rest = scope.partition(":")
    return head in RESERVED or (bool(sep) and head in _RESERVED_PREFIXES)


def slot_tag(key: str) -> str:
    """``{part}``, where ``part`` is what Redis Cluster hashes of ``key`` (its own hash tag, or
    all of it): a key containing this lands in the same slot as ``key``.

    Raises:
        ConfigError: ``key`` has a ``}`` but no hash tag, so no tag can equal it.
    """
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    if end > start + 1:
        return key[start : end + 1]
    if "}" in key:
        raise ConfigError(f"{key!r} has a '}}' but no hash tag: pace cannot put a key beside it")
    return "{" + key + "}"


def progressrus(prefix: str, scope: str) -> str:
    """Hash of a progress scope as the Ruby gem Progressrus names it: ``<prefix>:<scope>``.

    Raises:
        ConfigError: the prefix is empty or ends with ``:``.
    """
    if not isinstance(prefix, str) or not prefix or prefix.endswith(":"):
        raise ConfigError(f"a Progressrus prefix is a name without a trailing ':', got {prefix!r}")
    return f"{prefix}:{scope}"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one Resque namespace.

    Example::

        keys = Keys("resque")
        keys.queue("high")   # 'resque:queue:high'
    """

    namespace: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        if not self.namespace or self.namespace.endswith(":"):
            raise ConfigError(
                f"namespace must be a non-empty name without a trailing ':', got {self.namespace!r}"
            )

    def _key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    # Queues and jobs
    @property
    def queues(self) -> str:
        """Set of every known queue name."""
        return self._key("queues")

    def queue(self, name: str) -> str:
        """List of pending jobs of one queue."""
        return self._key("queue", name)

    @property
    def pause_all(self) -> str:
        """While this string is ``"true"``, Ruby workers (and pace) take no jobs."""
        return self._key("pause-all-workers")

    # Failures and stats
    @property
    def failed(self) -> str:
        """List of failure records."""
        return self._key("failed")

    def stat(self, name: str, worker_id: str | None = None) -> str:
        """Counter ``stat:processed`` / ``stat:failed``, global or for one worker."""
        return self._key("stat", name) if worker_id is None else self._key("stat", name, worker_id)

    # Workers
    @property
    def workers(self) -> str:
        """Set of registered worker ids."""
        return self._key("workers")

    def worker(self, worker_id: str) -> str:
        """JSON of the job a worker is working on; absent when idle."""
        return self._key("worker", worker_id)

    def worker_started(self, worker_id: str) -> str:
        """A worker's start time."""
        return self._key("worker", worker_id, "started")

    @property
    def heartbeats(self) -> str:
        """Hash of worker id to last heartbeat time."""
        return self._key("workers", "heartbeat")

    # pace's own keys
    def pace(self, *parts: str) -> str:
        """A key of pace's own, under ``<namespace>:pace:``."""
        return self._key("pace", *parts)

    def progress(self, scope: str) -> str:
        """Hash of the progress entries of a scope (``user:3421``), by job id.

        Raises:
            ConfigError: the scope starts with a name pace uses (:data:`RESERVED`).
        """
        if reserved(scope):
            head = scope.partition(":")[0]
            raise ConfigError(f"progress scopes cannot start with {head!r}: pace uses that name")
        return self.pace(scope)

    def worker_jobs(self, worker_id: str) -> str:
        """JSON list of every job a (concurrent) worker is running."""
        return self.pace("worker", worker_id, "jobs")

    def worker_metrics(self, worker_id: str) -> str:
        """pace: JSON of a worker's job durations and rate-limit waits (pace.metrics)."""
        return self.pace("worker", worker_id, "metrics")

    def lane(self, queue: str, worker_id: str) -> str:
        """set of the numbers of a worker's fetches from ``queue`` whose jobs are not all
        settled; the lane's other keys are this key and a suffix (:mod:`pace.worker.inflight`):
        ``:<number>`` a fetch's list of payloads, ``:settled`` a set of the jobs settled while
        others of their fetch run, ``:outbox`` a list of failure records and retries being
        written, ``:fenced`` a marker the recovery of a worker taken for dead leaves for a
        day (the lane then refuses that worker's fetches). In the slot of ``queue``."""
        return self.pace("inflight", slot_tag(self.queue(queue)), worker_id)

    def worker_lanes(self, worker_id: str) -> str:
        """set of the queues a worker has lanes (jobs in flight) on."""
        return self.pace("worker", worker_id, "lanes")

    def alive(self, worker_id: str) -> str:
        """a worker's liveness key, refreshed every few seconds with a short TTL."""
        return self.pace("worker", worker_id, "alive")

    @property
    def pace_workers(self) -> str:
        """set of the ids of pace workers (whose in-flight jobs recovery watches)."""
        return self.pace("workers")

    def deliveries(self, queue: str) -> str:
        """hash of ``sha1(payload)`` to how often a job of ``queue`` was recovered from a dead
        worker. In the slot of ``queue``."""
        return self.pace("deliveries", slot_tag(self.queue(queue)))

    @property
    def limits(self) -> str:
        """set of the names of the queues that have a fleet-wide limit (pace.limits)."""
        return self.pace("limits")

    def limit(self, queue: str, *parts: str) -> str:
        """hash of a queue's fleet-wide limit (``rate``, ``period``, ``concurrency``,
        ``admitted``: jobs taken under it, and each fetch list's jobs in flight), or
        ``limit(queue, "starts")``, the sorted set of its rate's window. In the slot of
        ``queue`` (pace/lua/lib/limit.lua)."""
        return self.pace("limit", slot_tag(self.queue(queue)), *parts)

    @property
    def paused(self) -> str:
        """pace: hash of ``queue:<name>`` / ``worker:<id>`` to when the pause ends (0: never)."""
        return self.pace("paused")

    @property
    def schedule(self) -> str:
        """sorted set of ``queue:payload`` by the Unix time it is due (retries, delays)."""
        return self.pace("schedule")

    @property
    def schedule_mover(self) -> str:
        """string: the token of the worker moving due jobs on a Redis Cluster, where the move
        cannot be one script (:mod:`pace.worker.schedule`); expires on its own."""
        return self.pace("schedule", "mover")

    # Batches (pace/batch.py): multi-step tasks and staged groups
    @property
    def batches(self) -> str:
        """sorted set of every batch id by creation time (Unix seconds)."""
        return self.pace("batches")

    def batch(self, batch_id: str, *parts: str) -> str:
        """A batch's hash (fields and counters), or one of its other keys.

        ``batch(id)`` hash; ``batch(id, "jobs")`` hash job id -> status;
        ``batch(id, "messages")`` hash job id -> status message; ``batch(id, "info")`` hash
        job id -> JSON of class, args, queue, queue_time and stage; ``batch(id, "stage", n,
        "jobs")`` list of the stage's job ids in order; ``batch(id, "stage", n, "pending")``
        list of the entries to enqueue when a stage that has not started yet starts. The Lua
        scripts of pace/batch.py build the same names from ``batch_prefix``.
        """
        return self.pace("batch", batch_id, *parts)

    @property
    def batch_prefix(self) -> str:
        """``<namespace>:pace:batch:``: a batch's keys are this, its id, then ``:part``."""
        return self.pace("batch", "")
