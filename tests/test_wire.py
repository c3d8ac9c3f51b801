"""The wire contract: encoding as Ruby's Resque.encode does, and decoding with clear errors."""

from __future__ import annotations

import json

import pytest

from pace.errors import InvalidPayload
from pace.job import decode
from pace.wire import encode, new_job


def test_encode_is_compact_utf8_in_insertion_order() -> None:
    payload = {"class": "Mail", "args": ["zoë", {"b": 1, "a": [1.5, None, True]}]}
    assert encode(payload) == '{"class":"Mail","args":["zoë",{"b":1,"a":[1.5,null,true]}]}'.encode()


def test_new_job_has_class_args_and_a_unique_id() -> None:
    (first_id, first), (second_id, _) = new_job("Mail", ("a", 1)), new_job("Mail", ())
    assert first == f'{{"class":"Mail","args":["a",1],"id":"{first_id}"}}'.encode()
    assert len(first_id) == 32
    assert first_id != second_id
    with pytest.raises(InvalidPayload, match="non-empty string"):
        new_job("", ())


@pytest.mark.parametrize("arg", [float("nan"), float("inf"), object(), {1, 2}])
def test_new_job_refuses_args_that_are_not_json(arg: object) -> None:
    with pytest.raises(InvalidPayload, match="job args must be JSON values"):
        new_job("Mail", [arg])


def test_decode_keeps_unknown_keys_and_the_raw_bytes() -> None:
    raw = b'{"class":"A","args":[1],"job_id":"x","id":"abc"}'
    job = decode(raw, "q")
    assert (job.class_name, job.args, job.id, job.queue, job.raw) == ("A", [1], "abc", "q", raw)
    assert job.payload == json.loads(raw)


def test_decode_of_a_job_without_args_gives_an_empty_list() -> None:
    assert decode(b'{"class":"A"}', "q").args == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[1]", "must be a JSON object, got list"),
        (b'{"class":"A","args":[NaN]}', "NaN is not JSON"),
        (b'{"class":"A","args":[-Infinity]}', "-Infinity is not JSON"),
        (b"null", "must be a JSON object, got NoneType"),
        (b'{"args":[]}', "'class' must be a non-empty string"),
        (b'{"class":""}', "'class' must be a non-empty string"),
        (b'{"class":["A"]}', "'class' must be a non-empty string"),
        (b'{"class":"A","args":{"a":1}}', "'args' must be a list, got dict"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_decode_rejects_what_is_not_a_resque_job(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        decode(raw, "q")


@pytest.mark.parametrize(
    "number", [-9223372036854775809, 18446744073709551616, 10**30, -(10**40), 2**63 - 1]
)
def test_integers_of_any_size_stay_exact(number: int) -> None:
    """orjson turns an integer beyond 64 bits into a float, silently: a payload's id of
    -9223372036854775809 came back as -9.223372036854776e+18 (found by the fuzz test)."""
    raw = encode({"class": "Job", "args": [number], "id": number})
    job = decode(raw, "q")
    assert job.args == [number]
    assert job.payload["id"] == number
    assert encode(job.payload) == raw
