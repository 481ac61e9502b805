"""The nightly job: scheduled at the cron's next school-time, runs sync + push, re-arms."""

from __future__ import annotations

from datetime import UTC, datetime

from rq import Queue, SimpleWorker
from sqlalchemy import select

from sync import jobs
from sync.models import SyncRun
from tests.sync.conftest import small_school, write_feed


def test_next_run_reads_the_cron_in_school_time():
    afternoon = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)  # 16:00 in Beijing
    assert jobs.next_run("0 2 * * *", afternoon) == datetime(2026, 9, 1, 18, 0, tzinfo=UTC)
    night = datetime(2026, 9, 1, 17, 30, tzinfo=UTC)  # 01:30 in Beijing
    assert jobs.next_run("0 2 * * *", night) == datetime(2026, 9, 1, 18, 0, tzinfo=UTC)


def test_arm_schedules_once(redis_conn):
    queue = Queue("hall-test", connection=redis_conn)
    now = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    job = jobs.arm(queue, "0 2 * * *", now=now)
    again = jobs.arm(queue, "0 2 * * *", now=now)
    assert job.id == again.id == "hall-sync-20260901T1800"
    assert queue.scheduled_job_registry.get_job_ids() == [job.id]


def test_the_nightly_job_syncs_pushes_and_rearms(committed_db, wecom, redis_conn):
    with committed_db.sessions() as feed_session:
        write_feed(feed_session, small_school())
    queue = Queue("hall-test", connection=redis_conn)
    queue.enqueue(jobs.nightly_sync, "0 2 * * *", job_id="hall-sync-now")
    context = jobs.SyncContext(db=committed_db, settings=wecom.settings, redis=redis_conn)
    with jobs.bound(context):
        SimpleWorker([queue], connection=redis_conn).work(burst=True)
    job = queue.fetch_job("hall-sync-now")
    assert job is not None
    result = job.return_value()
    assert result is not None
    assert result["status"] == "ok", job.latest_result()
    assert result["push"]["members"]["created"] == 12
    with committed_db.reader() as reader:
        run = reader.scalar(select(SyncRun).order_by(SyncRun.id.desc()))
        assert run is not None
        assert run.trigger == "cron"
        assert run.push is not None
        assert run.push["mode"] == "batch"
    assert wecom.store.get_user("100001")["name"] == "郑处长"
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1
    assert scheduled[0].startswith("hall-sync-")
