"""``pace-worker``: the command line (:mod:`pace.cli.main`) and its terminal views."""

from pace.cli.main import main

__all__ = ["main"]
