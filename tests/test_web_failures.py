"""Failures through the API and the pages: listing, retry, remove, retry all, clear."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from tests.web_support import (
    Client,
    form,
    post,
    ruby_failure,
)

# -- failures ---------------------------------------------------------------------------


async def test_failures_are_listed_and_paged(http: Client, redis: Redis) -> None:
    await redis.rpush("resque:failed", *(ruby_failure(args=[i]) for i in range(30)))
    data = await (await http.get("/api/failures?start=25&count=10")).json()
    assert data["total"] == 30
    assert [f["index"] for f in data["failures"]] == [25, 26, 27, 28, 29]
    first = data["failures"][0]
    assert first["class"] == "Divide"
    assert first["args"] == [25]
    assert first["exception"] == "ZeroDivisionError"
    assert first["backtrace"] == ["app/jobs/divide.rb:3:in `perform'"]
    assert first["retried_at"] is None
    page = await (await http.get("/failures?start=20&count=5")).text()
    assert "20 to 24 of 30" in page
    assert "ZeroDivisionError" in page
    assert (await http.get("/api/failures?count=x")).status == 400


async def test_retry_remove_retry_all_and_clear(http: Client, redis: Redis) -> None:
    await redis.rpush("resque:failed", ruby_failure(args=[0]), ruby_failure(args=[1]))
    retried = await post(http, "/api/failures/1/retry")
    assert retried.status == 200
    assert (await retried.json())["retried"]["index"] == 1
    assert await redis.lrange("resque:queue:q", 0, -1) == [b'{"class":"Divide","args":[1]}']
    record = json.loads(await redis.lindex("resque:failed", 1))
    assert record["retried_at"]

    removed = await post(http, "/api/failures/0/remove")
    assert (await removed.json())["removed"]["args"] == [0]
    assert await redis.llen("resque:failed") == 1

    await redis.rpush("resque:failed", b"not a record", ruby_failure(args=[2]))
    summary = await (await post(http, "/api/failures/retry-all")).json()
    assert summary["requeued"] == 2
    assert list(summary["skipped"]) == ["1"]
    assert await redis.llen("resque:queue:q") == 3

    cleared = await post(http, "/api/failures/clear")
    assert (await cleared.json()) == {"removed": 3}
    assert await redis.llen("resque:failed") == 0


async def test_bad_failure_actions_get_a_4xx(http: Client, redis: Redis) -> None:
    await redis.rpush("resque:failed", b"not a record")
    for path, status, reason in [
        ("/api/failures/x/retry", 400, "a failure index is a whole number"),
        ("/api/failures/7/retry", 404, "no failure at index 7"),
        ("/api/failures/7/remove", 404, "no failure at index 7"),
        ("/api/failures/0/retry", 409, "cannot be requeued"),
    ]:
        response = await post(http, path)
        assert response.status == status, path
        assert reason in (await response.json())["error"]


async def test_failure_buttons_post_forms_and_come_back_with_a_notice(
    http: Client, redis: Redis
) -> None:
    await redis.rpush("resque:failed", ruby_failure(args=[5]))
    page = await (await http.get("/failures")).text()
    assert 'action="/api/failures/0/retry"' in page
    assert "data-confirm=" in page
    response = await form(http, "/api/failures/0/retry", next="/failures")
    assert response.status == 303
    assert response.headers["Location"] == "/failures"
    assert await redis.llen("resque:queue:q") == 1
    after = await (await http.get("/failures")).text()
    assert "Failure 0 (Divide) requeued on q." in after
    assert "retried" in after
    again = await (await http.get("/failures")).text()
    assert "requeued on q." not in again  # a notice shows once
    bad = await form(http, "/api/failures/9/remove", next="/failures")
    assert bad.status == 404
    assert "text/html" in bad.headers["Content-Type"]
    assert "no failure at index 9" in await bad.text()
