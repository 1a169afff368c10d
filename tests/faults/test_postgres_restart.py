"""Fault (c): PostgreSQL restarts (`pg_ctlcluster ... restart`, fast shutdown: every connection is cut) while members
vote, the worker relays and the indexer follows the head. Requests meeting the outage get a 503 problem document,
not a 500 or a hang; nothing accepted is lost; the worker and the indexer process carry on by themselves.
PostgreSQL only (KANAZAWA_DAO_TEST_DATABASE_URL); the server is running again afterwards whatever happens."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.faults.conftest import require
from tests.faults.scenario import Scenario, check_all, wait_until


class Cluster:
    """The local PostgreSQL cluster behind KANAZAWA_DAO_TEST_DATABASE_URL, driven with pg_ctlcluster."""

    def __init__(self, version: str, name: str) -> None:
        self.version, self.name = version, name

    @classmethod
    def of(cls, url: str) -> Cluster:
        port = make_url(url).port or 5432
        conf = Path("/etc/postgresql")
        for version in sorted(os.listdir(conf)) if conf.is_dir() else []:
            for cluster in sorted(os.listdir(conf / version)):
                text = (conf / version / cluster / "postgresql.conf").read_text()
                if any("".join(line.split("#")[0].split()) == f"port={port}" for line in text.splitlines()):
                    return cls(version, cluster)
        message = f"no local PostgreSQL cluster on port {port} under /etc/postgresql to restart"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)

    def ctl(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action],
                              capture_output=True, text=True, timeout=120)

    def running(self) -> bool:
        return self.ctl("status").returncode == 0

    def ensure_running(self) -> None:
        if not self.running():
            result = self.ctl("start")
            assert result.returncode == 0 or self.running(), result.stderr


def test_postgres_restarts_under_load(rig):
    require(rig.database_kind == "postgresql", "PostgreSQL", "KANAZAWA_DAO_TEST_DATABASE_URL")
    cluster = Cluster.of(os.environ["KANAZAWA_DAO_TEST_DATABASE_URL"])
    assert cluster.running()
    scenario = Scenario(rig, "PostgreSQL restart")
    with scenario.reporting():
        scenario.prepare(members=40, proposals=2, claims=4)
        scenario.start_load()
        wait_until(lambda: scenario.accepted_count() >= 15 and scenario.statuses()["confirmed"] >= 5,
                   timeout=60, what="the load under way")
        scenario.figures["in_flight_at_restart"] = sum(n for s, n in scenario.statuses().items() if s != "confirmed")
        t0 = time.monotonic()
        try:
            result = cluster.ctl("restart")
            assert result.returncode == 0, result.stderr
        finally:
            cluster.ensure_running()  # whatever happened, the server runs again
        restored = time.monotonic()
        scenario.figures["restart_s"] = round(restored - t0, 1)
        scenario.figures["load_s"] = round(scenario.wait_load(), 1)
        rig.wait_jobs_final(set(scenario.accepted), timeout=200)
        scenario.figures["jobs_final_after_s"] = round(time.monotonic() - restored, 1)
        rig.wait_indexed()
        scenario.figures["indexer_caught_up_after_s"] = round(time.monotonic() - restored, 1)
        scenario.figures["unavailable"] = scenario.unavailable_details()[:3]
        scenario.check_answers()
        check_all(scenario)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_api_answers_503_when_the_database_is_down(tmp_path, kind):
    """Seen under the restart above (the API answered 500 then): a database that does not answer is a 503 problem
    document like any dependency. Reproduced without a restart: nothing listens on the port; a SQLite file in a
    directory that does not exist."""
    from fastapi.testclient import TestClient

    from backend.config import Settings
    from backend.toolchain.anvil import free_port
    from frontend_api.app import create_app

    url = (f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test" if kind == "postgresql"
           else f"sqlite:///{tmp_path}/missing/kanazawa_dao.sqlite3")
    settings = Settings(database_url=url, deployments_dir=tmp_path, content_dir=tmp_path / "content",
                        broker_url=f"sqla+sqlite:///{tmp_path}/broker.sqlite3", rpc_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings, dispatch=lambda _job_id: None), raise_server_exceptions=False) as api:
        response = api.get("/jobs/" + "0" * 32)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/unavailable")
