"""A small newsletter app on pace: what it enqueues, and the handlers that run its jobs.

- :func:`sign_up` enqueues ``SendWelcome``; the mail server (a stand-in that keeps what it
  sends) can be down, and ``SendWelcome`` is retried with a backoff while it is.
- :func:`import_subscribers` is a multi-step task: an ``AddSubscriber`` job per address, in
  parallel, then an ``ImportReport`` finalization job.
- :func:`publish` is a staged group: ``Render`` the issue (reporting progress), then
  ``Deliver`` it to every subscriber, then ``MarkSent``.

Its test suite, ``test_newsletter.py``, uses only ``pace.testing`` and its pytest plugin:
``pytest examples/newsletter``. In production the same handlers run under
``pace-worker run '*' --app newsletter:HANDLERS``.
"""

from __future__ import annotations

import pace


class MailServerDown(ConnectionError):
    """The mail server did not answer."""


class Mailer:
    """The app's mail server, in memory: what it sent, and how many sends will fail first."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down_for = 0

    async def send(self, address: str, subject: str) -> None:
        if self.down_for:
            self.down_for -= 1
            raise MailServerDown("the mail server did not answer")
        self.sent.append((address, subject))


class Store:
    """The app's data, in memory: subscribers, issues sent, and a log of what ran."""

    def __init__(self) -> None:
        self.mailer = Mailer()
        self.subscribers: set[str] = set()
        self.sent_issues: list[str] = []
        self.log: list[str] = []


store = Store()
RETRY = {"SendWelcome": pace.RetryPolicy(attempts=5, backoff=30, exceptions=(MailServerDown,))}
"""The worker's ``retry`` setting: a mail server that is down is tried again, 30 s later
and then longer, five attempts in all."""


# -- what the app enqueues -----------------------------------------------------------------


async def sign_up(address: str) -> str:
    """A new reader: the welcome mail goes out from a job; return its id."""
    return await pace.enqueue("mail", "SendWelcome", address)


async def import_subscribers(addresses: list[str]) -> str:
    """Add many subscribers at once, then report; return the task's id."""
    async with pace.MultiStepTask.create("import subscribers") as task:
        await task.add_jobs("AddSubscriber", [[address] for address in addresses])
        await task.add_finalization_job("ImportReport")
    return task.task_id


async def publish(issue: str) -> str:
    """Render an issue, mail it to every subscriber, mark it sent; return the group's id."""
    async with pace.StagedGroup.within_a_grouping(f"publish {issue}") as group:
        await group.stage(1).enqueue("Render", issue)
        readers = [[issue, address] for address in sorted(store.subscribers)]
        await group.stage(2).enqueue_many("Deliver", readers)
        await group.stage(3).enqueue("MarkSent", issue)
    return group.group_id


# -- the handlers ----------------------------------------------------------------------------


async def send_welcome(job: pace.Job) -> None:
    (address,) = job.args
    if "@" not in address:
        raise ValueError(f"not a mail address: {address!r}")
    await store.mailer.send(address, "Welcome!")


async def add_subscriber(job: pace.Job) -> None:
    store.subscribers.add(job.args[0])
    store.log.append(f"AddSubscriber {job.args[0]}")


async def import_report(job: pace.Job) -> None:
    store.log.append(f"ImportReport {len(store.subscribers)} subscribers")


async def render(job: pace.Job) -> None:
    sections = ["news", "events", "letters"]
    async with job.progress(("issue", job.args[0]), total=len(sections)) as progress:
        for _section in sections:
            await progress.tick()
    store.log.append(f"Render {job.args[0]}")


async def deliver(job: pace.Job) -> None:
    issue, address = job.args
    await store.mailer.send(address, f"Issue {issue}")
    store.log.append(f"Deliver {address}")


async def mark_sent(job: pace.Job) -> None:
    store.sent_issues.append(job.args[0])
    store.log.append(f"MarkSent {job.args[0]}")


HANDLERS = {
    "SendWelcome": send_welcome,
    "AddSubscriber": add_subscriber,
    "ImportReport": import_report,
    "Render": render,
    "Deliver": deliver,
    "MarkSent": mark_sent,
}
