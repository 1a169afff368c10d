"""Shared fixtures: one real anvil (pinned npm binary) on a free port per test session, the contracts deployed
once, and every test wrapped in evm_snapshot / evm_revert so tests stay independent (Titanoboa's pattern)."""

from __future__ import annotations

import pytest

from backend.chain.anvil import free_port, start_anvil
from backend.chain.client import ChainClient
from backend.chain.deploy import DeploymentParams, deploy_all
from tests.dao import Dao


@pytest.fixture(scope="session")
def anvil(tmp_path_factory):
    log = tmp_path_factory.mktemp("anvil") / "anvil.log"
    process = start_anvil(free_port(), log_file=log)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def client(anvil) -> ChainClient:
    return ChainClient.connect(anvil.rpc_url)


@pytest.fixture(scope="session")
def session_dao(client) -> Dao:
    params = DeploymentParams(voting_delay=1, voting_period=100, quorum_percent=10, timelock_delay=60)
    deployment = deploy_all(client, Dao.city_account(), params)
    dao = Dao(client, deployment)
    dao.grant_issuer(dao.issuer)
    return dao


@pytest.fixture
def dao(session_dao, client) -> Dao:
    snapshot = client.snapshot()
    yield session_dao
    client.revert(snapshot)
