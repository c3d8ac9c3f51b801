"""Failures through the API and the pages: listing, retry, remove, retry all, clear."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from tests.support import on_both
from tests.web_support import (
    XSS,
    Client,
    form,
    post,
    ruby_failure,
)

# -- failures ---------------------------------------------------------------------------


@on_both
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


@on_both
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
    assert summary["requeued"] == 1  # the one retried already is skipped
    assert summary["skipped"] == {"0": "already retried", "1": "the record is not a JSON object"}
    assert await redis.llen("resque:queue:q") == 2
    again = await (await post(http, "/api/failures/retry-all", {"include_retried": True})).json()
    assert again["requeued"] == 2
    assert await redis.llen("resque:queue:q") == 4

    cleared = await post(http, "/api/failures/clear")
    assert (await cleared.json()) == {"removed": 3}
    assert await redis.llen("resque:failed") == 0


@on_both
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


@on_both
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


async def _ids(http: Client) -> list[str]:
    return [f["id"] for f in (await (await http.get("/api/failures")).json())["failures"]]


@on_both
async def test_a_stale_page_cannot_retry_or_remove_the_wrong_record(
    http: Client, redis: Redis
) -> None:
    await redis.rpush("resque:failed", *(ruby_failure(args=[i]) for i in range(3)))
    a, b, c = await _ids(http)  # the page is loaded
    assert len({a, b, c}) == 3
    assert (await post(http, "/api/failures/0/remove", {"id": a})).status == 200  # elsewhere
    # the stale page: B is at index 0 now, C at 1
    stale = await post(http, "/api/failures/1/remove", {"id": b})
    assert stale.status == 409
    assert "reload the page" in (await stale.json())["error"]
    assert (await post(http, "/api/failures/0/retry", {"id": a})).status == 409
    assert await redis.llen("resque:failed") == 2
    assert await redis.llen("resque:queue:q") == 0
    page = await form(http, "/api/failures/1/retry", id=b, next="/failures")
    assert (page.status, page.content_type) == (409, "text/html")
    retried = await post(http, "/api/failures/0/retry", {"id": b})
    assert (await retried.json())["retried"]["args"] == [1]
    assert await redis.lrange("resque:queue:q", 0, -1) == [b'{"class":"Divide","args":[1]}']
    removed = await post(http, "/api/failures/1/remove", {"id": c})
    assert (await removed.json())["removed"]["args"] == [2]
    bad = await post(http, "/api/failures/0/remove", {"id": "not-an-id"})
    assert bad.status == 400
    assert "16 hex digits" in (await bad.json())["error"]


@on_both
async def test_numbers_in_paths_and_queries_are_range_checked(http: Client, redis: Redis) -> None:
    await redis.rpush("resque:failed", ruby_failure())
    huge = str(2**63)
    for method, path, reason in [
        ("POST", f"/api/failures/{huge}/retry", "a failure index is between"),
        ("POST", f"/api/failures/-{huge}/remove", "a failure index is between"),
        ("GET", f"/api/failures/{huge}0", "a failure index is between"),
        ("GET", f"/api/failures?start={huge}", "start must be between"),
        ("GET", f"/api/queues/q?start={huge}", "start must be between"),
        ("GET", f"/api/events?scope=s&limit={huge}", "limit must be between"),
        ("GET", "/api/events?scope=s&limit=x", "limit must be a whole number"),
    ]:
        response = await (post(http, path) if method == "POST" else http.get(path))
        assert response.status == 400, path
        assert reason in (await response.json())["error"], path
    assert (await http.get(f"/failures/{huge}")).status == 400


@on_both
async def test_retry_is_offered_only_on_records_that_hold_a_job(http: Client, redis: Redis) -> None:
    no_class = json.loads(ruby_failure())
    no_class["payload"] = {"args": [1]}
    await redis.rpush("resque:failed", b"not a record", json.dumps(no_class), ruby_failure())
    listed = (await (await http.get("/api/failures")).json())["failures"]
    assert [f["retryable"] for f in listed] == [False, False, True]
    assert "no job class" in listed[1]["not_retryable_because"]
    page = await (await http.get("/failures")).text()
    assert page.count('/retry"') == 1
    assert 'action="/api/failures/2/retry"' in page
    assert "Not retried: its payload has no job class" in page


@on_both
async def test_retry_all_skips_retried_records_and_clear_retried_removes_them(
    http: Client, redis: Redis
) -> None:
    await redis.rpush("resque:failed", *(ruby_failure(args=[i]) for i in range(10)))
    for expected_queued in (10, 10):  # a second "retry all" requeues nothing more
        await post(http, "/api/failures/retry-all")
        assert await redis.llen("resque:queue:q") == expected_queued
    await redis.rpush("resque:failed", ruby_failure(args=[10]))
    page = await (await http.get("/failures")).text()
    assert 'action="/api/failures/clear-retried"' in page
    cleared = await form(http, "/api/failures/clear-retried", next="/failures")
    assert cleared.status == 303
    assert await redis.llen("resque:failed") == 1
    assert "10 retried failures cleared." in await (await http.get("/failures")).text()


@on_both
async def test_the_table_view_filters_and_acts_on_the_selected_failures(
    http: Client, redis: Redis
) -> None:
    await redis.rpush("resque:failed", *(ruby_failure("Charge", [i], "billing") for i in range(3)),
                      ruby_failure("Divide", [9], "math"))  # fmt: skip
    data = await (await http.get("/api/failures?class=charge&queue=BILL")).json()
    assert (data["total"], data["matched"], data["complete"]) == (4, 3, True)
    assert [f["index"] for f in data["failures"]] == [0, 1, 2]
    none = await (await http.get("/api/failures?exception=KeyError")).json()
    assert (none["matched"], none["failures"]) == (0, [])
    paged = await (await http.get("/api/failures?class=Charge&start=2&count=5")).json()
    assert [f["args"] for f in paged["failures"]] == [[2]]
    page = await (await http.get("/failures?view=table&class=Charge&count=2")).text()
    assert page.count('name="records"') == 2
    assert 'action="/api/failures/bulk"' in page
    assert "view=table&amp;class=Charge&amp;start=2&amp;count=2" in page  # the pager keeps them
    ids = await _ids(http)
    await redis.lset("resque:failed", 1, ruby_failure("Charge", [99], "billing"))  # changed
    response = await form(http, "/api/failures/bulk", action="remove",
                          records=[f"0:{ids[0]}", f"1:{ids[1]}", f"3:{ids[3]}"],
                          next="/failures?view=table")  # fmt: skip
    assert (response.status, response.headers["Location"]) == (303, "/failures?view=table")
    assert "2 failures removed, 1 skipped." in await (await http.get("/failures")).text()
    left = [json.loads(r)["payload"]["args"] for r in await redis.lrange("resque:failed", 0, -1)]
    assert left == [[99], [2]]
    ids = await _ids(http)
    both = {"action": "retry", "records": [f"0:{ids[0]}", f"1:{ids[1]}"]}
    retried = await post(http, "/api/failures/bulk", both)
    assert (await retried.json()) == {"requeued": 2, "skipped": {}}
    assert await redis.llen("resque:queue:billing") == 2
    for body, reason in [({"action": "retry", "records": []}, "select at least one"),
                         ({"action": "zap", "records": ["0:" + ids[0]]}, "action is"),
                         ({"action": "retry", "records": ["x"]}, "a failure index")]:  # fmt: skip
        bad = await post(http, "/api/failures/bulk", body)
        assert bad.status == 400
        assert reason in (await bad.json())["error"]
    assert (await http.get("/failures?view=grid")).status == 400


@on_both
async def test_a_failure_has_a_page_of_its_own(http: Client, redis: Redis) -> None:
    record = json.loads(ruby_failure("Charge", [XSS, {"amount": 5}], "billing"))
    record["backtrace"] = [f"app/jobs/charge.rb:{n}:in `perform'" for n in range(40)]
    await redis.rpush("resque:failed", json.dumps(record))
    (listed,) = (await (await http.get("/api/failures")).json())["failures"]
    assert f'href="/failures/0?id={listed["id"]}"' in await (await http.get("/failures")).text()
    page = await http.get(f"/failures/0?id={listed['id']}")
    html = await page.text()
    assert page.status == 200
    assert "charge.rb:39:in `perform&#39;" in html  # the whole backtrace
    assert "&#34;amount&#34;: 5" in html  # the payload, indented
    assert "<script>alert" not in html
    assert 'action="/api/failures/0/retry"' in html
    one = await (await http.get(f"/api/failures/0?id={listed['id']}")).json()
    assert one["id"] == listed["id"]
    moved = await http.get("/failures/0?id=" + "0" * 16)
    assert moved.status == 409
    assert (await http.get("/api/failures/5")).status == 404
