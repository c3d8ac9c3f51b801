"""Who may see and do what: the token and sessions, the Host check, CSRF protection, remote
writes, response headers.

- **Token** (optional): when set, every request but static files needs it: ``Authorization:
  Bearer T``, or a session cookie. A browser gets one by opening any page with ``?token=T``
  (then redirected to the same URL without it) or through the login form that a page shows
  instead of a bare 401. The cookie holds no token: ``v1.<expiry>.<HMAC-SHA256 of the expiry,
  keyed by the token>``, valid :data:`SESSION_SECONDS`, scoped to the app's path (HttpOnly,
  SameSite=Strict); changing the token ends every session.
- **Host** (DNS rebinding): without a token, a request whose ``Host`` is neither the address
  the connection arrived on, ``localhost`` (on loopback), nor one of the allowed hosts gets a
  400: a page of another site whose name was re-pointed at 127.0.0.1 cannot read this app.
- **Remote writes**: without a token, a POST that arrived on a non-loopback address (or any
  POST when the app was made with ``remote=True``, as the CLI does on a public ``--host``) is
  refused: a 403 that says why.
- **CSRF**: a POST must echo the per-session random token of the ``pace_csrf`` cookie
  (HttpOnly, SameSite=Strict) in the ``X-CSRF-Token`` header or a ``csrf`` form field, and
  must not come from another origin (``Origin``, ``Sec-Fetch-Site``). A request carrying the
  right ``Authorization: Bearer`` header cannot be forged by a browser, so it needs no CSRF
  token: scripts use that.
- **Headers**: a strict Content-Security-Policy (no inline script or style at all), no framing,
  no sniffing, same-origin referrers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from aiohttp import web

from pace.web.context import CSRF, SETTINGS, Handler, WebError, is_form, root, same_origin_path

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "add_headers",
    "guard",
    "is_remote",
    "sign_in",
    "valid_token",
]

SESSION_COOKIE = "pace_session"
SESSION_SECONDS = 12 * 3600
"""How long a browser session lasts."""
CSRF_COOKIE = "pace_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
PUBLIC = frozenset({"static", "favicon", "login", "login.post"})
"""Routes served without the token: files, and the login form itself."""
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _same(supplied: str | None, expected: str) -> bool:
    return supplied is not None and hmac.compare_digest(supplied.encode(), expected.encode())


def valid_token(request: web.Request, supplied: str | None) -> bool:
    """True if ``supplied`` is the app's token (compared in constant time)."""
    token = request.app[SETTINGS].token
    return token is not None and _same(supplied, token)


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie(
    response: web.StreamResponse, request: web.Request, name: str, value: str, age: int | None
) -> None:
    """Set an HttpOnly, SameSite=Strict cookie for the app's path, even on a response whose
    cookies were already turned into headers (in ``on_response_prepare``)."""
    jar: SimpleCookie = SimpleCookie()
    jar[name] = value
    morsel = jar[name]
    morsel["path"] = root(request)
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    if age is not None:
        morsel["max-age"] = age
    if request.secure:
        morsel["secure"] = True
    response.headers.add("Set-Cookie", morsel.OutputString())


def _signature(token: str, expiry: str) -> str:
    return hmac.new(token.encode(), f"pace-session:{expiry}".encode(), hashlib.sha256).hexdigest()


def _session_ok(value: str | None, token: str) -> bool:
    """True for an unexpired session cookie made with ``token``."""
    version, _, rest = (value or "").partition(".")
    expiry, _, signature = rest.partition(".")
    if version != "v1" or not expiry.isdigit() or len(expiry) > 12:
        return False
    return int(expiry) > time.time() and _same(signature, _signature(token, expiry))


def sign_in(response: web.StreamResponse, request: web.Request) -> None:
    """Give the browser a session: a cookie derived from the token (never the token)."""
    token = request.app[SETTINGS].token
    assert token is not None
    expiry = str(int(time.time()) + SESSION_SECONDS)
    value = f"v1.{expiry}.{_signature(token, expiry)}"
    _cookie(response, request, SESSION_COOKIE, value, SESSION_SECONDS)


