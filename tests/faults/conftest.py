"""Fixtures of the fault tests: one whole service (tests/faults/scenario.py `build_rig`) for the package, healed after
each test; each scenario checks its own ballots and claims, and the whole index and content store."""

from __future__ import annotations

import os

import pytest

from tests.faults.scenario import Rig, build_rig


@pytest.fixture(scope="package")
def shared_rig(tmp_path_factory):
    """The service on what the environment offers: PostgreSQL and Redis when the CI variables are set (.ci/run),
    the embedded SQLite database and broker otherwise."""
    yield from build_rig(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def rig(shared_rig: Rig):
    yield shared_rig
    shared_rig.heal()


def require(configured: bool, what: str, variable: str) -> None:
    """Like tests/conftest.py `_postgres_schema`: a failure in CI, a skip elsewhere, when a real service is not set."""
    if configured:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the {what} variants: set {variable} (see .ci/run)")
    pytest.skip(f"{what}: set {variable} (the CI run sets it)")
