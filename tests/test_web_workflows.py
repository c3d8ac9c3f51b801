"""Multi-step tasks and staged groups on the pages and the API (pace.web.workflows)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

import pace
from tests.support import Starter, on_both, wait_for
from tests.web_support import (
    XSS,
    Client,
    form,
    post,
)

# -- workflows: staged groups and multi-step tasks --------------------------------------


async def test_a_staged_group_is_shown_initiated_and_deleted(
    http: Client, client: pace.Client, redis: Redis, start: Starter
) -> None:
    group = await pace.StagedGroup.create("nightly <import>", client=client, queue="stages")
    await group.stage(1).enqueue_many("ImportFile", [["a.csv"], ["b.csv"]])
    await group.stage(2).enqueue("Summary", XSS)
    listed = (await (await http.get("/api/batches")).json())["batches"]
    shown = [(b["id"], b["kind"], b["status"], b["stage"], b["stages"], b["total"]) for b in listed]
    assert shown == [(group.group_id, "staged", "not initiated", 0, 2, 3)]
    assert await redis.llen("resque:queue:stages") == 0
    page = await (await http.get("/batches")).text()
    assert "nightly &lt;import&gt;" in page
    assert "not initiated" in page
    detail = await (await http.get(f"/batches/{group.group_id}")).text()
    assert f'action="/api/batches/{group.group_id}/initiate"' in detail
    assert "&lt;script&gt;" in detail
    assert "<script>alert" not in detail

    async def handler(job: pace.Job) -> None:
        staged = job.staged
        assert staged is not None
        if job.class_name == "Summary":
            await staged.set_status_message("summing up")
            await asyncio.sleep(30)  # holds stage 2 (cancelled when the test ends)
        await staged.set_status_message(f"imported {job.args[0]}")

    await start(["other"], handler)  # the group's queue is not served yet: nothing moves
    response = await form(http, f"/api/batches/{group.group_id}/initiate",
                          next=f"/batches/{group.group_id}")  # fmt: skip
    assert response.status == 303
    assert await redis.llen("resque:queue:stages") == 2
    data = await (await http.get(f"/api/batches/{group.group_id}")).json()
    assert (data["status"], data["stage"]) == ("running", 1)
    first, second = data["stage_list"]
    assert (first["status"], first["by_status"]) == ("running", {"queued": 2})
    assert [job["args"] for job in first["jobs"]] == [["a.csv"], ["b.csv"]]
    assert (second["status"], second["by_status"]) == ("pending", {"pending": 1})
    again = await post(http, f"/api/batches/{group.group_id}/initiate")
    assert again.status == 409
    assert "already initiated" in (await again.json())["error"]
    await start(["stages"], handler)

    async def summing_up() -> bool:
        data = await (await http.get(f"/api/batches/{group.group_id}")).json()
        return bool(data["stage_list"][1]["jobs"][0]["status_message"] == "summing up")

    await wait_for(summing_up)
    data = await (await http.get(f"/api/batches/{group.group_id}")).json()
    assert (data["stage"], data["completed"]) == (2, 2)
    messages = [job["status_message"] for job in data["stage_list"][0]["jobs"]]
    assert messages == ["imported a.csv", "imported b.csv"]
    assert data["stage_list"][0]["by_status"] == {"successful": 2}
    assert data["stage_list"][1]["by_status"] == {"running": 1}
    assert "imported a.csv" in await (await http.get(f"/batches/{group.group_id}")).text()
    deleted = await post(http, f"/api/batches/{group.group_id}/delete")
    assert (await deleted.json()) == {"deleted": group.group_id}
    gone = await http.get(f"/api/batches/{group.group_id}")
    assert gone.status == 404
    assert (await post(http, f"/api/batches/{group.group_id}/delete")).status == 404
    assert (await http.get("/api/batches/a:b")).status == 400


@on_both  # on a cluster the task's id has a hash tag: '{' and '}' in its pages' paths
async def test_a_multi_step_task_is_shown_with_its_steps(http: Client, client: pace.Client) -> None:
    task = await pace.MultiStepTask.create("reindex", client=client)
    await task.add_jobs("Reindex", [[1], [2], [3]])
    await task.add_finalization_job("Report")
    (shown,) = (await (await http.get("/api/batches")).json())["batches"]
    assert (shown["kind"], shown["name"], shown["status"], shown["total"]) == (
        "multistep", "reindex", "running", 4,
    )  # fmt: skip
    page = await (await http.get(f"/batches/{task.task_id}")).text()
    assert "multi-step task" in page
    assert "Finalization, step 1" in page
    assert "/initiate" not in page
    refused = await post(http, f"/api/batches/{task.task_id}/initiate")
    assert refused.status == 409
    assert "only a staged group is initiated" in (await refused.json())["error"]
