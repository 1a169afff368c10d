"""Proposals from the issues board to the chain and back: the document is pinned (CID and hash in the on-chain
description), the proposal submitted by the relayer, ballots counted by segment, the city publishes the outcome,
and everything shows in the API and the open data."""

from __future__ import annotations

import csv
import io

from eth_account import Account
from eth_utils import keccak

from backend.services.documents import canonical_json
from tests.dao import AGAINST, FOR, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT


def _issue(stack, headers, title: str) -> int:
    response = stack.api.post("/issues", headers=headers, json={
        "title": title, "body": "兼六園周辺の夜間照明が足りない", "category": "town-planning"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _draft(stack, headers, issue_ids, title_en="Night lighting around Kenroku-en", category="town-planning"):
    return stack.api.post("/proposals", headers=headers, json={
        "title_ja": "兼六園周辺の夜間照明", "title_en": title_en, "body_ja": "照明を増やす。", "body_en": "Add lights.",
        "category": category, "issue_ids": issue_ids})


def test_member_proposal_from_a_supported_issue_to_outcome(stack):
    dao = stack.dao
    residents = dao.members([RESIDENT] * 5)
    others = dao.members([RELATIONSHIP_POPULATION] * 2 + [ORGANISATION])
    stack.index()
    author = stack.sign_in(residents[0])
    issue_id = _issue(stack, author, "Dark streets near Kenroku-en")

    # The rule: a member needs an issue with enough supports (3 by default); the city does not.
    refused = _draft(stack, author, [issue_id])
    assert refused.status_code == 403 and "supports" in refused.json()["detail"]
    for member in residents[1:4]:
        assert stack.api.post(f"/issues/{issue_id}/supports", headers=stack.sign_in(member)).status_code == 201

    drafted = _draft(stack, author, [issue_id])
    assert drafted.status_code == 202, drafted.text
    body = drafted.json()
    assert stack.wait_job(body["job"]["id"])["status"] == "confirmed"
    proposal_id = int(body["proposal_id"])

    # The document is in the content store, and the chain carries its URI and keccak.
    document = stack.api.get(f"/proposals/{proposal_id}/document").json()
    assert document["title"]["ja"] == "兼六園周辺の夜間照明" and document["issues"][0]["id"] == issue_id
    assert "0x" + keccak(canonical_json(document)).hex() == body["document_hash"]
    assert stack.services.content.get(body["document_cid"]) == canonical_json(document)
    stack.index()
    detail = stack.api.get(f"/proposals/{proposal_id}").json()
    assert detail["document_uri"] == f"ipfs://{body['document_cid']}" and detail["document_hash"] == body["document_hash"]
    assert detail["category"] == "town-planning" and detail["issues"][0]["id"] == issue_id
    assert detail["author"] == residents[0].address

    # Voting through the relayer; tallies by segment in the API equal the governor's.
    dao.advance_to(detail["vote_start"] + 1)
    votes = [(v, FOR) for v in residents[:4]] + [(residents[4], AGAINST)] + [(v, FOR) for v in others]
    jobs = [stack.api.post("/ballots", json=stack.ballot(proposal_id, v, s)).json()["id"] for v, s in votes]
    assert {stack.wait_job(j)["status"] for j in jobs} == {"confirmed"}
    stack.index()
    detail = stack.api.get(f"/proposals/{proposal_id}").json()
    assert detail["state"] == "Active"
    by_segment = detail["tallies"]["by_segment"]
    assert by_segment["resident"] == {"for": 4, "against": 1, "abstain": 0}
    assert by_segment["relationship-population"] == {"for": 2, "against": 0, "abstain": 0}
    assert detail["tallies"]["overall"] == {"for": 7, "against": 1, "abstain": 0}
    onchain = dao.governor.functions.proposalVotesBySegment(proposal_id, RESIDENT).call()
    assert onchain == [1, 4, 0]
    assert detail["turnout"]["voters"] == 8 and detail["turnout"]["eligible"] >= 8

    # Too early for an outcome: the registry's own error comes back before anything is accepted.
    city = stack.sign_in(dao.city)
    early = stack.api.post(f"/proposals/{proposal_id}/outcomes", headers=city, json={
        "status": "adopted", "summary_ja": "採択", "summary_en": "Adopted"})
    assert early.status_code == 409 and early.json()["error"] == "OutcomeRegistryVotingNotEnded"

    dao.advance_to(detail["vote_end"] + 1)
    # Carried out through the timelock, relayed for the city: queue, refused while the delay runs, then execute.
    member = stack.sign_in(residents[1])
    assert stack.api.post(f"/proposals/{proposal_id}/execute", headers=city).status_code == 409  # not queued yet
    assert stack.api.post(f"/proposals/{proposal_id}/queue", headers=member).status_code == 403
    queued = stack.api.post(f"/proposals/{proposal_id}/queue", headers=city)
    assert queued.status_code == 202, queued.text
    assert stack.wait_job(queued.json()["id"])["status"] == "confirmed"
    assert stack.api.post(f"/proposals/{proposal_id}/queue", headers=city).status_code == 409  # already queued
    stack.index()
    too_early = stack.api.post(f"/proposals/{proposal_id}/execute", headers=city)
    assert too_early.status_code == 409 and too_early.json()["error"].startswith("Timelock"), too_early.text
    dao.wait_seconds(61)
    executed = stack.api.post(f"/proposals/{proposal_id}/execute", headers=city)
    assert executed.status_code == 202, executed.text
    assert stack.wait_job(executed.json()["id"])["status"] == "confirmed"
    stack.index()
    detail = stack.api.get(f"/proposals/{proposal_id}").json()
    assert detail["state"] == "Executed" and detail["lifecycle"] == "executed"
    for status in ("adopted", "implemented"):
        response = stack.api.post(f"/proposals/{proposal_id}/outcomes", headers=city, json={
            "status": status, "summary_ja": "照明を設置", "summary_en": "Lights installed", "links": ["https://example.org"]})
        assert response.status_code == 202, response.text
        assert stack.wait_job(response.json()["id"])["status"] == "confirmed"
    stack.index()
    history = stack.api.get(f"/proposals/{proposal_id}").json()["outcomes"]
    assert [o["status"] for o in history] == ["adopted", "implemented"]
    feed = stack.api.get("/outcomes").json()
    assert feed["items"][0]["status"] == "implemented" and feed["items"][0]["title_en"] == "Night lighting around Kenroku-en"

    # Open data: the proposal, its results by segment with small counts suppressed, the outcomes.
    rows = stack.api.get("/open-data/results-by-segment.json").json()["rows"]
    mine = {r["segment"]: r for r in rows if r["proposal_id"] == str(proposal_id)}
    assert mine["resident"]["for_votes"] == 4 and mine["resident"]["suppressed"] is False
    assert mine["relationship-population"]["for_votes"] is None and mine["relationship-population"]["suppressed"] is True
    text = stack.api.get("/open-data/results-by-segment.csv", params={"lang": "en"}).text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0].keys() >= {"Proposal ID", "Segment", "For", "Suppressed"}
    ja = stack.api.get("/open-data/outcomes.csv")
    assert ja.headers["content-type"].startswith("text/csv") and ja.text.splitlines()[0].startswith("提案ID,版,状況")
    assert len(ja.text.splitlines()) >= 3


def test_who_may_draft(stack):
    city = stack.sign_in(stack.dao.city)
    response = _draft(stack, city, [], title_en="A city proposal", category="culture")
    assert response.status_code == 202, response.text
    again = _draft(stack, city, [], title_en="A city proposal", category="culture")
    # the same document twice is the same proposal id: refused, nothing accepted twice
    assert again.status_code == 409 and again.json()["type"].endswith("/conflict")
    anyone = stack.sign_in(Account.create())
    assert _draft(stack, anyone, []).status_code == 403
    assert stack.api.post("/proposals", json={}).status_code == 422
    member = stack.dao.members([RESIDENT])[0]
    stack.index()
    assert _draft(stack, stack.sign_in(member), []).status_code == 403
    assert _draft(stack, stack.sign_in(member), [999999]).status_code == 422
    assert stack.api.get("/proposals/123").status_code == 404
    assert stack.api.get("/proposals/not-a-number").status_code == 422


def test_the_state_the_api_derives_equals_the_governors(stack):
    """The API derives Pending / Active / Defeated / Succeeded from the indexed proposal, its tallies and the head
    (no RPC per proposal); at every boundary it must say what governor.state() says."""
    from tests.dao import ABSTAIN, CULTURE, TOWN_PLANNING

    dao = stack.dao
    residents = dao.members([RESIDENT] * 3)
    others = dao.members([RELATIONSHIP_POPULATION] * 4)
    # One second apart (the clocks count seconds): the snapshots are start + 1, ..., start + 5.
    start = dao.now() + 10
    made = []
    for n, (description, category) in enumerate([
            ("derived state: culture, passes", CULTURE),
            ("derived state: town planning, residents against", TOWN_PLANNING),
            ("derived state: culture, nobody votes", CULTURE), ("derived state: culture, tie", CULTURE),
            ("derived state: canceled", CULTURE)]):
        dao.client.set_next_block_timestamp(start + n)
        made.append(dao.propose(description, category))
    passing, residents_against, silent, tied, canceled = made
    everything = made

    def check(expected: dict | None = None) -> None:
        stack.index()
        listed = {i["proposal_id"]: i["state"] for i in stack.api.get("/proposals?per_page=100").json()["items"]}
        for p in everything:
            onchain = dao.state(p)
            assert stack.api.get(f"/proposals/{p.proposal_id}").json()["state"] == onchain, p.description
            assert listed[str(p.proposal_id)] == onchain, p.description
            if expected and p in expected:
                assert onchain == expected[p], p.description

    # tied's snapshot is the head's time (still Pending), canceled's after it.
    dao.advance_to(dao.governor.functions.proposalSnapshot(tied.proposal_id).call())
    assert dao.now() == dao.governor.functions.proposalSnapshot(tied.proposal_id).call()
    check({tied: "Pending", canceled: "Pending", passing: "Active"})
    dao.client.set_next_block_timestamp(dao.now() + 1)  # the cancel lands at canceled's snapshot: still Pending
    dao.client.transact(dao.governor.functions.cancel(canceled.targets, canceled.values, canceled.calldatas,
                                                      canceled.description_hash), dao.relayer)
    check({canceled: "Canceled", tied: "Active"})
    for voter in residents:
        dao.vote_by_sig(passing, voter, FOR)
        dao.vote_by_sig(residents_against, voter, AGAINST)
    dao.vote_by_sig(passing, others[0], AGAINST)
    dao.vote_by_sig(tied, residents[0], FOR)
    dao.vote_by_sig(tied, others[0], AGAINST)
    dao.vote_by_sig(tied, others[1], ABSTAIN)
    for voter in others:
        dao.vote_by_sig(residents_against, voter, FOR)
    deadline = dao.governor.functions.proposalDeadline(tied.proposal_id).call()
    dao.advance_to(deadline)
    check({tied: "Active"})  # the head at the deadline: still Active on chain
    dao.advance_to(deadline + 1)
    check({passing: "Succeeded", silent: "Defeated", tied: "Defeated"})
    # Town planning: 4 for, 3 against overall would pass culture, but the residents voted against.
    assert dao.tallies(residents_against)[RESIDENT] == (3, 0, 0)
    assert dao.tallies(residents_against)[RELATIONSHIP_POPULATION] == (0, 4, 0)
    assert dao.state(residents_against) == "Defeated"
