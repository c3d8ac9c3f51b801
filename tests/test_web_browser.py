"""The web page in a real headless Chromium (Debian's ``chromium``), driven over the Chrome
DevTools Protocol with aiohttp's websocket client: no driver binary, no browser download.

One test, with a real worker running jobs that tick progress: the overview shows a live bar
that moves; a queue is paused from the page (a dismissed confirmation does nothing, an accepted
one pauses it) and the worker stops taking its jobs; a failure is retried from the page and its
job is requeued; a queue is limited for the fleet from its page; markup in job args never
runs; screenshots of the overview, a staged group, the progress page and the overview on a
phone are saved: into docs/ (which the README shows) when
PACE_SCREENSHOTS=docs, else into the test's temporary directory, so a test run leaves the
checkout clean.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

import pace
from pace.progress import RedisStore
from pace.web import create_app
from tests.support import Starter, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = Path(__file__).parent.parent / "docs"
SHOTS = (
    DOCS
    if os.environ.get("PACE_SCREENSHOTS") == "docs"
    else Path(tempfile.mkdtemp(prefix="pace-shots-"))
)
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--window-size=1280,900", "--hide-scrollbars",
)  # fmt: skip
SCOPE = "user:3421"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (Debian: apt-get install chromium; make test does it)",
)


class Page:
    """One browser tab over the DevTools protocol: commands, dialogs, and a few helpers."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.dialogs: list[str] = []
        self.accept_dialogs = True
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif data.get("method") == "Page.javascriptDialogOpening":
                self.dialogs.append(data["params"]["message"])
                answer = self.send("Page.handleJavaScriptDialog", accept=self.accept_dialogs)
                task = asyncio.create_task(answer)  # the click waits for it: answer aside
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def send(self, method: str, **params: Any) -> Any:
        self._ids += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[self._ids] = future
        await self.ws.send_json({"id": self._ids, "method": method, "params": params})
        reply = await asyncio.wait_for(future, timeout=15)
        assert "error" not in reply, (method, reply["error"])
        return reply["result"]

    async def js(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def until(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll a JS expression until it is truthy; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not (value := await self.js(expression)):
            assert time.monotonic() < deadline, f"not true in time: {expression}"
            await asyncio.sleep(0.1)
        return value

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        loaded = f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        await self.until(loaded)

    async def click(self, selector: str) -> None:
        await self.js(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self, path: Path) -> None:
        height = await self.js("document.documentElement.scrollHeight")
        width = await self.js("document.documentElement.clientWidth")
        shot = await self.send(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        )  # fmt: skip
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.ws.close()


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A fresh headless Chromium (own profile), its first tab; stopped afterwards."""
    assert CHROMIUM is not None
    profiles = tempfile.TemporaryDirectory(prefix="pace-chromium-", ignore_cleanup_errors=True)
    with profiles as profile:
        process = await asyncio.create_subprocess_exec(
            CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its own process group: its helpers stop with it
        )  # fmt: skip
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            await wait_for(port_file.exists, timeout=20)
            await wait_for(lambda: len(port_file.read_text().split()) >= 2, timeout=5)
            port = port_file.read_text().split()[0]
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = await response.json()
                (tab,) = [t for t in targets if t["type"] == "page"]
                ws = await session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0)
                tab_page = Page(ws)
                await tab_page.send("Page.enable")
                try:
                    yield tab_page
                finally:
                    await tab_page.close()
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=5)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # helpers left behind, if any


def ruby_failure(class_name: str, args: list[Any], queue: str) -> bytes:
    record = {
        "failed_at": "2026/11/23 09:12:05 UTC", "payload": {"class": class_name, "args": args},
        "exception": "Stripe::CardError", "error": "Your card was declined.",
        "backtrace": ["app/jobs/charge.rb:14:in `perform'"], "worker": "web-1:4242:billing",
        "queue": queue,
    }  # fmt: skip
    return json.dumps(record, separators=(",", ":")).encode()


async def test_the_page_in_a_real_browser(
    page: Page, redis: Redis, client: pace.Client, start: Starter
) -> None:
    started = time.monotonic()
    mail_starts: list[float] = []

    async def handler(job: pace.Job) -> None:
        if job.class_name == "ImportContacts":
            total, pause = job.args[1], job.args[2]
            async with job.progress(("user", 3421), total=total, interval=0) as progress:
                for _ in range(total):
                    await asyncio.sleep(pause)
                    await progress.tick()
        elif job.staged is not None:  # a staged group's job: stage 2 runs a while
            await job.staged.set_status_message(f"{job.args[0]}: {len(job.args[0]) * 41} rows")
            await asyncio.sleep(0.05 if job.class_name == "ImportFile" else 20)
        else:
            mail_starts.append(time.monotonic())
            await asyncio.sleep(0.05)

    await start(["imports", "stages", "mail"], handler, concurrency=8)
    async with pace.StagedGroup.within_a_grouping("nightly import", client=client) as group:
        await group.stage(1).enqueue_many("ImportFile", [[f"file-{i}.csv"] for i in range(4)])
        await group.stage(2).enqueue_many("Index", [["contacts"], ["companies"]])
        await group.stage(3).enqueue("Summary", "nightly")
    await client.enqueue("imports", "ImportContacts", "contacts.csv", 120, 0.2)
    await client.enqueue("imports", "ImportContacts", "crm-export.csv", 400, 0.05)
    await client.enqueue("imports", "ImportContacts", "newsletter.csv", 40, 0.02)
    await client.enqueue_many("reports", "MonthlyReport", [[m, 2026] for m in range(1, 13)])
    await client.enqueue("reports", "Render", "<script>alert(1)</script>",
                         "<img src=x onerror=alert(2)>")  # fmt: skip
    await redis.rpush("resque:failed", ruby_failure("Charge", [1042, "EUR"], "billing"),
                      ruby_failure("Refund", [981, "USD"], "billing"),
                      ruby_failure("Charge", [1077, "EUR"], "billing"))  # fmt: skip
    await redis.incrby("resque:stat:failed", 3)
    await client.enqueue_in(1800, "reports", "WeeklyDigest", "team-7")
    await client.enqueue_in(7200, "mail", "Reminder", 42)
    feeding = asyncio.create_task(_feed_mail(client))
    server = TestServer(create_app(redis=redis), host="127.0.0.1")
    await server.start_server()
    root = str(server.make_url("/"))
    try:
        await wait_for(lambda: redis.exists("resque:pace:user:3421"), timeout=5)

        # The overview: a live progress bar moves without a reload.
        await page.open(root)
        bar = "document.querySelector('[data-scope=\"user:3421\"] .bar.running progress')"
        job = await page.until(f"{bar} && {bar}.closest('li').dataset.job")
        value = f"document.querySelector('li[data-job=\"{job}\"] progress').value"
        first = await page.js(value)
        await page.until(f"{value} > {first}", timeout=5)
        await page.until("document.querySelectorAll('.bar').length === 3", timeout=5)

        # Pause the mail queue from the page: a dismissed confirmation does nothing...
        pause = 'tr[data-queue="mail"] form button'
        page.accept_dialogs = False
        await page.click(pause)
        await asyncio.sleep(0.5)
        assert page.dialogs == ["Pause queue mail for every worker?"]
        assert await pace.Pauses(redis).list() == []
        # ... an accepted one pauses it for the fleet, and the worker stops taking its jobs.
        page.accept_dialogs = True
        await page.click(pause)
        await page.until("document.querySelector('.notice')?.textContent.includes('paused')")
        paused_at = time.monotonic()
        assert [p.name for p in await pace.Pauses(redis).list()] == ["mail"]
        badge = "document.querySelector('tr[data-queue=\"mail\"] .badge').textContent"
        assert await page.js(badge) == "paused"
        await asyncio.sleep(1.6)
        assert [t for t in mail_starts if t > paused_at + 1.0] == []
        assert await redis.llen("resque:queue:mail") > 0  # they wait in the queue
        await page.open(root)
        await page.until("document.querySelector('.live').dataset.updated")
        await page.screenshot(SHOTS / "web-overview.png")

        # Retry a failure from the page: its job is requeued, the record kept as retried.
        await page.open(root + "failures")
        await page.click('section.failure[data-index="0"] form[action$="/retry"] button')
        await page.until("document.querySelector('.notice')?.textContent.includes('requeued')")
        assert page.dialogs[-1] == "Requeue failure #0 (Charge) on billing?"
        assert await redis.lrange("resque:queue:billing", 0, -1) == [
            b'{"class":"Charge","args":[1042,"EUR"]}'
        ]
        assert json.loads(await redis.lindex("resque:failed", 0))["retried_at"]

        # Markup in job args is shown as text, never run.
        await page.open(root + "queues/reports?start=10")
        assert "<script>alert(1)</script>" in await page.js("document.body.innerText")
        assert not any("alert" in message or message in ("1", "2") for message in page.dialogs)

        # A staged group: its stages, jobs by status, status messages.
        await page.open(root + "batches/" + group.group_id)
        await page.until("document.querySelectorAll('.stage').length === 3", timeout=5)
        await page.screenshot(SHOTS / "web-workflow.png")

        # The progress page.
        await page.open(root + "progress/" + SCOPE)
        await page.until("document.querySelectorAll('.bar').length === 3", timeout=5)
        await page.until("document.querySelector('.live').dataset.updated")
        await page.screenshot(SHOTS / "web-progress.png")

        # The overview keeps its counts current by itself (the paused mail queue grows).
        await page.open(root)
        queued = "document.querySelector('[data-stat=\"queued\"]').textContent"
        before = await page.js(queued)
        await page.until(f"{queued} !== {json.dumps(before)}", timeout=5)
        assert await page.js("document.querySelector('.live-overview').dataset.updated")

        # Limit a queue for the whole fleet from its page (the form carries the CSRF token).
        await page.open(root + "queues/reports")
        rate = "document.querySelector('form[action$=\"/limit\"] input[name=rate]')"
        await page.js(f"{rate}.value = '30/m'")
        await page.click('form[action$="/limit"] button')
        await page.until("document.querySelector('.notice')?.textContent.includes('limited')")
        assert page.dialogs[-1] == "Limit queue reports for every worker?"
        assert str(await pace.Limits(redis).get("reports")) == "reports: 30/m"
        assert await page.js("document.querySelector('[data-limit]').dataset.limit") == "30/m"

        # The new pages, in pictures: at 1280 px, then the overview on a phone.
        await page.open(root + "failures?view=table")
        await page.click("[data-select-all]")
        assert await page.js("[...document.querySelectorAll('input[name=records]')]"
                             ".every((box) => box.checked)")  # fmt: skip
        assert (await page.js("document.querySelector('[data-at]').textContent")).endswith("ago")
        await page.screenshot(SHOTS / "web-failures.png")
        for path, shot in [("scheduled", "web-scheduled.png"), ("stats", "web-stats.png"),
                           ("queues", "web-queues.png")]:  # fmt: skip
            await page.open(root + path)
            await page.screenshot(SHOTS / shot)
        await page.send("Emulation.setDeviceMetricsOverride", width=390, height=844,
                        deviceScaleFactor=2, mobile=True)  # fmt: skip
        await page.open(root)
        await page.screenshot(SHOTS / "web-phone.png")

        # With hostile data, at 390 and 1280 px: every page within the viewport's width, a
        # 50,000-character message cut, no markup run.
        pages = await _hostile(redis, client, group.group_id)
        for width in (390, 1280):
            if width == 1280:
                await page.send("Emulation.clearDeviceMetricsOverride")
            for path in pages:
                await page.open(root + path)
                fits = "document.documentElement.scrollWidth <= window.innerWidth"
                assert await page.js(fits), (width, path, await page.js(
                    "document.documentElement.scrollWidth"))  # fmt: skip
                height = await page.js("document.documentElement.scrollHeight")
                assert height < 9000, (width, path, height)
        assert not any("alert" in message or message in ("1", "2") for message in page.dialogs)
    finally:
        feeding.cancel()
        await server.close()
    assert time.monotonic() - started < 80


async def _hostile(redis: Redis, client: pace.Client, group_id: str) -> list[str]:
    """Long unbroken names, a 50,000-character error, bidi overrides and markup everywhere;
    return the pages to look at."""
    long = "x" * 300
    await redis.sadd("resque:queues", "q" + long)
    await redis.rpush("resque:queue:q" + long, json.dumps({"class": "K" + long, "args": [long]}))
    record = json.loads(ruby_failure("C" + long, ["\u202egnp.exe", long], "q" + long))
    record["error"] = "E" * 50_000
    record["backtrace"] = [f"app/{long}.rb:{n}" for n in range(50)]
    await redis.rpush("resque:failed", json.dumps(record), ruby_failure("Plain", [1], "billing"))
    await client.enqueue_in(3600, "mail", "Later" + long, long, "<img src=x onerror=alert(1)>")
    await redis.sadd("resque:workers", f"host{long}:1:q{long}")
    progress = pace.Progress(("team", "ops"), total=10, name="N" + long, store=RedisStore(redis))
    await progress.tick(3, force=True)
    index = await redis.llen("resque:failed") - 2  # the long one
    raw = await redis.lindex("resque:failed", index)
    record_id = hashlib.sha1(raw).hexdigest()[:16]
    return ["", "queues", "workers", "scheduled", "failures", "failures?view=table",
            f"failures/{index}?id={record_id}", "stats", "progress/team:ops", "batches",
            f"batches/{group_id}", "queues/q" + long]  # fmt: skip


async def _feed_mail(client: pace.Client) -> None:
    """Keep the mail queue supplied."""
    while True:
        await client.enqueue_many("mail", "SendMail", [[f"user{i}@example.com"] for i in range(5)])
        await asyncio.sleep(0.2)
