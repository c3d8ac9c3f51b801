"""Property-based tests of ``pace.job.decode`` and the failure record of what it rejects.

Whatever bytes a queue holds, decoding returns a :class:`pace.Job` or raises
:class:`pace.InvalidPayload`, never anything else (Ruby's worker exits on a bad payload; pace
records it); and the failure record of a rejected payload keeps its bytes and is valid JSON.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pace
from pace.job import decode
from pace.wire import encode, failure_record, loads

RESQUE_KEYS = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]

fuzz = settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)
"""Any JSON value (no NaN or infinities: those are not JSON)."""

near_valid = st.fixed_dictionaries(
    {},
    optional={
        "class": st.text(max_size=20) | json_values,
        "args": st.lists(scalars, max_size=4) | json_values,
        "id": st.text(max_size=32) | scalars,
        "queue_extra": scalars,
    },
)
"""Objects shaped like jobs: ``class`` and ``args`` present or not, of any type."""


def dumps(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def is_a_job(value: Any) -> bool:
    """What decode must accept: an object with a non-empty string class and list args."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("class"), str)
        and value["class"] != ""
        and isinstance(value.get("args", []), list)
    )


def decode_or_invalid(raw: bytes) -> pace.Job | None:
    """Decode; ``None`` for InvalidPayload. Any other exception fails the test."""
    try:
        return decode(raw, "q")
    except pace.InvalidPayload:
        return None


def assert_record_keeps(raw: bytes) -> None:
    """The failure record of a rejected payload keeps its bytes and encodes as valid JSON."""
    with pytest.raises(pace.InvalidPayload) as caught:
        decode(raw, "q")
    record = failure_record(queue="q", raw=raw, payload=None, exc=caught.value, worker_id="w")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        assert base64.b64decode(record["raw_payload_base64"]) == raw
        assert list(record) == [*RESQUE_KEYS, "raw_payload_base64"]
    else:
        assert record["payload"] == text
        assert list(record) == RESQUE_KEYS
    assert record["exception"] == "pace.errors.InvalidPayload"
    assert loads(encode(record)) == record


@fuzz
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_to_a_job_or_raise_invalid_payload(raw: bytes) -> None:
    job = decode_or_invalid(raw)
    if job is None:
        assert_record_keeps(raw)
    else:
        assert job.raw == raw
        assert is_a_job(job.payload)


@fuzz
@given(json_values, st.booleans())
def test_any_json_value_decodes_to_a_job_exactly_when_it_is_one(
    value: Any, ascii_only: bool
) -> None:
    raw = dumps(value, ascii_only)
    job = decode_or_invalid(raw)
    assert (job is not None) == is_a_job(value)
    if job is None:
        assert_record_keeps(raw)
    else:
        assert job.payload == value


@fuzz
@given(near_valid, st.booleans())
def test_near_valid_payloads_decode_to_a_job_or_raise_invalid_payload(
    payload: dict[str, Any], ascii_only: bool
) -> None:
    raw = dumps(payload, ascii_only)
    job = decode_or_invalid(raw)
    assert (job is not None) == is_a_job(payload)
    if job is None:
        assert_record_keeps(raw)
        return
    assert (job.class_name, job.args, job.payload) == (
        payload["class"],
        payload.get("args") or [],
        payload,
    )
    assert job.id == (payload["id"] if isinstance(payload.get("id"), str) else None)
    exc = RuntimeError("boom")
    stored = failure_record(queue="q", raw=raw, payload=job.payload, exc=exc, worker_id="w")
    assert loads(encode(stored))["payload"] == payload  # a job's failure can be stored


@settings(fuzz, max_examples=100)
@given(near_valid, st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]))
def test_nan_and_infinity_are_rejected_like_ruby_does(
    payload: dict[str, Any], constant: bytes
) -> None:
    raw = json.dumps({**payload, "class": "Job", "args": ["X"]}).encode().replace(b'"X"', constant)
    assert_record_keeps(raw)


@fuzz
@given(st.binary(max_size=50))
def test_a_valid_job_with_bytes_that_are_not_utf8_is_rejected_and_kept_in_base64(
    junk: bytes,
) -> None:
    raw = b'{"class":"Job","args":["' + junk + b'\xff"]}'
    assert_record_keeps(raw)


@pytest.mark.parametrize(
    "raw",
    [b'{"class":"Job","args":[1e400]}', b'{"class":"Job","args":["\\ud800"]}'],
    ids=["float-too-large", "lone-surrogate"],
)
def test_a_job_json_cannot_re_encode_keeps_its_raw_text_in_its_failure(raw: bytes) -> None:
    job = decode_or_invalid(raw)
    assert job is not None
    exc = RuntimeError("boom")
    record = failure_record(queue="q", raw=raw, payload=job.payload, exc=exc, worker_id="w")
    assert record["payload"] == raw.decode()
    assert json.loads(encode(record))["payload"] == raw.decode()
