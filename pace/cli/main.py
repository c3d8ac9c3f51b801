"""``pace-worker``: run workers, enqueue jobs, show what is queued, manage failed jobs, serve
the web page.

Errors the user can fix (a bad flag, an unreachable Redis, an app that will not import) are
one line on stderr and exit status 2 (1 for an unreachable Redis), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from pace import __version__
from pace.client import Client, Info
from pace.control import Pauses
from pace.errors import ConfigError, PaceError, RedisUnavailable
from pace.failures import Failure, Failures
from pace.limits import Limits
from pace.runner import run
from pace.wire import loads
from pace.worker import Worker

__all__ = ["main"]

DEFAULT_EMBEDDED_DIR = ".pace-redis"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument("--redis-url", help="Redis URL (default: $REDIS_URL or localhost)")
    where.add_argument(
        "--embedded",
        nargs="?",
        const=DEFAULT_EMBEDDED_DIR,
        metavar="DIR",
        help=f"start an embedded Redis persisting in DIR (default {DEFAULT_EMBEDDED_DIR})",
    )
    common.add_argument("--namespace", default="resque", help="Resque namespace (resque)")
    common.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )

    parser = argparse.ArgumentParser(prog="pace-worker", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pace {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    work = commands.add_parser("run", parents=[common], help="run a worker")
    work.add_argument("queues", metavar="QUEUE[,QUEUE...]", help="queues in priority order, or *")
    work.add_argument("--app", required=True, help="MODULE:ATTR, a coroutine function or a dict")
    work.add_argument("--concurrency", type=int, default=10, help="jobs in flight (10)")
    work.add_argument("--jobs-per-second", type=float, default=None, help="rate limit (none)")
    work.add_argument("--burst", action="store_true", help="exit 0 once the queues are empty")
    work.add_argument(
        "--job-timeout", type=float, default=None, help="cancel and fail jobs running longer (none)"
    )
    work.add_argument(
        "--dead-after", type=float, default=10.0,
        help="seconds of silence after which a worker's jobs are recovered (10)",
    )  # fmt: skip
    work.add_argument("--no-uvloop", action="store_true", help="use asyncio's own event loop")

    push = commands.add_parser("enqueue", parents=[common], help="enqueue one job")
    push.add_argument("queue")
    push.add_argument("class_name", metavar="CLASS")
    push.add_argument(
        "args", metavar="ARG_JSON", nargs="*", help="job arguments as JSON: 3 '\"x\"'"
    )

    commands.add_parser("info", parents=[common], help="queues, workers, failures and stats")

    stop = commands.add_parser("pause", parents=[common], help="pause a queue for every worker")
    stop.add_argument("queue", metavar="QUEUE")
    stop.add_argument(
        "--for", dest="duration", help="for this long: 30s, 5m, 2h (default: until resumed)"
    )
    go = commands.add_parser("resume", parents=[common], help="resume a paused queue")
    go.add_argument("queue", metavar="QUEUE")
    go.set_defaults(duration=None)

    cap = commands.add_parser(
        "limit", parents=[common], help="limit a queue for the whole fleet, or list the limits"
    )
    cap.add_argument("queue", metavar="QUEUE", nargs="?", help="(none: list every limit)")
    cap.add_argument("--rate", help="most job starts: N/s, N/m or N/h (like 100/s)")
    cap.add_argument("--concurrency", type=int, help="most jobs of the queue in flight")
    cap.add_argument("--clear", action="store_true", help="remove the queue's limit")

    bars = commands.add_parser("progress", parents=[common], help="progress bars of a scope")
    bars.add_argument("scope", metavar="SCOPE", help="scope parts joined by ':', like user:3421")
    bars.add_argument(
        "--watch", action="store_true", help="refresh every second until every job is over"
    )
    _failed_parser(commands, common)
    serve = commands.add_parser(
        "web", parents=[common], help="serve the status page, the HTTP API and /metrics"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    serve.add_argument(
        "--token", help="require this token on every request (default: $PACE_WEB_TOKEN)"
    )
    serve.add_argument(
        "--allowed-host", action="append", default=[], metavar="NAME",
        help="without a token, also serve this Host name (besides the address listened on and "
        "localhost), as when a proxy forwards it; '.example.com' takes its subdomains too; "
        "repeatable",
    )  # fmt: skip
    return parser


def _failed_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    failed = commands.add_parser("failed", help="list, requeue or remove failed jobs")
    actions = failed.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common], help="list failures, oldest first")
    listing.add_argument("--start", type=int, default=0, help="first index to show (0)")
    listing.add_argument("--count", type=int, default=20, help="how many to show (20)")
    requeue = actions.add_parser("requeue", parents=[common], help="enqueue failed jobs again")
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("index", nargs="?", type=int, metavar="INDEX", help="the failure's index")
    which.add_argument("--all", action="store_true", help="requeue every failure")
    requeue.add_argument("--queue", help="enqueue on this queue instead of the failure's own")
    remove = actions.add_parser("remove", parents=[common], help="remove one failure")
    remove.add_argument("index", type=int, metavar="INDEX", help="the failure's index")
    clear = actions.add_parser("clear", parents=[common], help="remove every failure")
    clear.add_argument("--retried", action="store_true", help="only those already requeued")


def _load_app(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--app must be MODULE:ATTR (like myapp.jobs:handler), got {spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m` does
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--app: cannot import module {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"--app: module {module_name!r} has no attribute {attr!r}") from None


def _json_args(texts: Sequence[str]) -> list[Any]:
    values = []
    for position, text in enumerate(texts, 1):
        try:
            values.append(loads(text))
        except ValueError:
            raise ConfigError(
                f"ARG_JSON {position} is not JSON: {text!r} (quote a string: '\"{text}\"')"
            ) from None
    return values


@contextlib.contextmanager
def _redis_url(args: argparse.Namespace) -> Iterator[str | None]:
    """The URL to use; with ``--embedded``, a server started for the command's duration."""
    if args.embedded is None:
        yield args.redis_url
        return
    from pace.embedded import EmbeddedRedis

    with EmbeddedRedis(args.embedded) as server:
        logging.getLogger("pace").info("embedded Redis at %s", server.url)
        yield server.url


