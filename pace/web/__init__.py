"""The status web page, JSON API, live progress and Prometheus metrics, as one aiohttp app.

Run it with ``pace-worker web`` or mount it in your own service::

    from aiohttp import web
    import pace.web

    app = web.Application()
    app.add_subapp("/pace/", pace.web.create_app("redis://127.0.0.1:6379/0"))

Modules: :mod:`~pace.web.app` (``create_app``), :mod:`~pace.web.pages` (HTML),
:mod:`~pace.web.api` (JSON), :mod:`~pace.web.events` (server-sent progress),
:mod:`~pace.web.prometheus` (``/metrics``), :mod:`~pace.web.security` (token, CSRF),
:mod:`~pace.web.reads` (what is read from Redis), :mod:`~pace.web.context` (shared state).
"""

from __future__ import annotations

from pace.web.app import create_app
from pace.web.context import Limits

__all__ = ["Limits", "create_app"]
