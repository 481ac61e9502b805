"""Where WeCom's contact events go: a seam between the callback and the sync.

The callback only records what WeCom told us; the sync (`sync/`) decides what it means for
the hall's people and departments. `ContactEventSink` is that seam; the default
`RedisContactLog` appends each event as JSON to a capped Redis list that the sync drains
(`LPOP hall:wecom:contact_changes`), and keeps the latest result of each batch job
(`HGET hall:wecom:batch_jobs <jobid>`), next to the client's `batch/getresult` polling.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

import redis

from callbacks.events import BatchJobResult, ContactChange

log = logging.getLogger("hall.callbacks.contacts")

CHANGES_KEY = "hall:wecom:contact_changes"
BATCH_JOBS_KEY = "hall:wecom:batch_jobs"
MAX_CHANGES = 100_000  # a full reorganisation fits; older entries are dropped first


class ContactEventSink(Protocol):
    def contact_changed(self, event: ContactChange) -> None: ...

    def batch_job_done(self, event: BatchJobResult) -> None: ...


def change_record(event: ContactChange) -> dict[str, object]:
    return {
        "change_type": event.change_type,
        "subject": event.subject,
        "create_time": int(event.create_time),
        "fields": event.fields,
    }


class RedisContactLog:
    """The default sink: a capped list of changes and a hash of batch job results."""

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection

    def contact_changed(self, event: ContactChange) -> None:
        entry = json.dumps(change_record(event), ensure_ascii=False, sort_keys=True)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(CHANGES_KEY, entry)
            pipe.ltrim(CHANGES_KEY, -MAX_CHANGES, -1)
            pipe.execute()
        log.info("wecom contact change %s %s", event.change_type, event.subject)

    def batch_job_done(self, event: BatchJobResult) -> None:
        entry = {
            "job_type": event.job_type,
            "errcode": event.errcode,
            "errmsg": event.errmsg,
            "create_time": int(event.create_time),
        }
        self.redis.hset(BATCH_JOBS_KEY, event.job_id, json.dumps(entry, ensure_ascii=False))
        level = logging.INFO if event.errcode == 0 else logging.WARNING
        log.log(level, "wecom batch job %s (%s): %s", event.job_id, event.job_type, event.errcode)
