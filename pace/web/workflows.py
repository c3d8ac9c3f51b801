"""Multi-step tasks and staged groups (both batches, :mod:`pace.batch`): their stages, jobs by
status with status messages, and the initiate / delete actions, as pages and JSON.

Pages: ``/batches`` and ``/batches/{id}``. API: ``GET /api/batches``, ``GET /api/batches/{id}``,
``POST /api/batches/{id}/initiate`` (a staged group not yet initiated) and
``POST /api/batches/{id}/delete``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from pace.errors import ConfigError, NoSuchBatch
from pace.keys import Keys
from pace.web.api import done, fields, json_response
from pace.web.context import WebError, keys, redis
from pace.web.pages import render
from pace.workflows.batch import Batch, batch_ids
from pace.workflows.model import BatchJob, BatchState

__all__ = ["JOBS_PER_STAGE", "add_routes", "batch", "batches"]

JOBS_PER_STAGE = 500
"""Most jobs shown per stage (in the order they were added)."""
KINDS = {"staged": "staged group", "multistep": "multi-step task"}
STATUSES = ("running", "queued", "pending_re_run", "pending", "failed", "successful")


def _percentage(done: int, total: int) -> float:
    return 100.0 if total == 0 else round(100.0 * min(done, total) / total, 1)


def _state(state: BatchState) -> dict[str, Any]:
    """A batch's summary, with its stages."""
    if state.complete:
        status = "complete"
    elif state.blocked:
        status = "blocked"
    elif state.kind == "staged" and state.stage == 0:
        status = "not initiated"
    else:
        status = "running"
    return {
        "id": state.batch_id,
        "kind": state.kind,
        "kind_name": KINDS.get(state.kind, state.kind),
        "name": state.name,
        "created_at": state.created_at.isoformat(timespec="seconds") if state.created_at else None,
        "status": status,
        "stage": state.stage,
        "stages": state.stages,
        "on_failure": state.on_failure,
        "queue": state.queue,
        "total": state.total,
        "completed": state.completed,
        "failed": state.failed,
        "percentage": _percentage(state.completed + state.failed, state.total),
        "stage_list": [
            {
                "number": number,
                "status": state.stage_status(number),
                "total": state.counts(number).total,
                "completed": state.counts(number).completed,
                "failed": state.counts(number).failed,
            }
            for number in range(1, state.stages + 1)
        ],
    }


def _job(job: BatchJob) -> dict[str, Any]:
    return {
        "id": job.job_id,
        "stage": job.stage,
        "class": job.class_name,
        "args": job.args,
        "queue": job.queue,
        "queue_time": job.queue_time.isoformat(timespec="seconds") if job.queue_time else None,
        "status": job.status,
        "status_message": job.status_message,
    }


def _check_id(batch_id: str) -> str:
    if not batch_id or ":" in batch_id or len(batch_id) > 200:
        raise ConfigError(f"a batch id has no ':' and at most 200 characters, got {batch_id!r}")
    return batch_id


async def batches(redis: Redis, keys: Keys) -> list[dict[str, Any]]:
    """Every multi-step task and staged group, oldest first."""
    shown = []
    for batch_id in await batch_ids(redis, keys):
        try:
            shown.append(_state(await Batch(redis, keys, batch_id).state()))
        except NoSuchBatch:  # finished meanwhile
            continue
    return shown


async def batch(redis: Redis, keys: Keys, batch_id: str) -> dict[str, Any]:
    """One batch with every stage's jobs (at most :data:`JOBS_PER_STAGE` each) and how many
    are in each status.

    Raises:
        NoSuchBatch: it finished (its state goes with it), expired or was deleted.
    """
    handle = Batch(redis, keys, _check_id(batch_id))
    data = _state(await handle.state())
    for stage in data["stage_list"]:
        jobs = await handle.jobs(stage["number"], 0, JOBS_PER_STAGE - 1)
        counted: Counter[str] = Counter(job.status for job in jobs)
        stage["by_status"] = {status: counted[status] for status in STATUSES if counted[status]}
        stage["jobs"] = [_job(job) for job in jobs]
    return data


# -- handlers ---------------------------------------------------------------------------


async def list_api(request: web.Request) -> web.Response:
    """``GET /api/batches``."""
    return json_response({"batches": await batches(redis(request), keys(request))})


async def batch_api(request: web.Request) -> web.Response:
    """``GET /api/batches/{id}``."""
    return json_response(await batch(redis(request), keys(request), request.match_info["id"]))


async def initiate(request: web.Request) -> web.Response:
    """Start a staged group that was created but not initiated: its stage 1 is enqueued."""
    body = await fields(request)
    handle = Batch(redis(request), keys(request), _check_id(request.match_info["id"]))
    state = await handle.state()
    if state.kind != "staged":
        raise WebError(409, f"only a staged group is initiated; this is a {KINDS[state.kind]}")
    if state.stage > 0:
        raise WebError(409, f"staged group {state.name!r} is already initiated")
    await handle.initiate()
    notice = f"Staged group {state.name} initiated."
    return done(request, body, {"initiated": state.batch_id}, notice)


async def delete(request: web.Request) -> web.Response:
    """Delete a batch's state (jobs already queued or running still run, as plain jobs)."""
    body = await fields(request)
    handle = Batch(redis(request), keys(request), _check_id(request.match_info["id"]))
    state = await handle.state()
    await handle.delete()
    kind = KINDS.get(state.kind, state.kind)
    return done(request, body, {"deleted": state.batch_id}, f"{kind.capitalize()} deleted.")


async def list_page(request: web.Request) -> web.Response:
    """Every multi-step task and staged group."""
    listed = await batches(redis(request), keys(request))
    return render(request, "batches.html", title="Workflows", nav="batches", batches=listed)


async def batch_page(request: web.Request) -> web.Response:
    """One batch: its stages, jobs by status, status messages, initiate and delete."""
    data = await batch(redis(request), keys(request), request.match_info["id"])
    return render(request, "batch.html", title=data["name"], nav="batches", batch=data)


def add_routes(app: web.Application) -> None:
    """Register the pages and the API routes."""
    app.router.add_get("/batches", list_page, name="batches")
    app.router.add_get("/batches/{id:[^/]+}", batch_page, name="batch")
    app.router.add_get("/api/batches", list_api, name="api.batches")
    app.router.add_get("/api/batches/{id:[^/]+}", batch_api, name="api.batch")
    app.router.add_post("/api/batches/{id:[^/]+}/initiate", initiate, name="api.initiate")
    app.router.add_post("/api/batches/{id:[^/]+}/delete", delete, name="api.delete")
