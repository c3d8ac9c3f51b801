"""Who may see and do what (pace.web.security): the token, CSRF, remote writes."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from redis.asyncio import Redis

import pace
from pace.web import create_app
from pace.web.security import is_remote
from tests.web_support import (
    Client,
    Factory,
    csrf,
    form,
    post,
)

# -- security ---------------------------------------------------------------------------


async def test_a_token_is_needed_for_every_request(make_client: Factory, redis: Redis) -> None:
    http = await make_client(token="s3cret")
    for path in ["/", "/api/overview", "/metrics", "/api/events?scope=s", "/failures"]:
        response = await http.get(path)
        assert response.status == 401, path
    # files hold nothing secret: the sign-in page is styled
    assert (await http.get("/static/pace.css")).status == 200
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
    assert cookie.startswith("pace_session=v1.")
    assert "s3cret" not in cookie  # a value derived from the token, never the token
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/;" in cookie
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


async def test_the_session_cookie_is_derived_from_the_token_and_scoped_to_the_app(
    make_client: Factory, redis_url: str
) -> None:
    service = web.Application()
    service.add_subapp("/ops/pace/", create_app(redis_url, token="s3cret"))
    http = await make_client(service)
    response = await http.get("/ops/pace/?token=s3cret", allow_redirects=False)
    cookie = response.headers["Set-Cookie"]
    assert "Path=/ops/pace/;" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert "s3cret" not in value
    version, expiry, _signature = value.split(".")
    assert version == "v1"
    assert 12 * 3600 - 60 < int(expiry) - time.time() <= 12 * 3600
    other = await make_client(token="other")  # another app (another token) refuses it
    refused = await other.get("/api/overview", headers={"Cookie": f"pace_session={value}"})
    assert refused.status == 401
    forged = f"v1.{int(expiry) + 1000}.{_signature}"
    assert (
        await other.get("/api/overview", headers={"Cookie": f"pace_session={forged}"})
    ).status == 401
    expired = await make_client(token="s3cret")
    old = "v1.1000." + "0" * 64
    assert (
        await expired.get("/api/overview", headers={"Cookie": f"pace_session={old}"})
    ).status == 401


async def test_a_page_without_a_session_shows_a_styled_sign_in_form(make_client: Factory) -> None:
    http = await make_client(token="s3cret")
    page = await http.get("/failures?start=0")
    assert page.status == 401
    html = await page.text()
    assert '<form method="post" action="/login"' in html
    assert 'name="token"' in html
    assert 'value="/failures?start=0"' in html  # back to that page once signed in
    assert "/static/pace.css" in html
    wrong = await sign_in(http, "nope", "/failures")
    assert wrong.status == 401
    assert "Wrong token." in await wrong.text()
    right = await sign_in(http, "s3cret", "/failures")
    assert (right.status, right.headers["Location"]) == (303, "/failures")
    assert "pace_session=v1." in right.headers["Set-Cookie"]
    assert (await http.get("/failures")).status == 200
    evil = await sign_in(http, "s3cret", "//evil.example/")
    assert evil.headers["Location"] == "/"
    no_csrf = await http.post("/login", data={"token": "s3cret"}, allow_redirects=False)
    assert no_csrf.status == 403
    api = await http.get("/api/overview", headers={"Cookie": ""})
    assert "application/json" in api.headers["Content-Type"]


async def sign_in(http: Client, token: str, target: str) -> Any:
    """Post the sign-in form, with the CSRF token the form's page set."""
    await http.get("/login")
    cookie = http.session.cookie_jar.filter_cookies(http.make_url("/"))["pace_csrf"]
    fields = {"csrf": cookie.value, "token": token, "next": target}
    return await http.post("/login", data=fields, allow_redirects=False)


@pytest.mark.parametrize(
    "target",
    ["/\t/evil.example/", "//evil.example/", "/\\evil.example/", "https://evil.example/",
     "/\n/evil.example", " /x", "/queues/mail\x7f", "/\r\n/evil.example"],
)  # fmt: skip
async def test_a_form_goes_back_only_to_a_path_of_this_app(
    http: Client, client: pace.Client, target: str
) -> None:
    await client.enqueue("mail", "SendMail")
    response = await form(http, "/api/queues/mail/pause", next=target)
    assert (response.status, response.headers["Location"]) == (303, "/")


async def test_a_token_in_a_url_of_another_origin_does_not_redirect_there(
    make_client: Factory,
) -> None:
    http = await make_client(token="s3cret")
    url = str(http.make_url("/")) + "/evil.example/?token=s3cret"  # path //evil.example/
    response = await http.session.get(url, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/"


async def test_without_a_token_a_foreign_host_gets_a_400(
    make_client: Factory, redis: Redis
) -> None:
    http = await make_client()
    for host in ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "[::2]:80",
                 "bad host", "127.0.0.2"]:  # fmt: skip
        response = await http.get("/api/overview", headers={"Host": host})
        assert response.status == 400, host
        assert "does not serve the host" in (await response.json())["error"]
    page = await http.get("/", headers={"Host": "evil.example"})
    assert (page.status, page.content_type) == (400, "text/html")
    port = http.make_url("/").port
    for host in [f"127.0.0.1:{port}", "localhost", f"LOCALHOST:{port}", "app.localhost"]:
        assert (await http.get("/api/overview", headers={"Host": host})).status == 200, host
    allowed = await make_client(allowed_hosts=["pace.example.com", ".corp.example"])
    for host in ["pace.example.com", "pace.example.com:443", "corp.example", "a.corp.example"]:
        assert (await allowed.get("/api/overview", headers={"Host": host})).status == 200, host
    assert (await allowed.get("/", headers={"Host": "example.com"})).status == 400
    anyone = await make_client(allowed_hosts=["*"])
    assert (await anyone.get("/api/overview", headers={"Host": "x.example"})).status == 200
    with_token = await make_client(token="t")  # the token stops rebinding: Host is free
    bearer = {"Host": "evil.example", "Authorization": "Bearer t"}
    assert (await with_token.get("/api/overview", headers=bearer)).status == 200
    with pytest.raises(pace.ConfigError, match="allowed host"):
        create_app(allowed_hosts=["pace.example.com:8080"])