async def _run(args: argparse.Namespace, url: str | None) -> None:
    from setproctitle import setproctitle

    handler = _load_app(args.app)
    worker = Worker(
        args.queues,
        concurrency=args.concurrency,
        jobs_per_second=args.jobs_per_second,
        redis_url=url,
        namespace=args.namespace,
        burst=args.burst,
        job_timeout=args.job_timeout,
        dead_after=args.dead_after,
        handle_signals=True,
    )
    # Ruby Resque prunes, at its start-up, same-host workers whose process title does not
    # look like a Resque worker's; a title with "resque-<digit>" keeps pace's worker alive.
    setproctitle(f"resque-{__version__}: pace-worker on {worker.queues}")
    await worker.start(handler)


async def _enqueue(args: argparse.Namespace, url: str | None) -> None:
    values = _json_args(args.args)
    async with Client(url, namespace=args.namespace) as client:
        print(await client.enqueue(args.queue, args.class_name, *values))


async def _info(args: argparse.Namespace, url: str | None) -> None:
    async with Client(url, namespace=args.namespace) as client:
        print(_format_info(await client.info()))


def _format_info(info: Info) -> str:
    lines = [f"processed: {info.processed_total}", f"failed: {info.failed_total}"]
    lines.append(f"failures kept: {info.failed}")
    lines.append(f"queues: {len(info.queues)}")
    lines += [f"  {name}: {size}" for name, size in info.queues.items()]
    lines.append(f"workers: {len(info.workers)}")
    lines += [f"  {worker}" for worker in info.workers]
    return "\n".join(lines)


async def _failed(args: argparse.Namespace, url: str | None) -> None:
    async with Client(url, namespace=args.namespace) as client:
        failures = Failures(client)
        if args.action == "list":
            if args.start < 0 or args.count < 0:
                raise ConfigError("--start and --count must be at least 0")
            shown = await failures.list(args.start, args.count)
            if shown:
                print("\n".join(map(_format_failure, shown)))
            elif total := await failures.count():
                print(f"no failures from index {args.start} (there are {total})")
            else:
                print("no failures")
        elif args.action == "requeue" and args.all:
            summary = await failures.requeue_all(queue=args.queue)
            for index, reason in summary.skipped.items():
                print(f"pace-worker: skipped failure {index}: {reason}", file=sys.stderr)
            print(f"requeued {_failures(summary.requeued)}")
        elif args.action == "requeue":
            failure = await failures.requeue(args.index, queue=args.queue)
            print(
                f"requeued failure {failure.index}: {failure.class_name} on "
                f"{args.queue or failure.queue}"
            )
        elif args.action == "remove":
            failure = await failures.remove(args.index)
            print(f"removed failure {_format_failure(failure)}")
        elif args.action == "clear":
            removed = await (failures.clear_retried() if args.retried else failures.clear())
            print(f"removed {_failures(removed, 'retried ' if args.retried else '')}")


