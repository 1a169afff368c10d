"""Fault (e): the content store refuses writes while members vote. The local store's directories are made
unwritable at the OS level: `chattr +i` (the immutable flag; the tests run as root, which chmod does not stop), or
chmod for an ordinary user. Reads still work. Drafting a proposal and publishing an outcome answer a clear 503 and
write nothing (no relay job, no proposal_document or pinned_document row); ballots carry on; after the store
recovers the same requests succeed and their documents are readable."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.models.document import PinnedDocument
from backend.models.proposal_document import ProposalDocument
from backend.models.relay import RelayJob
from tests.faults.scenario import Scenario, check_all, draft_body


@contextlib.contextmanager
def unwritable(root: Path) -> Iterator[str]:
    """Nothing in `root` can be created, changed or removed until the block ends; everything stays readable."""
    paths = [root, *sorted(root.rglob("*"))]
    if os.geteuid() == 0:
        how, undo = "chattr +i", ["chattr", "-i", *map(str, paths)]
        result = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(undo, capture_output=True)
            message = f"cannot make {root} unwritable as root: chattr +i: {result.stderr.strip()}"
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    else:
        how, undo = "chmod a-w", None
        modes = {p: p.stat().st_mode & 0o7777 for p in paths}
        for p in paths:
            p.chmod(modes[p] & ~0o222)
    try:
        probe = root / ".probe"
        with contextlib.suppress(OSError):
            probe.write_bytes(b"")
            probe.unlink()
            pytest.fail(f"{root} is still writable after {how}")
        yield how
    finally:
        if undo:
            subprocess.run(undo, check=True)
        else:
            for p in paths:
                p.chmod(modes[p])


def _written(rig) -> dict[str, int]:
    with rig.stack.services.session() as session:
        jobs = dict(session.execute(select(RelayJob.kind, func.count()).group_by(RelayJob.kind)).all())
        return {"propose jobs": jobs.get("propose", 0), "publish-outcome jobs": jobs.get("publish-outcome", 0),
                "proposal_document": session.scalar(select(func.count()).select_from(ProposalDocument)),
                "pinned_document": session.scalar(select(func.count()).select_from(PinnedDocument)),
                "files": sum(1 for p in Path(rig.stack.settings.content_dir).rglob("*") if p.is_file())}


def _refused(scenario: Scenario, response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/unavailable") and "content store" in body["detail"], body


def test_content_store_refuses_writes_under_load(rig):
    scenario = Scenario(rig, "content store unwritable")
    with scenario.reporting():
        scenario.prepare(members=40, proposals=2, claims=4)
        city = rig.stack.sign_in(rig.dao.city)
        root = Path(rig.stack.settings.content_dir)
        draft, outcome = draft_body("while the store is read-only"), {
            "status": "adopted", "summary_ja": "採択", "summary_en": "Adopted", "body_en": "Written during a fault."}
        target = scenario.proposals[0]
        with unwritable(root) as how:
            before = _written(rig)
            scenario.start_load()
            _refused(scenario, scenario.call("draft", "POST", "/proposals", headers=city, json=draft))
            scenario.figures["load_s"] = round(scenario.wait_load(), 1)
            rig.wait_jobs_final(set(scenario.accepted), timeout=120)
            # Voting over: the outcome can be published, and the store still refuses the report.
            rig.dao.advance_to(rig.dao.governor.functions.proposalDeadline(target).call() + 1)
            rig.wait_indexed()
            _refused(scenario, scenario.call("outcome", "POST", f"/proposals/{target}/outcomes", headers=city,
                                             json=outcome))
            assert _written(rig) == before, "a refused request wrote something"
        scenario.figures["made_unwritable_by"] = how

        drafted = scenario.call("draft", "POST", "/proposals", headers=city, json=draft)
        assert drafted.status_code == 202, drafted.text
        published = scenario.call("outcome", "POST", f"/proposals/{target}/outcomes", headers=city, json=outcome)
        assert published.status_code == 202, published.text
        jobs = {drafted.json()["job"]["id"], published.json()["id"]}
        rig.wait_jobs_final(jobs, timeout=60)
        assert {j.status for j in rig.jobs(("propose", "publish-outcome")) if j.id in jobs} == {"confirmed"}
        document = rig.stack.api.get(f"/proposals/{drafted.json()['proposal_id']}/document")
        assert document.status_code == 200 and document.json()["title"]["en"] == draft["title_en"], document.text
        rig.wait_indexed()
        feed = rig.stack.api.get("/outcomes").json()["items"]
        assert str(target) in [o["proposal_id"] for o in feed]
        scenario.check_answers()
        check_all(scenario)  # check 3 reads the new proposal document and the outcome report back


def test_local_store_that_cannot_write_is_unavailable(tmp_path):
    """The store itself: a write refused by the OS is ContentStoreUnavailable (a 503 in the API), reads still work."""
    from backend.ipfs.store import ContentStoreUnavailable, LocalStore

    store = LocalStore(tmp_path / "content")
    kept = store.add(b"pinned before the fault")
    with unwritable(store.root):
        with pytest.raises(ContentStoreUnavailable, match="cannot write"):
            store.add(b"a new document")
        assert store.get(kept) == b"pinned before the fault"
    assert store.get(store.add(b"a new document")) == b"a new document"
