"""The newsletter app's tests: jobs run in the test, through pace's real worker, on an
embedded Redis (pace.testing and its pytest plugin, nothing else)."""

from __future__ import annotations

import newsletter
import pytest

import pace
from pace.testing import InlineWorker

# -- a handler --------------------------------------------------------------------------------


async def test_signing_up_mails_a_welcome(pace_worker: InlineWorker) -> None:
    job_id = await newsletter.sign_up("ann@example.com")

    drained = await pace_worker.drain()

    assert [job.id for job in drained.processed] == [job_id]
    assert newsletter.store.mailer.sent == [("ann@example.com", "Welcome!")]


async def test_a_bad_address_is_a_failure_recorded_as_resque_records_it(
    pace_worker: InlineWorker,
) -> None:
    await newsletter.sign_up("not-an-address")

    drained = await pace_worker.drain()

    [failed] = drained.failed
    assert isinstance(failed.exception, ValueError)
    assert str(failed.exception) == "not a mail address: 'not-an-address'"
    async with pace.Client() as client:
        [record] = await pace.Failures(client).list()
    assert (record.exception, record.queue) == ("ValueError", "mail")
    assert newsletter.store.mailer.sent == []


async def test_a_mail_server_that_is_down_is_retried_with_a_backoff(
    pace_worker: InlineWorker,
) -> None:
    newsletter.store.mailer.down_for = 2
    await newsletter.sign_up("bob@example.com")

    first = await pace_worker.drain()  # attempt 1 fails; attempt 2 waits 30 s
    assert [type(run.exception) for run in first.runs] == [newsletter.MailServerDown]
    assert newsletter.store.mailer.sent == []

    rest = await pace_worker.drain(due_within=None)  # every retry now, however far off

    assert [run.job.attempt for run in rest.runs] == [2, 3]
    assert [job.attempt for job in rest.processed] == [3]
    assert newsletter.store.mailer.sent == [("bob@example.com", "Welcome!")]


# -- a multi-step task -----------------------------------------------------------------------


async def test_an_import_adds_every_subscriber_then_reports(pace_worker: InlineWorker) -> None:
    task_id = await newsletter.import_subscribers(["a@x.org", "b@x.org", "c@x.org"])

    drained = await pace_worker.drain()

    assert drained.failed == []
    assert newsletter.store.subscribers == {"a@x.org", "b@x.org", "c@x.org"}
    assert newsletter.store.log[-1] == "ImportReport 3 subscribers"  # after every step
    assert len(drained.processed) == 4
    with pytest.raises(pace.NoSuchMultiStepTask):  # done: the task cleaned up after itself
        await pace.MultiStepTask.find(task_id)


# -- a staged group --------------------------------------------------------------------------


async def test_an_issue_is_rendered_then_delivered_then_marked_sent(
    pace_worker: InlineWorker,
) -> None:
    newsletter.store.subscribers.update({"a@x.org", "b@x.org"})

    await newsletter.publish("42")
    drained = await pace_worker.drain()

    assert drained.failed == []
    log = newsletter.store.log
    assert log[0] == "Render 42"
    assert sorted(log[1:3]) == ["Deliver a@x.org", "Deliver b@x.org"]
    assert log[3:] == ["MarkSent 42"]
    assert newsletter.store.sent_issues == ["42"]
    [render] = (await pace.progress.jobs(("issue", "42"))).values()
    assert render.status == "completed"


async def test_a_delivery_that_fails_does_not_hold_the_group(pace_worker: InlineWorker) -> None:
    newsletter.store.subscribers.add("a@x.org")
    newsletter.store.mailer.down_for = 1  # Deliver is not retried: its failure is recorded

    await newsletter.publish("43")
    drained = await pace_worker.drain()

    assert [type(failed.exception) for failed in drained.failed] == [newsletter.MailServerDown]
    assert newsletter.store.sent_issues == ["43"]  # on_failure="continue", as resque-stages
