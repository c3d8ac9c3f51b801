"""Who may see and do what: the token, CSRF protection, remote writes, response headers.

- **Token** (optional): when set, every request needs it: ``Authorization: Bearer T``, or the
  ``pace_token`` cookie that a first visit with ``?token=T`` sets (HttpOnly, SameSite=Strict;
  the page then redirects to the same URL without the token).
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

import hmac
import ipaddress
import secrets
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from aiohttp import web

from pace.web.context import CSRF, SETTINGS, Handler, WebError, is_form, root

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "TOKEN_COOKIE", "add_headers", "guard"]

TOKEN_COOKIE = "pace_token"
CSRF_COOKIE = "pace_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def _same(supplied: str | None, expected: str) -> bool:
    return supplied is not None and hmac.compare_digest(supplied.encode(), expected.encode())


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    """Set an HttpOnly, SameSite=Strict cookie for the app's path, even on a response whose
    cookies were already turned into headers (in ``on_response_prepare``)."""
    jar: SimpleCookie = SimpleCookie()
    jar[name] = value
    morsel = jar[name]
    morsel["path"] = root(request)
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    if request.secure:
        morsel["secure"] = True
    response.headers.add("Set-Cookie", morsel.OutputString())


def _check_token(request: web.Request, token: str) -> web.StreamResponse | None:
    """None if the request carries the token; a redirect that stores a ``?token=`` in a cookie;
    else raise a 401."""
    if _same(_bearer(request), token) or _same(request.cookies.get(TOKEN_COOKIE), token):
        return None
    query = request.query.get("token")
    if query is not None and _same(query, token) and request.method in _SAFE:
        rest = request.rel_url.without_query_params("token")
        response = web.Response(status=303, headers={"Location": str(rest)})
        _cookie(response, request, TOKEN_COOKIE, token)
        return response
    raise WebError(
        401,
        "this pace web app needs its token: send 'Authorization: Bearer <token>', "
        "or open any page once with ?token=<token>",
    )


def is_remote(request: web.Request) -> bool:
    """True if the request may come from another machine: the app says so, or the connection
    arrived on an address that is not loopback (a unix socket is local)."""
    remote = request.app[SETTINGS].remote
    if remote is not None:
        return remote
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple):
        return False
    try:
        address = ipaddress.ip_address(sockname[0].split("%")[0])
    except ValueError:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return not address.ipv4_mapped.is_loopback
    return not address.is_loopback


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
        raise WebError(403, f"cross-origin request refused (Origin: {origin})")
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
    """The token, then, for a POST, the remote, origin and CSRF checks."""
    token = request.app[SETTINGS].token
    if token is not None and (redirect := _check_token(request, token)) is not None:
        return redirect
    cookie = request.cookies.get(CSRF_COOKIE)
    request[CSRF] = cookie if cookie and len(cookie) <= 100 else secrets.token_urlsafe(32)
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
        _cookie(response, request, CSRF_COOKIE, csrf)
