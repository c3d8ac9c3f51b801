"""Redis Cluster: the embedded cluster, and pace's keys spread over its masters."""

from __future__ import annotations

import pytest
from redis.asyncio import RedisCluster

import pace
from pace.embedded import EmbeddedCluster
from pace.errors import RedisUnavailable


async def test_the_embedded_cluster_has_three_masters_sharing_every_slot(
    cluster_server: EmbeddedCluster,
) -> None:
    redis = await pace.connect(cluster_server.url)
    try:
        assert isinstance(redis, RedisCluster)
        masters = redis.get_primaries()
        assert len(masters) == 3
        assert {node.host for node in masters} == {"127.0.0.1"}
        info = await redis.cluster_info(target_nodes=RedisCluster.PRIMARIES)
        assert all(node_info["cluster_state"] == "ok" for node_info in info.values())
        owners = {redis.get_node_from_key(f"resque:queue:q{i}").name for i in range(6)}
        assert len(owners) > 1
    finally:
        await redis.aclose()


async def test_a_cluster_url_that_nothing_answers_is_redis_unavailable() -> None:
    with pytest.raises(RedisUnavailable, match=r"127\.0\.0\.1:1"):
        await pace.connect("redis+cluster://127.0.0.1:1")

