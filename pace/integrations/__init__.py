"""Optional integrations of pace with other tools, each in its own module.

Example::

    import pace.integrations.sentry

    pace.integrations.sentry.install()
"""

from __future__ import annotations

__all__: list[str] = []