def _failures(count: int, kind: str = "") -> str:
    return f"{count} {kind}failure{'' if count == 1 else 's'}"


def _format_failure(failure: Failure) -> str:
    if failure.exception is None:
        return f"{failure.index}  (not a failure record) {failure.raw[:80]!r}"
    error = " ".join((failure.error or "").split())  # one line, whatever the message
    what = failure.class_name or "(not a job)"
    line = f"{failure.index}  {failure.failed_at}  {failure.queue}  {what}  "
    line += f"{failure.exception}: {error}"
    return line + (f"  (retried at {failure.retried_at})" if failure.retried_at else "")


def _duration(text: str) -> float:
    """``30s``, ``5m``, ``2h`` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise ConfigError(f"--for takes a duration like 30s, 5m or 2h, got {text!r}") from None
    if not seconds > 0:
        raise ConfigError(f"--for must be a positive duration, got {text!r}")
    return seconds


async def _pause(args: argparse.Namespace, url: str | None) -> None:
    seconds = None if args.duration is None else _duration(args.duration)
    async with Client(url, namespace=args.namespace) as client:
        pauses = Pauses(await client.redis(), client.keys)
        if args.command == "pause":
            await pauses.pause_queue(args.queue, seconds)
            print(f"paused {args.queue}" + ("" if seconds is None else f" for {seconds:g} s"))
        else:
            await pauses.resume_queue(args.queue)
            print(f"resumed {args.queue}")


async def _limit(args: argparse.Namespace, url: str | None) -> None:
    async with Client(url, namespace=args.namespace) as client:
        limits = Limits(await client.redis(), client.keys)
        if args.queue is None:
            if args.rate or args.concurrency is not None or args.clear:
                raise ConfigError("name the queue to limit: pace-worker limit QUEUE --rate 100/s")
            for limit in await limits.list():
                print(limit)
        elif args.clear:
            cleared = await limits.clear(args.queue)
            print(f"{args.queue}: {'limit cleared' if cleared else 'had no limit'}")
        elif args.rate is None and args.concurrency is None:
            print(await limits.get(args.queue) or f"{args.queue}: no limit")
        else:
            print(await limits.set(args.queue, rate=args.rate, concurrency=args.concurrency))


async def _progress(args: argparse.Namespace, url: str | None) -> None:
    from pace.cli.progress_view import show

    await show(args.scope.split(":"), url, namespace=args.namespace, watch=args.watch)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, or every interface ("", "0.0.0.0", "::")


async def _web(args: argparse.Namespace, url: str | None) -> None:
    from aiohttp import web

    from pace.web import create_app

    token = args.token or os.environ.get("PACE_WEB_TOKEN") or None
    local = _loopback(args.host)
    if not local and token is None:
        print(
            f"pace-worker: warning: serving on {args.host} without a token: anyone who can reach "
            "it sees the queues and jobs, and every action is refused; set --token or "
            "PACE_WEB_TOKEN",
            file=sys.stderr,
        )
    app = create_app(
        url, namespace=args.namespace, token=token, remote=None if local else True,
        allowed_hosts=args.allowed_host,
    )  # fmt: skip
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()  # connects to Redis: RedisUnavailable ends here
    try:
        try:
            await web.TCPSite(runner, args.host, args.port).start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"pace web on http://{shown}:{port}/ (Ctrl-C stops it)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


COMMANDS = {
    "run": _run,
    "enqueue": _enqueue,
    "info": _info,
    "failed": _failed,
    "progress": _progress,
    "pause": _pause,
    "resume": _pause,
    "limit": _limit,
    "web": _web,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pace-worker`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "run" and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.command == "web" and not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    try:
        with _redis_url(args) as url:
            run(COMMANDS[args.command](args, url), use_uvloop=not getattr(args, "no_uvloop", False))
    except KeyboardInterrupt:
        return 130
    except RedisUnavailable as exc:
        print(f"pace-worker: error: {exc}", file=sys.stderr)
        return 1
    except PaceError as exc:
        print(f"pace-worker: error: {exc}", file=sys.stderr)
        return 2
    return 0

