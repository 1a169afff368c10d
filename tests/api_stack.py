"""The whole service for API tests: a chain of its own (anvil) with the contracts deployed, a migrated database,
the API (FastAPI TestClient, in process), a real worker process (`kanazawa-dao worker`) and the indexer.

Embedded defaults (SQLite, the SQLite broker) on a fresh machine; PostgreSQL and Redis when the CI variables
KANAZAWA_DAO_TEST_DATABASE_URL / KANAZAWA_DAO_TEST_REDIS_URL are set (`.ci/run` sets them).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from backend.chain.deploy import write_manifest
from backend.config import Settings
from backend.db import make_engine, session_factory
from backend.services.context import Services
from frontend_api.app import create_app
from indexer.rpc import RpcClient
from indexer.runner import Indexer
from tests.dao import Dao

PUBLIC_URL = "http://testserver"
REPO_ROOT = Path(__file__).resolve().parent.parent


def siwe_message(address: str, nonce: str, *, chain_id: int = 31337, domain: str = "testserver",
                 uri: str = PUBLIC_URL, issued_at: dt.datetime | None = None,
                 expiration: dt.datetime | None = None) -> str:
    issued = (issued_at or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    lines = [f"{domain} wants you to sign in with your Ethereum account:", address, "",
             "Sign in to the Kanazawa co-creation DAO.", "", f"URI: {uri}", "Version: 1", f"Chain ID: {chain_id}",
             f"Nonce: {nonce}", f"Issued At: {issued}"]
    if expiration is not None:
        lines.append("Expiration Time: " + expiration.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    return "\n".join(lines)


def problem(response, status: int, slug: str) -> dict:
    """The RFC 9457 problem document of `response`, asserted to be of `status` and type `slug`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status, body
    return body


def sign_text(account: LocalAccount, message: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


@dataclass
class Stack:
    dao: Dao
    settings: Settings
    services: Services
    api: TestClient
    tmp: Path
    worker: subprocess.Popen | None = None
    worker_log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ processes

    def start_worker(self, *, rpc_url: str | None = None) -> None:
        assert self.worker is None or self.worker.poll() is not None, "a worker is already running"
        env = dict(self.env)
        if rpc_url:
            env["KANAZAWA_DAO_RPC_URL"] = rpc_url
        self.worker_log = self.tmp / f"worker-{time.monotonic_ns()}.log"
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "worker", "--concurrency", "4"], cwd=REPO_ROOT, env=env,
            stdout=self.worker_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def stop_worker(self, *, kill: bool = False) -> None:
        if self.worker is None or self.worker.poll() is not None:
            return
        os.killpg(self.worker.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=10)

    def worker_output(self) -> str:
        return self.worker_log.read_text()[-4000:] if self.worker_log and self.worker_log.exists() else ""

    def index(self) -> None:
        """Bring the indexed tables up to the chain's head."""
        engine = make_engine(self.settings.database_url)
        try:
            Indexer(sessions=session_factory(engine), rpc=RpcClient(self.settings.rpc_url),
                    deployment=self.dao.deployment).run(once=True)
        finally:
            engine.dispose()

    # ------------------------------------------------------------------ API helpers

    def sign_in(self, account: LocalAccount) -> dict[str, str]:
        """Headers of a signed-in session for `account`."""
        nonce = self.api.get("/auth/nonce").json()["nonce"]
        message = siwe_message(account.address, nonce)
        response = self.api.post("/auth/verify", json={"message": message, "signature": sign_text(account, message)})
        assert response.status_code == 200, response.text
        self.api.cookies.clear()  # the session travels as a bearer token: requests without it are anonymous
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def wait_job(self, job_id: str, *, timeout: float = 60, statuses: tuple[str, ...] = ("confirmed", "failed")) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.api.get(f"/jobs/{job_id}").json()
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s; worker log:\n"
                                     f"{self.worker_output()}")
            time.sleep(0.2)

    def ballot(self, proposal_id: int, voter: LocalAccount, support: int) -> dict[str, Any]:
        data = self.api.get("/ballots/typed-data", params={"proposal_id": str(proposal_id), "support": support,
                                                           "voter": voter.address}).json()
        from eth_account.messages import encode_typed_data

        typed = {**data, "message": {**data["message"], "proposalId": int(data["message"]["proposalId"]),
                                     "nonce": int(data["message"]["nonce"])}}
        signature = "0x" + bytes(voter.sign_message(encode_typed_data(full_message=typed)).signature).hex()
        return {"proposal_id": str(proposal_id), "support": support, "voter": voter.address,
                "nonce": data["message"]["nonce"], "signature": signature}


def new_account() -> LocalAccount:
    return Account.create()


def make_stack(tmp: Path, dao: Dao, rpc_url: str, *, database_url: str, broker_url: str,
               overrides: dict[str, str] | None = None) -> Stack:
    deployments = tmp / "deployments"
    write_manifest(dao.deployment, deployments)
    env_values = {
        "KANAZAWA_DAO_DATABASE_URL": database_url,
        "KANAZAWA_DAO_RPC_URL": rpc_url,
        "KANAZAWA_DAO_DEPLOYMENTS_DIR": str(deployments),
        "KANAZAWA_DAO_BROKER_URL": broker_url,
        "KANAZAWA_DAO_CONTENT_DIR": str(tmp / "content"),
        "KANAZAWA_DAO_PUBLIC_URL": PUBLIC_URL,
        # Tests index and read back at once; the read cache (a second of staleness) has tests of its own
        # (tests/api/test_read_cache.py).
        "KANAZAWA_DAO_READ_CACHE_SECONDS": "0",
        # The suite's own in-process client writes in bulk, like the operator's tools; tests/api/test_rate_limits.py
        # builds apps of its own with the limits it tests.
        "KANAZAWA_DAO_RATE_LIMIT_EXEMPT_CLIENTS": '["local"]',
        **(overrides or {}),
    }
    # As the environment would be read: list settings are JSON there.
    settings = Settings(**{k.removeprefix("KANAZAWA_DAO_").lower(): json.loads(v) if v.startswith("[") else v
                           for k, v in env_values.items()})
    from backend.tasks.app import make_dispatch

    services = Services(settings, dispatch=make_dispatch(settings))
    api = TestClient(create_app(settings, services=services), raise_server_exceptions=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANAZAWA_DAO_")} | env_values
    return Stack(dao=dao, settings=settings, services=services, api=api, tmp=tmp, env=env)
