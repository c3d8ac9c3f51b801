"""``pace-worker`` as a user runs it: real subprocesses against a real Redis.

Workers load their handlers from ``tests/cli_apps/jobs.py`` (``--app cli_apps.jobs:...``, run
from the ``tests`` directory); the handlers record what they ran in the session's Redis (or a
file), where the tests poll for it with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

import pace
from tests.support import on_both

TESTS_DIR = Path(__file__).parent
PACE = (sys.executable, "-m", "pace.cli")
RAN, STARTED, FINISHED = "test:ran", "test:started", "test:finished"  # see cli_apps/jobs.py
HOST = socket.gethostname()

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


@dataclass(frozen=True)
class Done:
    """A finished CLI command."""

    pid: int
    returncode: int
    stdout: str
    stderr: str


async def pace_cli(*args: str, env: dict[str, str], timeout: float = 20.0) -> Done:
    """Run ``python -m pace.cli ARGS`` from the tests directory and wait for it."""
    process = await asyncio.create_subprocess_exec(
        *PACE,
        *args,
        cwd=TESTS_DIR,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Done(process.pid, process.returncode, stdout.decode(), stderr.decode())


class Background:
    """A CLI process running in the background; its stderr goes to a file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def send(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def exited(self, timeout: float) -> int:
        """The exit status, once it exits within ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            pytest.fail(f"pid {self.pid} still running after {timeout} s:\n{self.stderr()}")

    async def wait_for(self, condition: Callable[[], Awaitable[Any]], timeout: float = 10) -> None:
        """Poll ``condition`` until it is truthy; fail if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not await condition():
            if self.process.returncode is not None:
                pytest.fail(f"exited with {self.process.returncode}:\n{self.stderr()}")
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met in {timeout} s:\n{self.stderr()}")
            await asyncio.sleep(0.02)


Spawn = Callable[..., Awaitable[Background]]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    """Start CLI commands in the background; stop (TERM, then KILL) what is left after the test."""
    started: list[Background] = []

    async def spawner(*args: str, env: dict[str, str], new_session: bool = False) -> Background:
        log = tmp_path / f"stderr-{len(started)}.log"
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *PACE,
                *args,
                cwd=TESTS_DIR,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=new_session,
            )
        started.append(Background(process, log))
        return started[-1]

    yield spawner
    for background in started:
        if background.process.returncode is None:
            background.send(signal.SIGTERM)
            try:
                await asyncio.wait_for(background.process.wait(), 5)
            except TimeoutError:
                background.process.kill()
                await background.process.wait()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: it holds the embedded Redis' unix socket."""
    directory = Path(tempfile.mkdtemp(prefix="pace-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


async def wait_for(condition: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def pids_mentioning(text: str) -> list[int]:
    """Pids of the processes whose command line contains ``text`` (this one excepted)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def worker_id(pid: int, queues: str) -> str:
    return f"{HOST}:{pid}:{queues}"


async def json_list(redis: Redis, key: str) -> list[Any]:
    return [json.loads(item) for item in await redis.lrange(key, 0, -1)]


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


# -- enqueue and info ------------------------------------------------------------------------


async def test_enqueue_writes_resque_json_and_info_lists_the_queue(
    cli_env: dict[str, str], redis: Redis
) -> None:
    done = await pace_cli(
        "enqueue", "mail", "SendMail", '"bob@example.com"', "3", '{"k":[1,null]}', '"café"',
        env=cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", job_id), done.stdout
    expected = (
        '{"class":"SendMail","args":["bob@example.com",3,{"k":[1,null]},"café"],'
        f'"id":"{job_id}"}}'
    )
    assert await redis.lrange("resque:queue:mail", 0, -1) == [expected.encode()]
    assert await redis.smembers("resque:queues") == {b"mail"}

    no_args = await pace_cli("enqueue", "mail", "Ping", env=cli_env)
    assert no_args.returncode == 0, no_args.stderr
    ping = f'{{"class":"Ping","args":[],"id":"{no_args.stdout.strip()}"}}'.encode()
    assert (await redis.lrange("resque:queue:mail", 0, -1))[1] == ping
    assert (await pace_cli("enqueue", "high", "Ping", env=cli_env)).returncode == 0

    info = await pace_cli("info", env=cli_env)
    assert info.returncode == 0, info.stderr
    lines = info.stdout.splitlines()
    assert "queues: 2" in lines
    assert lines.index("  high: 1") + 1 == lines.index("  mail: 2")  # sorted by name
    assert "workers: 0" in lines
    assert_no_traceback(info.stderr)


# -- run --burst -------------------------------------------------------------------------------


@on_both
async def test_run_burst_processes_every_job_and_exits_0(
    cli_env: dict[str, str], redis: Redis, client: pace.Client
) -> None:
    await client.enqueue_many("low", "Low", [[1], [2]])
    await client.enqueue_many("high", "High", [[3], ["x"]])
    done = await pace_cli(
        "run", "high,low", "--app", "cli_apps.jobs:record", "--burst", "--concurrency", "1",
        env=cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # one at a time, so in priority order: high before low
    assert await json_list(redis, RAN) == [
        ["High", [3]],
        ["High", ["x"]],
        ["Low", [1]],
        ["Low", [2]],
    ]
    assert await redis.llen("resque:queue:high") == await redis.llen("resque:queue:low") == 0
    assert await redis.get("resque:stat:processed") == b"4"
    assert await redis.llen("resque:failed") == 0
    assert await redis.smembers("resque:workers") == set()  # unregistered on the way out
    assert_no_traceback(done.stderr)


async def test_run_burst_with_a_registry_turns_an_unknown_class_into_a_failure(
    cli_env: dict[str, str], redis: Redis, client: pace.Client
) -> None:
    await client.enqueue("work", "Record", 1)
    await client.enqueue("work", "Mystery", 2)
    await client.enqueue("work", "Record", 3)
    done = await pace_cli("run", "work", "--app", "cli_apps.jobs:registry", "--burst", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert sorted(await json_list(redis, RAN)) == [["Record", [1]], ["Record", [3]]]
    (failure,) = await json_list(redis, "resque:failed")
    assert failure["exception"] == "pace.errors.UnknownJobClass"
    assert "Mystery" in failure["error"]
    assert (failure["payload"]["class"], failure["payload"]["args"]) == ("Mystery", [2])
    assert failure["queue"] == "work"
    assert failure["worker"] == worker_id(done.pid, "work")
    assert await redis.llen("resque:queue:work") == 0
    assert_no_traceback(done.stderr)


async def test_console_script_imports_the_app_from_the_current_directory(
    cli_env: dict[str, str], redis: Redis, client: pace.Client
) -> None:
    script = Path(sys.executable).with_name("pace-worker")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    await client.enqueue("work", "Record", 1)
    process = await asyncio.create_subprocess_exec(
        str(script), "run", "work", "--app", "cli_apps.jobs:record", "--burst",
        cwd=TESTS_DIR, env=cli_env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()
    assert await json_list(redis, RAN) == [["Record", [1]]]


# -- input the user must fix ---------------------------------------------------------------------

RECORD = ("--app", "cli_apps.jobs:record")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("run", "q", "--app", "cli_apps.jobs"), "MODULE:ATTR", id="app-no-colon"),
        pytest.param(
            ("run", "q", "--app", "cli_apps.missing:handler"),
            "cannot import module 'cli_apps.missing'",
            id="app-module-missing",
        ),
        pytest.param(
            ("run", "q", "--app", "cli_apps.jobs:missing"),
            "module 'cli_apps.jobs' has no attribute 'missing'",
            id="app-attribute-missing",
        ),
        pytest.param(
            ("run", "q", "--app", "cli_apps.jobs:not_a_coroutine"),
            "must be a coroutine function (async def)",
            id="app-not-a-coroutine",
        ),
        pytest.param(
            ("enqueue", "q", "Job", "bob"),
            "ARG_JSON 1 is not JSON: 'bob' (quote a string: '\"bob\"')",
            id="arg-not-json",
        ),
        pytest.param(
            ("run", "q", *RECORD, "--concurrency", "0"),
            "--concurrency must be at least 1",
            id="concurrency-0",
        ),
        pytest.param(
            ("run", "q", *RECORD, "--jobs-per-second", "0"),
            "jobs_per_second must be a number of jobs > 0",
            id="jobs-per-second-0",
        ),
        pytest.param(
            ("run", "q", *RECORD, "--bogus"), "unrecognized arguments: --bogus", id="unknown-flag"
        ),
        pytest.param(("enqueue", "a:b", "Job"), "bad queue name 'a:b'", id="enqueue-queue-colon"),
        pytest.param(("run", "a:b", *RECORD), "bad queue name 'a:b'", id="run-queue-colon"),
        pytest.param(
            ("info", "--redis-url", "localhost:6379"), "bad Redis URL", id="url-without-scheme"
        ),
        pytest.param(
            ("info", "--redis-url", "redis://x", "--embedded", "d"),
            "not allowed with argument",
            id="url-and-embedded",
        ),
    ],
)
async def test_bad_input_exits_2_with_a_message_saying_what_to_fix(
    cli_env: dict[str, str], redis: Redis, args: tuple[str, ...], message: str
) -> None:
    done = await pace_cli(*args, env=cli_env)
    assert done.returncode == 2, done
    assert message in done.stderr
    assert "error:" in done.stderr
    assert_no_traceback(done.stderr)
    assert done.stdout == ""
    assert await redis.dbsize() == 0  # nothing enqueued, no worker registered


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
async def test_enqueue_refuses_arg_json_that_is_not_standard_json(
    cli_env: dict[str, str], redis: Redis, value: str
) -> None:
    done = await pace_cli("enqueue", "q", "Job", value, env=cli_env)
    assert done.returncode == 2, done
    assert "ARG_JSON 1 is not JSON" in done.stderr
    assert await redis.dbsize() == 0


# -- an unreachable Redis ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("info",), id="info"),
        pytest.param(("enqueue", "q", "Job", "1"), id="enqueue"),
        pytest.param(("run", "q", *RECORD, "--burst"), id="run"),
    ],
)
async def test_unreachable_redis_exits_1_with_one_line_naming_the_url(
    cli_env: dict[str, str], args: tuple[str, ...]
) -> None:
    url = "redis://127.0.0.1:1/0"
    done = await pace_cli(*args, "--redis-url", url, env=cli_env)
    assert done.returncode == 1, done
    (line,) = done.stderr.strip().splitlines()
    assert url in line
    assert "--embedded" in line
    assert_no_traceback(done.stderr)


async def test_unreachable_redis_from_redis_url_hides_the_password(
    cli_env: dict[str, str],
) -> None:
    env = {**cli_env, "REDIS_URL": "redis://:s3cret@127.0.0.1:1/0"}
    done = await pace_cli("info", env=env)
    assert done.returncode == 1, done
    (line,) = done.stderr.strip().splitlines()
    assert "redis://:***@127.0.0.1:1/0" in line
    assert "s3cret" not in done.stderr


# -- signals on a running worker -----------------------------------------------------------------


async def start_worker(
    spawn: Spawn, redis: Redis, queues: str, app: str, env: dict[str, str], *flags: str
) -> tuple[Background, str]:
    """Start ``run QUEUES --app APP`` and wait until it is registered; return it and its id."""
    worker = await spawn("run", queues, "--app", app, *flags, env=env)
    wid = worker_id(worker.pid, queues)
    await worker.wait_for(lambda: redis.sismember("resque:workers", wid))
    return worker, wid


async def assert_unregistered(redis: Redis, wid: str) -> None:
    assert await redis.smembers("resque:workers") == set()
    assert not await redis.hexists("resque:workers:heartbeat", wid)
    assert not await redis.exists(f"resque:worker:{wid}", f"resque:worker:{wid}:started")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
async def test_term_and_int_stop_at_once_and_put_jobs_in_flight_back(
    cli_env: dict[str, str],
    redis: Redis,
    client: pace.Client,
    spawn: Spawn,
    sig: signal.Signals,
) -> None:
    await client.enqueue_many("work", "Slow", [[30, "a"], [30, "b"]])
    queued = await redis.lrange("resque:queue:work", 0, -1)
    worker, wid = await start_worker(spawn, redis, "work", "cli_apps.jobs:registry", cli_env)
    await worker.wait_for(lambda: _has_length(redis, STARTED, 2))
    assert await redis.llen("resque:queue:work") == 0

    started = time.monotonic()
    worker.send(sig)
    assert await worker.exited(timeout=10) == 0, worker.stderr()
    assert time.monotonic() - started < 3

    assert await redis.lrange("resque:queue:work", 0, -1) == queued  # back, in order
    assert await redis.llen(FINISHED) == 0
    assert await redis.llen("resque:failed") == 0
    await assert_unregistered(redis, wid)
    assert_no_traceback(worker.stderr())


async def test_quit_finishes_jobs_in_flight_then_exits(
    cli_env: dict[str, str], redis: Redis, client: pace.Client, spawn: Spawn
) -> None:
    await client.enqueue_many("work", "Slow", [[1.5, "a"], [1.5, "b"], [1.5, "c"]])
    not_started = (await redis.lrange("resque:queue:work", 0, -1))[2:]
    worker, wid = await start_worker(
        spawn, redis, "work", "cli_apps.jobs:registry", cli_env, "--concurrency", "2"
    )
    await worker.wait_for(lambda: _has_length(redis, STARTED, 2))

    worker.send(signal.SIGQUIT)
    assert await worker.exited(timeout=10) == 0, worker.stderr()

    assert sorted(await json_list(redis, FINISHED)) == ["a", "b"]  # finished before the exit
    assert await redis.lrange("resque:queue:work", 0, -1) == not_started  # no new job taken
    assert await redis.llen("resque:failed") == 0
    assert await redis.get("resque:stat:processed") == b"2"
    await assert_unregistered(redis, wid)
    assert_no_traceback(worker.stderr())


async def test_term_after_quit_cuts_the_drain_short_and_puts_the_jobs_back(
    cli_env: dict[str, str], redis: Redis, client: pace.Client, spawn: Spawn
) -> None:
    await client.enqueue("work", "Slow", 30, "a")
    queued = await redis.lrange("resque:queue:work", 0, -1)
    worker, wid = await start_worker(spawn, redis, "work", "cli_apps.jobs:registry", cli_env)
    await worker.wait_for(lambda: _has_length(redis, STARTED, 1))

    worker.send(signal.SIGQUIT)
    await asyncio.sleep(0.3)  # QUIT is being handled: the worker drains, for up to 30 s here
    assert worker.process.returncode is None
    started = time.monotonic()
    worker.send(signal.SIGTERM)
    assert await worker.exited(timeout=10) == 0, worker.stderr()
    assert time.monotonic() - started < 3

    assert await redis.lrange("resque:queue:work", 0, -1) == queued
    assert await redis.llen("resque:failed") == 0
    await assert_unregistered(redis, wid)


@pytest.mark.parametrize(
    "signals", [[signal.SIGTERM], [signal.SIGQUIT, signal.SIGTERM]], ids=["TERM", "QUIT-TERM"]
)
async def test_a_job_that_ignores_cancellation_delays_the_exit_by_a_second_at_most(
    cli_env: dict[str, str],
    redis: Redis,
    client: pace.Client,
    spawn: Spawn,
    signals: list[signal.Signals],
) -> None:
    """TERM waited 10 s, then forever (the loop's close awaited the job); a TERM after QUIT
    was swallowed. Now the job is abandoned a second after its cancellation (at once after a
    second stop) and put back in its queue, in order."""
    await client.enqueue("work", "Slow", 30, "a")
    await client.enqueue("work", "Stubborn", "b")
    queued = await redis.lrange("resque:queue:work", 0, -1)
    worker, wid = await start_worker(spawn, redis, "work", "cli_apps.jobs:registry", cli_env)
    await worker.wait_for(lambda: _has_length(redis, STARTED, 2))

    if signals[0] == signal.SIGQUIT:
        worker.send(signal.SIGQUIT)
        await asyncio.sleep(0.3)  # QUIT is being handled: the worker drains, with no limit
        assert worker.process.returncode is None
    started = time.monotonic()
    worker.send(signal.SIGTERM)
    assert await worker.exited(timeout=10) == 0, worker.stderr()
    assert time.monotonic() - started < 4

    assert await redis.lrange("resque:queue:work", 0, -1) == queued  # back, in order
    assert await redis.llen("resque:failed") == 0
    await assert_unregistered(redis, wid)
    assert_no_traceback(worker.stderr())
    assert "event loop" not in worker.stderr()
    assert "destroyed" not in worker.stderr()


async def test_usr2_pauses_and_cont_resumes(
    cli_env: dict[str, str], redis: Redis, client: pace.Client, spawn: Spawn
) -> None:
    worker, wid = await start_worker(spawn, redis, "work", "cli_apps.jobs:record", cli_env)
    await client.enqueue("work", "Before", 1)
    await worker.wait_for(lambda: _has_length(redis, RAN, 1))  # running, signal handlers set

    worker.send(signal.SIGUSR2)
    await asyncio.sleep(0.2)  # nothing in Redis shows the pause: give the signal time to land
    await client.enqueue("work", "During", 2)
    await asyncio.sleep(1.0)
    assert await redis.llen("resque:queue:work") == 1  # still queued after a second
    assert await json_list(redis, RAN) == [["Before", [1]]]
    assert await redis.sismember("resque:workers", wid)  # paused, not stopped

    worker.send(signal.SIGCONT)
    await worker.wait_for(lambda: _has_length(redis, RAN, 2), timeout=5)
    assert await json_list(redis, RAN) == [["Before", [1]], ["During", [2]]]
    assert await redis.llen("resque:queue:work") == 0

    worker.send(signal.SIGTERM)
    assert await worker.exited(timeout=10) == 0, worker.stderr()


async def _has_length(redis: Redis, key: str, length: int) -> bool:
    return bool(await redis.llen(key) >= length)


# -- the process title ---------------------------------------------------------------------------


@linux_only
async def test_process_title_contains_resque_dash_digit(
    cli_env: dict[str, str], redis: Redis, spawn: Spawn
) -> None:
    worker, _wid = await start_worker(spawn, redis, "high,low", "cli_apps.jobs:record", cli_env)
    title = Path(f"/proc/{worker.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert re.search(r"resque-\d", title), title
    assert "high,low" in title


# -- the embedded Redis --------------------------------------------------------------------------


@linux_only
async def test_embedded_redis_keeps_jobs_across_runs_and_leaves_no_server(
    cli_env: dict[str, str], redis: Redis, short_dir: Path, tmp_path: Path
) -> None:
    directory = str(short_dir / "redis")
    out = tmp_path / "ran.jsonl"
    env = {**cli_env, "PACE_TEST_OUT": str(out)}

    enqueued = await pace_cli(
        "enqueue", "--embedded", directory, "q", "Record", "1", '"x"', env=env
    )
    assert enqueued.returncode == 0, enqueued.stderr
    assert re.fullmatch(r"[0-9a-f]{32}", enqueued.stdout.strip()), enqueued.stdout
    assert pids_mentioning(directory) == []  # the server stopped with the command

    ran = await pace_cli(
        "run", "q", "--app", "cli_apps.jobs:to_file", "--burst", "--embedded", directory, env=env
    )
    assert ran.returncode == 0, ran.stderr
    assert out.read_text().splitlines() == ['["Record", [1, "x"]]']  # the job outlived a restart
    assert pids_mentioning(directory) == []

    info = await pace_cli("info", "--embedded", directory, env=env)
    assert info.returncode == 0, info.stderr
    assert {"processed: 1", "  q: 0"} <= set(info.stdout.splitlines())
    assert pids_mentioning(directory) == []
    assert await redis.dbsize() == 0  # REDIS_URL was not used
    assert_no_traceback(enqueued.stderr + ran.stderr + info.stderr)


@linux_only
async def test_embedded_redis_dies_with_a_killed_worker(
    cli_env: dict[str, str], redis: Redis, short_dir: Path, spawn: Spawn
) -> None:
    directory = str(short_dir)
    seeded = await pace_cli("enqueue", "--embedded", directory, "q", "Record", "1", env=cli_env)
    assert seeded.returncode == 0, seeded.stderr
    worker = await spawn("run", "q", *RECORD, "--embedded", directory, env=cli_env)
    await worker.wait_for(lambda: _has_length(redis, RAN, 1))  # records in REDIS_URL's Redis
    (server,) = pids_mentioning(directory)  # its redis-server (the CLI's title is the worker's)
    assert _parent(server) == worker.pid

    worker.process.kill()
    await worker.exited(timeout=5)
    await wait_for(lambda: _no_process_mentions(directory), timeout=5)


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


async def _no_process_mentions(text: str) -> bool:
    return not pids_mentioning(text)


@linux_only
async def test_ctrl_c_on_a_worker_with_embedded_redis_keeps_the_jobs_in_flight(
    cli_env: dict[str, str], redis: Redis, short_dir: Path, spawn: Spawn
) -> None:
    directory = str(short_dir)
    seeded = await pace_cli(
        "enqueue", "--embedded", directory, "q", "SlowCleanup", "30", '"a"', env=cli_env
    )
    assert seeded.returncode == 0, seeded.stderr
    worker = await spawn(
        "run", "q", "--app", "cli_apps.jobs:registry", "--embedded", directory,
        env=cli_env, new_session=True,
    )  # fmt: skip
    await worker.wait_for(lambda: _has_length(redis, STARTED, 1))

    os.killpg(worker.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    assert await worker.exited(timeout=10) == 0, worker.stderr()

    info = await pace_cli("info", "--embedded", directory, env=cli_env)
    assert "  q: 1" in info.stdout.splitlines(), worker.stderr()
