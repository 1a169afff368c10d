"""Celery tasks. Each is a thin shell over a service; the services hold the logic and the guarantees."""

from __future__ import annotations

import functools
import logging

from celery import shared_task

from backend.services import auth
from backend.services import relay as relay_service
from backend.services.context import Services
from backend.services.metaverse_events import plan_attendance_badges
from backend.services.relay import RELAY_RETRY, Relayer, RetryLater
from backend.tasks.app import RELAY_TASK, SWEEP_TASK

log = logging.getLogger("kanazawa_dao.worker")

#: Extra work for each sweep (registered by services that need periodic attention, e.g. attendance badges).
SWEEP_HOOKS: list = []
SWEEP_HOOKS.append(plan_attendance_badges)
SWEEP_HOOKS.append(auth.forget_ended)


@functools.cache
def services() -> Services:
    from backend.tasks.app import celery_app

    settings = celery_app.conf.kanazawa_dao_settings
    svc = Services(settings)
    svc.dispatch = lambda job_id: relay.apply_async(args=[job_id])
    return svc


@shared_task(name=RELAY_TASK, bind=True, acks_late=True, max_retries=RELAY_RETRY.max_retries)
def relay(self, job_id: str) -> str:
    try:
        status = Relayer(services(), log=log.info).process(job_id)
    except RetryLater as exc:
        countdown = RELAY_RETRY.countdown(exc.countdown, self.request.retries)
        log.info("job %s: %s; again in %.1f s", job_id, exc.reason, countdown)
        raise self.retry(countdown=countdown) from None
    except Exception as exc:  # noqa: BLE001 - the database went away, a bug: the job stays, try again later
        countdown = RELAY_RETRY.countdown(RELAY_RETRY.unexpected_countdown, self.request.retries)
        log.exception("job %s: unexpected error, again in %.0f s", job_id, countdown)
        raise self.retry(countdown=countdown, exc=exc) from None
    log.info("job %s: %s", job_id, status)
    return status


@shared_task(name=SWEEP_TASK, ignore_result=True)
def sweep() -> int:
    """Dispatch again every unfinished job nobody holds (its message may have been lost), then run the hooks."""
    svc = services()
    job_ids = relay_service.stale_jobs(svc)
    for job_id in job_ids:
        relay.apply_async(args=[job_id])
    for hook in SWEEP_HOOKS:
        try:
            hook(svc)
        except Exception:  # noqa: BLE001 - one hook failing must not stop the sweep
            log.exception("sweep hook %s failed", getattr(hook, "__name__", hook))
    return len(job_ids)
