"""The Celery app. Embedded default broker: kombu's SQLAlchemy transport on a SQLite file (no server); real
deployments set KANAZAWA_DAO_BROKER_URL to Redis or RabbitMQ. Configuration only, no code change.

Results are not stored: a job's state lives in its own table (relay_job), which the API reads.
"""

from __future__ import annotations

from pathlib import Path

import redis
from celery import Celery
from kombu.transport import redis as kombu_redis

from backend.config import Settings
from backend.services.context import Dispatch

RELAY_TASK = "kanazawa_dao.relay"
SWEEP_TASK = "kanazawa_dao.sweep"
QUEUE = "kanazawa-dao"
#: Seconds between sweeps (re-dispatch of jobs whose message was lost, attendance badges of ended events).
SWEEP_EVERY = 5.0
#: The embedded broker polls its table; kombu's default is once a second. Setting the transport class attribute is
#: the one way that works (transport options are handed to create_engine and crash it; TOOLCHAIN.md).
EMBEDDED_POLLING_INTERVAL = 0.1


class _RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        # When Redis goes away while the worker holds unacknowledged messages (acks_late: every running task),
        # Celery 5.7 collects the broken connection (which detaches its transport, `client = None`) and then closes
        # it; closing the channel tries to put those messages back through a new pool built from the detached
        # connection's parameters, and kombu 5.7 raises AttributeError there, which Celery treats as unrecoverable:
        # the worker exited instead of reconnecting (tests/faults/test_redis_restart.py). A connection error is
        # what that close path expects and ignores. The messages are not lost to us: the jobs are rows, and the
        # sweep dispatches every unfinished job again (a broker that restarted empty has lost them anyway).
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, with a worker that survives a Redis restart (`_RedisChannel`)."""

    Channel = _RedisChannel


def _prepare_broker(url: str) -> str | None:
    """Set-up a broker URL needs; returns the transport class to use instead of the URL scheme's, if any."""
    if url.startswith("sqla+sqlite:///"):
        Path(url.removeprefix("sqla+sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        from kombu.transport import sqlalchemy as sqla_transport

        sqla_transport.Transport.polling_interval = EMBEDDED_POLLING_INTERVAL
    if url.startswith(("redis://", "rediss://")):
        return f"{__name__}:RedisTransport"
    return None


def make_celery(settings: Settings) -> Celery:
    transport = _prepare_broker(settings.broker_url)
    app = Celery("kanazawa_dao", broker=settings.broker_url, include=["backend.tasks.jobs"])
    app.conf.update(
        broker_transport=transport,
        task_default_queue=QUEUE,
        task_ignore_result=True,
        # A task is acknowledged after it ran: a worker killed mid-task leaves the message to be delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        timezone="UTC",
        beat_schedule={"sweep": {"task": SWEEP_TASK, "schedule": SWEEP_EVERY, "options": {"expires": SWEEP_EVERY}}},
    )
    app.conf.kanazawa_dao_settings = settings
    return app


def declare_queue(settings: Settings) -> None:
    """Create the queue on the broker before the API and the worker start. On the embedded broker the first
    declaration inserts a row: an API and a worker declaring it at the same moment on a new file collide on the
    unique name and the worker exits (seen with `kanazawa-dao up`), so whoever starts both declares it first."""
    from kombu import Queue

    app = make_celery(settings)
    with app.connection_for_write() as connection:
        Queue(QUEUE, channel=connection.default_channel).declare()


def make_dispatch(settings: Settings) -> Dispatch:
    """How the API hands a job to the worker. A failed hand-off is not an error: the job row is committed and the
    worker's sweep will find it."""
    app = make_celery(settings)

    def dispatch(job_id: str) -> None:
        try:
            app.send_task(RELAY_TASK, args=[job_id], retry=False)
        except Exception:  # noqa: BLE001 - broker down: the sweep picks the job up
            pass

    return dispatch


#: The worker's app (`kanazawa-dao worker` and `celery -A backend.tasks.app worker`).
celery_app = make_celery(Settings())