def _check_token(request: web.Request, token: str) -> web.StreamResponse | None:
    """None if the request carries the token or a session; a redirect that turns a
    ``?token=`` into a session; else raise a 401."""
    if _same(_bearer(request), token) or _session_ok(request.cookies.get(SESSION_COOKIE), token):
        return None
    query = request.query.get("token")
    if query is not None and _same(query, token) and request.method in _SAFE:
        rest = str(request.rel_url.without_query_params("token"))
        target = same_origin_path(rest, root(request)) or root(request)
        response = web.Response(status=303, headers={"Location": target})
        sign_in(response, request)
        return response
    raise WebError(
        401,
        "this pace web app needs its token: send 'Authorization: Bearer <token>', "
        "or sign in on any page",
    )


def _local_address(request: web.Request) -> Address | None:
    """The address the connection arrived on; None for a unix socket (or no socket)."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple):
        return None
    address = ipaddress.ip_address(sockname[0].split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_remote(request: web.Request) -> bool:
    """True if the request may come from another machine: the app says so, or the connection
    arrived on an address that is not loopback (a unix socket is local)."""
    remote = request.app[SETTINGS].remote
    if remote is not None:
        return remote
    try:
        address = _local_address(request)
    except ValueError:
        return True
    return address is not None and not address.is_loopback


def _host_name(host: str) -> str:
    """``Host``'s name, without port or brackets, lower case; '' if it is malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or (port and not port[1:].isdigit()) or (port and port[0] != ":"):
            return ""
        return name
    name, _, port = host.partition(":")
    return name.rstrip(".") if not port or port.isdigit() else ""


def _host_allowed(request: web.Request, name: str) -> bool:
    for allowed in request.app[SETTINGS].allowed_hosts:
        allowed = allowed.lower()
        if allowed == "*" or name == allowed.lstrip("."):
            return True
        if allowed.startswith(".") and name.endswith(allowed):
            return True
    try:
        local = _local_address(request)
    except ValueError:
        local = None
    try:
        return local is not None and ipaddress.ip_address(name) == local
    except ValueError:  # a name, not an address
        loopback = local is None or local.is_loopback
        return loopback and (name == "localhost" or name.endswith(".localhost"))


def _check_host(request: web.Request) -> None:
    """Without a token, serve only the listening address, localhost, and the allowed hosts."""
    host = request.headers.get("Host")
    if host is None:  # HTTP/1.0: not a browser
        return
    name = _host_name(host)
    if not name or not _host_allowed(request, name):
        raise WebError(
            400,
            f"this pace web app does not serve the host {host[:100]!r} (a page of another "
            "site may be reaching it through DNS rebinding); open it by its address, allow "
            "the name with --allowed-host (create_app(allowed_hosts=...)), or set a token",
        )


async def _check_write(request: web.Request, bearer: bool) -> None:
    """Refuse a POST from another machine without a token, from another origin, or without the
    session's CSRF token."""
    if request.app[SETTINGS].token is None and is_remote(request):
        raise WebError(
            403,
            "actions are refused: this pace web app is reachable from other machines and has "
            "no token; restart it with --token (or PACE_WEB_TOKEN), or bind it to 127.0.0.1",
        )
    origin = request.headers.get("Origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc != request.host):
        raise WebError(403, f"cross-origin request refused (Origin: {origin[:100]})")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise WebError(403, "cross-site request refused (Sec-Fetch-Site)")
    if bearer:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and is_form(request):
        field = (await request.post()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie is None or not _same(sent, cookie):
        raise WebError(
            403,
            "missing or wrong CSRF token: a POST must echo the pace_csrf cookie in the "
            f"{CSRF_HEADER} header or a '{CSRF_FIELD}' form field (reload the page), "
            "or authenticate with 'Authorization: Bearer <token>'",
        )


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The Host or the token, then, for a POST, the remote, origin and CSRF checks."""
    cookie = request.cookies.get(CSRF_COOKIE)
    request[CSRF] = cookie if cookie and len(cookie) <= 100 else secrets.token_urlsafe(32)
    token = request.app[SETTINGS].token
    if token is None:
        _check_host(request)
    elif request.match_info.route.name not in PUBLIC and (redirect := _check_token(request, token)):
        return redirect
    if request.method not in _SAFE:
        await _check_write(request, token is not None and _same(_bearer(request), token))
    return await handler(request)


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: security headers on every response, and the CSRF cookie on
    the first one of a session."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    csrf = request.get(CSRF)
    if csrf is not None and request.cookies.get(CSRF_COOKIE) != csrf:
        _cookie(response, request, CSRF_COOKIE, csrf, None)
