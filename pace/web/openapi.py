"""``GET /api/openapi.json``: the API described in OpenAPI 3.1, made from the app's routes, their
docstrings (summaries, without reStructuredText markup) and the table below (parameters,
request bodies, response schemas, errors)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pace import __version__
from pace.web.api import json_response

__all__ = ["OPERATIONS", "add_routes", "openapi", "summary"]

_ROLE = re.compile(r":[a-z]+:`~?(?:[\w.]*\.)?([^`]+)`")  # :func:`~pace.web.reads.x` -> x
_LITERAL = re.compile(r"``([^`]+)``")


def summary(doc: str | None) -> str:
    """A docstring's first paragraph on one line, without reStructuredText markup."""
    first = (doc or "").strip().split("\n\n")[0]
    return " ".join(_LITERAL.sub(r"\1", _ROLE.sub(r"\1", first)).split())


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _some(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _obj(**properties: Any) -> dict[str, Any]:
    return {**_some(**properties), "required": sorted(properties)}


def _list(item: Any) -> dict[str, Any]:
    return {"type": "array", "items": item}


STR, INT, NUM, BOOL = (
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
)
ANY: dict[str, Any] = {}
STR_OR_NULL, NUM_OR_NULL, INT_OR_NULL = (
    {"type": ["string", "null"]},
    {"type": ["number", "null"]},
    {"type": ["integer", "null"]},
)
RECORD_ID = {"type": "string", "pattern": "^[0-9a-f]{16}$"}
SCHEDULED_ID = {"type": "string", "pattern": "^[0-9]{1,16}-[0-9a-f]{16}$"}

SCHEMAS: dict[str, Any] = {
    "Error": _obj(error=STR, status=INT),
    "Pause": _obj(kind={"enum": ["queue", "worker"]}, name=STR, until=NUM_OR_NULL),
    "Limit": _obj(
        queue=STR,
        rate=INT_OR_NULL,
        period=NUM_OR_NULL,
        concurrency=INT_OR_NULL,
        admitted=INT,
        shown=STR,
    ),
    "Queue": _obj(name=STR, size=INT, paused=BOOL, paused_until=NUM_OR_NULL, latency=NUM_OR_NULL),
    "Running": _obj(
        queue=STR_OR_NULL, run_at=STR_OR_NULL, **{"class": STR_OR_NULL}, args=ANY, payload=ANY
    ),
    "Worker": _obj(
        id=STR,
        host=STR,
        pid=STR,
        queues=_list(STR),
        started=STR_OR_NULL,
        heartbeat=STR_OR_NULL,
        pace=BOOL,
        alive={"type": ["boolean", "null"]},
        paused=BOOL,
        paused_until=NUM_OR_NULL,
        processed=INT,
        failed=INT,
        state={"enum": ["running", "paused", "silent", "unknown"]},
        jobs=_list(_ref("Running")),
    ),
    "Overview": _obj(
        namespace=STR,
        processed=INT,
        failed=INT,
        failures=INT,
        scheduled=INT,
        queues=_list(_ref("Queue")),
        workers=_list(_ref("Worker")),
        pauses=_list(_ref("Pause")),
        paused_all=BOOL,
    ),
    "Job": _some(
        index=INT, **{"class": STR_OR_NULL}, args=ANY, id=STR_OR_NULL, payload=ANY, raw=STR_OR_NULL
    ),
    "Failure": _obj(
        index=INT,
        id=RECORD_ID,
        failed_at=STR_OR_NULL,
        queue=STR_OR_NULL,
        **{"class": STR_OR_NULL},
        args=ANY,
        exception=STR_OR_NULL,
        error=STR_OR_NULL,
        backtrace=_list(STR),
        worker=STR_OR_NULL,
        retried_at=STR_OR_NULL,
        retryable=BOOL,
        not_retryable_because=STR_OR_NULL,
        payload=ANY,
        raw=STR_OR_NULL,
    ),
    "Tick": _some(
        job_id=STR,
        name=STR_OR_NULL,
        status=STR,
        percentage=NUM_OR_NULL,
        count=INT,
        total=INT_OR_NULL,
        eta=STR_OR_NULL,
        eta_seconds=NUM_OR_NULL,
        elapsed_seconds=NUM,
        silent_seconds=NUM,
        error=STR_OR_NULL,
    ),
    "Progress": _obj(scope=STR, total=INT, running=INT, jobs=_list(_ref("Tick")), at=STR),
    "Scheduled": _obj(
        id=SCHEDULED_ID,
        queue=STR,
        **{"class": STR_OR_NULL},
        args=ANY,
        job_id=STR_OR_NULL,
        due=NUM,
        due_in=NUM,
        kind={"enum": ["scheduled", "retry"]},
        attempt=INT_OR_NULL,
        payload=ANY,
        raw=STR_OR_NULL,
    ),
    "Batch": _some(
        id=STR,
        kind=STR,
        kind_name=STR,
        name=STR,
        status=STR,
        stage=INT,
        stages=INT,
        total=INT,
        completed=INT,
        failed=INT,
        percentage=NUM,
        stage_list=_list(ANY),
    ),
}

_PAGING = [
    ("start", {"type": "integer", "minimum": 0, "maximum": 2**62, "default": 0}, "first index"),
    ("count", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "how many"),
]


@dataclass(frozen=True, slots=True)
class Operation:
    """What a route takes and answers, beyond its path and summary."""

    response: Any
    query: list[tuple[str, Any, str]] = field(default_factory=list)
    body: dict[str, Any] | None = None
    errors: tuple[int, ...] = ()
    media: str = "application/json"


def _done(**properties: Any) -> Any:
    return _obj(**properties)


_SECONDS = _some(seconds={"type": ["number", "null"], "exclusiveMinimum": 0})
_RECORD = _some(id=RECORD_ID)
_SCOPE = ("scope", STR, "a progress scope, like user:3421 (repeat for more)")

OPERATIONS: dict[str, Operation] = {
    "api.overview": Operation(_ref("Overview")),
    "api.queues": Operation(_obj(queues=_list(_ref("Queue")))),
    "api.queue": Operation(
        _obj(
            name=STR,
            size=INT,
            start=INT,
            count=INT,
            paused=BOOL,
            paused_until=NUM_OR_NULL,
            limit={"oneOf": [_ref("Limit"), {"type": "null"}]},
            jobs=_list(_ref("Job")),
        ),
        _PAGING,
        errors=(404,),
    ),
    "api.pause_queue": Operation(_done(paused=_ref("Pause")), body=_SECONDS, errors=(404,)),
    "api.resume_queue": Operation(_done(resumed=STR), body=_some(), errors=(404,)),
    "api.clear_queue": Operation(_done(cleared=INT), body=_some(), errors=(404,)),
    "api.set_limit": Operation(
        _done(limit=_ref("Limit")),
        body=_some(
            rate={"type": "string", "pattern": "^ *[0-9]+ */ *[smh] *$"},
            concurrency={"type": ["integer", "null"], "minimum": 1},
        ),
        errors=(404,),
    ),
    "api.clear_limit": Operation(_done(cleared=STR), body=_some(), errors=(404,)),
    "api.limits": Operation(_obj(limits=_list(_ref("Limit")))),
    "api.workers": Operation(_obj(workers=_list(_ref("Worker")))),
    "api.pause_worker": Operation(_done(paused=_ref("Pause")), body=_SECONDS, errors=(404,)),
    "api.resume_worker": Operation(_done(resumed=STR), body=_some(), errors=(404,)),
    "api.failures": Operation(
        _obj(
            total=INT,
            matched=INT,
            complete=BOOL,
            start=INT,
            count=INT,
            failures=_list(_ref("Failure")),
        ),
        [
            *_PAGING,
            ("class", STR, "part of the job class"),
            ("queue", STR, "part of the queue"),
            ("exception", STR, "part of the exception"),
        ],
    ),
    "api.failure": Operation(
        _ref("Failure"),
        [("id", RECORD_ID, "409 if another record is at that index")],
        errors=(404, 409),
    ),
    "api.retry_failure": Operation(_done(retried=_ref("Failure")), body=_RECORD, errors=(404, 409)),
    "api.remove_failure": Operation(
        _done(removed=_ref("Failure")), body=_RECORD, errors=(404, 409)
    ),
    "api.failures_bulk": Operation(
        _some(requeued=INT, removed=INT, skipped={"type": "object"}),
        body=_obj(
            action={"enum": ["retry", "remove"]},
            records=_list({"type": "string", "pattern": "^-?[0-9]+:[0-9a-f]{16}$"}),
        ),
    ),
    "api.retry_all": Operation(
        _done(requeued=INT, skipped={"type": "object"}), body=_some(include_retried=BOOL)
    ),
    "api.clear_failures": Operation(_done(removed=INT), body=_some()),
    "api.clear_retried": Operation(_done(removed=INT), body=_some()),
    "api.scheduled": Operation(
        _obj(total=INT, start=INT, count=INT, jobs=_list(_ref("Scheduled"))), _PAGING
    ),
    "api.scheduled_one": Operation(
        _some(run=SCHEDULED_ID, delete=SCHEDULED_ID), body=_some(), errors=(404,)
    ),
    "api.scheduled_bulk": Operation(
        _some(run=INT, delete=INT, skipped=_list(STR)),
        body=_obj(action={"enum": ["run", "delete"]}, ids=_list(SCHEDULED_ID)),
    ),
    "api.scopes": Operation(_obj(scopes=_list(STR))),
    "api.progress": Operation(_ref("Progress")),
    "api.events": Operation(
        {
            "type": "string",
            "description": "events 'progress' ({scopes: {scope: Progress}}) and "
            "'overview', one round a second",
        },
        [
            _SCOPE,
            ("overview", {"enum": ["0", "1"]}, "1: overview events too"),
            ("limit", {"type": "integer", "minimum": 1, "maximum": 1_000_000}, "rounds, then end"),
        ],
        media="text/event-stream",
    ),
    "api.pauses": Operation(_obj(pauses=_list(_ref("Pause")), paused_all=BOOL)),
    "api.csrf": Operation(_obj(token=STR, header=STR)),
    "api.stats": Operation(
        _obj(
            throughput={"type": "object"},
            classes=_list(
                _some(
                    **{"class": STR},
                    count=INT,
                    failed=INT,
                    failure_rate=NUM_OR_NULL,
                    mean_seconds=NUM_OR_NULL,
                    p50_seconds=NUM_OR_NULL,
                    p95_seconds=NUM_OR_NULL,
                )
            ),
        )
    ),
    "api.redis": Operation(
        _some(
            version=STR_OR_NULL,
            used_memory_human=STR_OR_NULL,
            connected_clients=INT_OR_NULL,
            ops_per_second=INT_OR_NULL,
            keys_in_database=INT,
            keys_in_namespace=INT,
            keys_complete=BOOL,
        )
    ),
    "api.batches": Operation(_obj(batches=_list(_ref("Batch")))),
    "api.batch": Operation(_ref("Batch"), errors=(404,)),
    "api.initiate": Operation(_done(initiated=STR), body=_some(), errors=(404, 409)),
    "api.delete": Operation(_done(deleted=STR), body=_some(), errors=(404,)),
    "api.openapi": Operation({"type": "object"}),
    "metrics": Operation({"type": "string"}, media="text/plain; version=0.0.4"),
}

_ERRORS = {
    400: "bad input",
    401: "no token",
    403: "refused (CSRF, origin, remote)",
    404: "not found",
    409: "conflict",
    503: "saturated, or Redis does not answer",
}


def _path_parameter(name: str) -> dict[str, Any]:
    schemas = {
        "index": {"type": "integer", "minimum": -(2**62), "maximum": 2**62 - 1},
        "id": STR,
        "action": {"enum": ["run", "delete"]},
    }
    return {"name": name, "in": "path", "required": True, "schema": schemas.get(name, STR)}


def _operation(route: web.AbstractRoute, path: str, op: Operation) -> dict[str, Any]:
    parameters = [_path_parameter(part[1:-1]) for part in path.split("/") if part.startswith("{")]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
        for name, schema, text in op.query
    ]
    codes = sorted({400, 401, 503, *op.errors, *((403,) if route.method == "POST" else ())})
    error = {"application/json": {"schema": _ref("Error")}}
    spec: dict[str, Any] = {
        "operationId": (route.name or "").replace(".", "_"),
        "summary": summary(route.handler.__doc__),
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {op.media: {"schema": op.response}}},
            **{str(code): {"description": _ERRORS[code], "content": error} for code in codes},
        },
    }
    if op.body is not None:
        form = {**op.body, "properties": {**op.body["properties"], "csrf": STR, "next": STR}}
        spec["requestBody"] = {
            "required": False,
            "content": {
                "application/json": {"schema": op.body},
                "application/x-www-form-urlencoded": {"schema": {**form, "required": []}},
            },
        }
    return spec


async def openapi(request: web.Request) -> web.Response:
    """This description: OpenAPI 3.1, made from the app's routes and their docstrings."""
    paths: dict[str, dict[str, Any]] = {}
    for route in request.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        op = OPERATIONS.get(route.name or "")
        if route.method == "HEAD" or not path or op is None:
            continue
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, path, op)
    return json_response(
        {
            "openapi": "3.1.0",
            "info": {"title": "pace", "version": __version__},
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{}, {"bearer": []}],
            "paths": paths,
        }
    )


def add_routes(app: web.Application) -> None:
    """Register ``/api/openapi.json``."""
    app.router.add_get("/api/openapi.json", openapi, name="api.openapi")
