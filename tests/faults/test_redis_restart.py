"""Fault (d): Redis, the Celery broker, restarts while members vote and the worker relays. The CI server keeps
nothing on disk (`--save "" --appendonly no`), so every queued message is lost: those jobs must still land, found by
the worker's sweep. Redis only (KANAZAWA_DAO_TEST_REDIS_URL); it is running again afterwards whatever happens."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import redis

from tests.faults.conftest import require
from tests.faults.scenario import Scenario, check_all, wait_until


class RedisServer:
    """The Redis server behind a URL: stopped with SHUTDOWN NOSAVE, started again with the settings it ran with."""

    SETTINGS = ("bind", "port", "save", "appendonly", "dir", "logfile")

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5)
        config = self.client.config_get("*")
        self.argv = ["redis-server", "--daemonize", "yes"]
        for key in self.SETTINGS:
            self.argv += [f"--{key}", *config[key].split()] if key == "bind" else [f"--{key}", config[key]]

    def running(self) -> bool:
        try:
            return self.client.ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        try:
            self.client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        assert not self.running()

    def start(self) -> None:
        if not self.running():
            subprocess.run(self.argv, check=True, capture_output=True, timeout=30)
            deadline = time.monotonic() + 20
            while not self.running():
                assert time.monotonic() < deadline, f"redis did not come back: {' '.join(self.argv)}"
                time.sleep(0.1)


def test_redis_restarts_under_load(rig):
    require(rig.broker_kind == "redis", "Redis", "KANAZAWA_DAO_TEST_REDIS_URL")
    redis_server = RedisServer(rig.stack.settings.broker_url)
    assert redis_server.running()
    scenario = Scenario(rig, "Redis restart")
    with scenario.reporting():
        scenario.prepare(members=40, proposals=2, claims=4)
        scenario.start_load()
        wait_until(lambda: scenario.accepted_count() >= 15 and scenario.statuses()["confirmed"] >= 5,
                   timeout=60, what="the load under way")
        queued = redis_server.client.llen("kanazawa-dao")
        t0 = time.monotonic()
        try:
            redis_server.stop()
            time.sleep(DOWN_S)  # members keep voting: accepted, their messages cannot be sent
        finally:
            redis_server.start()  # whatever happened, Redis runs again
        restored = time.monotonic()
        scenario.figures.update(messages_queued_when_stopped=queued, redis_down_s=round(restored - t0, 1),
                                load_s=round(scenario.wait_load(), 1))
        rig.wait_jobs_final(set(scenario.accepted), timeout=200)
        scenario.figures["jobs_final_after_s"] = round(time.monotonic() - restored, 1)
        scenario.check_answers(outage_statuses=())  # the API never needs the broker to accept
        check_all(scenario)


DOWN_S = 3.0
