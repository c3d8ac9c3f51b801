"""Who may see and do what (pace.web.security): the token, CSRF, remote writes."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from redis.asyncio import Redis

import pace
from pace.web import create_app
from pace.web.security import is_remote
from tests.web_support import (
    Client,
    Factory,
    csrf,
    post,
)

# -- security ---------------------------------------------------------------------------


async def test_a_token_is_needed_for_every_request(make_client: Factory, redis: Redis) -> None:
    http = await make_client(token="s3cret")
    for path in ["/", "/api/overview", "/metrics", "/static/pace.css", "/api/events?scope=s"]:
        response = await http.get(path)
        assert response.status == 401, path
    assert "needs its token" in (await (await http.get("/api/overview")).json())["error"]
    assert "text/html" in (await http.get("/")).headers["Content-Type"]
    wrong = await http.get("/api/overview", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert (await http.get("/?token=nope")).status == 401
    bearer = {"Authorization": "Bearer s3cret"}
    assert (await http.get("/api/overview", headers=bearer)).status == 200
    assert (await http.get("/metrics", headers=bearer)).status == 200
    # a bearer request cannot be forged by a browser: it needs no CSRF token
    await redis.sadd("resque:queues", "q")
    assert (await http.post("/api/queues/q/pause", headers=bearer)).status == 200


async def test_a_token_in_the_url_once_sets_a_cookie_for_the_browser(
    make_client: Factory,
) -> None:
    http = await make_client(token="s3cret")
    response = await http.get("/failures?token=s3cret&start=0", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/failures?start=0"
    cookie = response.headers["Set-Cookie"]
    assert "pace_token=s3cret" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert (await http.get("/")).status == 200  # the cookie now
    assert (await http.get("/static/pace.js")).status == 200
    # ... but a POST still needs the CSRF token: the cookie is ambient
    assert (await http.post("/api/failures/clear")).status == 403
    assert (await post(http, "/api/failures/clear")).status == 200


async def test_posts_need_the_csrf_token_and_the_same_origin(http: Client, redis: Redis) -> None:
    await redis.sadd("resque:queues", "q")
    bare = await http.post("/api/queues/q/pause")
    assert bare.status == 403
    assert "CSRF token" in (await bare.json())["error"]
    token = await csrf(http)
    wrong = await http.post("/api/queues/q/pause", headers={"X-CSRF-Token": token + "x"})
    assert wrong.status == 403
    evil = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
    response = await http.post("/api/queues/q/pause", headers=evil)
    assert response.status == 403
    assert "cross-origin" in (await response.json())["error"]
    cross = {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}
    assert (await http.post("/api/queues/q/pause", headers=cross)).status == 403
    no_field = await http.post("/api/queues/q/pause", data={"next": "/"}, allow_redirects=False)
    assert no_field.status == 403
    assert "text/html" in no_field.headers["Content-Type"]
    assert await pace.Pauses(redis).list() == []
    same = {"X-CSRF-Token": token, "Origin": str(http.make_url("")).rstrip("/")}
    assert (await http.post("/api/queues/q/pause", headers=same)).status == 200


async def test_the_csrf_cookie_is_set_with_the_first_page(make_client: Factory) -> None:
    http = await make_client()
    response = await http.get("/")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("pace_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert f'<meta name="pace-csrf" content="{value}">' in await response.text()
    assert "Set-Cookie" not in (await http.get("/")).headers  # the same session keeps it


async def test_a_remote_app_without_a_token_refuses_every_post(
    make_client: Factory, redis: Redis
) -> None:
    await redis.sadd("resque:queues", "q")
    http = await make_client(remote=True)
    assert (await http.get("/api/overview")).status == 200  # reading is allowed
    response = await post(http, "/api/queues/q/pause")
    assert response.status == 403
    assert "reachable from other machines and has no token" in (await response.json())["error"]
    with_token = await make_client(remote=True, token="t0ken")
    allowed = await with_token.post(
        "/api/queues/q/pause", headers={"Authorization": "Bearer t0ken"}
    )
    assert allowed.status == 200


@pytest.mark.parametrize(
    ("sockname", "remote"),
    [
        (("127.0.0.1", 8080), False),
        (("127.3.2.1", 8080), False),
        (("::1", 8080, 0, 0), False),
        (("::ffff:127.0.0.1", 8080, 0, 0), False),
        (("10.1.2.3", 8080), True),
        (("192.168.1.9", 8080), True),
        (("::ffff:10.1.2.3", 8080, 0, 0), True),
        (("fe80::1%eth0", 8080, 0, 2), True),
        ("/run/pace.sock", False),
    ],
)
def test_a_connection_is_remote_by_the_address_it_arrived_on(sockname: Any, remote: bool) -> None:
    app = create_app("redis://127.0.0.1:1")
    transport = mock.Mock()
    transport.get_extra_info.return_value = sockname
    request = make_mocked_request("POST", "/api/failures/clear", app=app, transport=transport)
    assert is_remote(request) is remote


def test_bad_settings_are_refused() -> None:
    with pytest.raises(pace.ConfigError, match="token"):
        create_app(token="two words")
    with pytest.raises(pace.ConfigError, match="namespace"):
        create_app(namespace="")
