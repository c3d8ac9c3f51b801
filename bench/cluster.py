"""Row 8 of ``make bench``: pace on a 3-master Redis Cluster (``pace.embedded.EmbeddedCluster``).

No-op jobs on six queues, two in the slots of each master, drained by as many pace worker
processes as the scale row's largest (``redis+cluster://`` URL); the row shows the jobs/s of
the whole, and each master's Redis CPU per job it served (``INFO cpu`` of every node around
the run).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.crc import key_slot

from pace.embedded import EmbeddedCluster

__all__ = ["node_cpu", "per_master", "queues_over"]


def queues_over(cluster: EmbeddedCluster, per_master: int = 2) -> list[str]:
    """Queue names (``bench-N``), ``per_master`` in the slots of each master, in the order of
    the masters."""
    share = EmbeddedCluster.SLOTS // cluster.masters
    found: list[list[str]] = [[] for _ in range(cluster.masters)]
    n = 0
    while any(len(names) < per_master for names in found):
        name = f"bench-{n}"
        master = min(key_slot(f"resque:queue:{name}".encode()) // share, cluster.masters - 1)
        if len(found[master]) < per_master:
            found[master].append(name)
        n += 1
    return [name for names in found for name in names]


async def node_cpu(cluster: EmbeddedCluster) -> list[float]:
    """CPU seconds (user + system) each master has used, masters in order."""
    seconds = []
    for node in cluster.nodes[: cluster.masters]:
        async with Redis(unix_socket_path=str(node.socket_path)) as redis:
            info = await redis.info("cpu")
        seconds.append(float(info["used_cpu_user"]) + float(info["used_cpu_sys"]))
    return seconds


def per_master(used: Sequence[float], jobs: Sequence[int]) -> dict[str, float]:
    """Sample fields: each master's Redis CPU per job it served, in microseconds."""
    pairs = enumerate(zip(used, jobs, strict=True), 1)
    return {f"master{i}_cpu_us_per_job": cpu * 1e6 / n for i, (cpu, n) in pairs if n}
