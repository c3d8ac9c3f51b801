"""mkdocs hook: pace's docstrings use two reStructuredText habits (``:class:`x``` roles and
``Example::`` before a code block); show them as plain Markdown does."""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):(?=<code)")
_LITERAL = re.compile(r"(<p>[^<]*?):(:</p>)")


def on_page_content(html: str, **_kwargs: Any) -> str:
    """The rendered page without the roles' prefixes and with ``Example:``."""
    return _LITERAL.sub(r"\1\2", _ROLE.sub("", html))
