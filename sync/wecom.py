"""Build the contacts assistant's client and push, for the CLI and the nightly job."""

from __future__ import annotations

import redis

from config import Settings
from hall.db import Database
from sync.push import Pusher, PushReport
from wework.client import contacts_client


def push_org(settings: Settings, db: Database, redis_conn: redis.Redis) -> PushReport:
    """Push the org to WeCom with the contacts-sync assistant's credential."""
    with contacts_client(settings, redis_conn) as client:
        return Pusher(db, client).push()
