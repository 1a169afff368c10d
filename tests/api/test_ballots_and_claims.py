"""Gasless ballots and claims through the real worker: accepted with 202, relayed, confirmed on chain, exactly
once, in nonce order per voter, and never lost when the worker or the chain is down."""

from __future__ import annotations

import time

from eth_account import Account

from backend.toolchain.anvil import free_port
from tests.api_stack import problem as _problem
from tests.dao import ABSTAIN, AGAINST, CULTURE, FOR, RELATIONSHIP_POPULATION, RESIDENT
from tests.rpc_proxy import RpcProxy

# ---------------------------------------------------------------------- claims


def test_relayed_claim_issues_a_card(stack):
    invitee = Account.create()
    invitation, signature = stack.dao.invitation(invitee.address, RELATIONSHIP_POPULATION, nonce=9001)
    body = {"invitation": {**invitation, "nonce": str(invitation["nonce"]), "expiry": str(invitation["expiry"])},
            "signature": "0x" + signature.hex()}
    response = stack.api.post("/claims", json=body)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] in ("pending", "submitted", "confirmed") and job["status_url"] == f"/claims/{job['id']}"
    done = stack.wait_job(job["id"])
    assert done["status"] == "confirmed", done
    assert stack.dao.card.functions.balanceOf(invitee.address).call() == 1
    assert stack.dao.card.functions.getVotes(invitee.address).call() == 1
    assert done["result"]["token_id"] == stack.dao.card.functions.memberNumberOf(invitee.address).call()
    # The same claim again is the same job; the chain saw one claim.
    again = stack.api.post("/claims", json=body)
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    assert stack.api.get(f"/claims/{job['id']}").json()["status"] == "confirmed"


def test_bad_claims_are_refused_before_acceptance(stack):
    invitee = Account.create()
    expired, signature = stack.dao.invitation(invitee.address, RESIDENT, nonce=9002, expiry=stack.dao.now() - 10)
    body = {"invitation": {**expired, "nonce": str(expired["nonce"]), "expiry": str(expired["expiry"])},
            "signature": "0x" + signature.hex()}
    problem = _problem(stack.api.post("/claims", json=body), 409, "refused-by-chain")
    assert problem["error"] == "MembershipCardInvitationExpired"

    forger = Account.create()
    invitation, _ = stack.dao.invitation(invitee.address, RESIDENT, nonce=9003)
    forged = stack.dao.invitation(invitee.address, RESIDENT, nonce=9003, issuer=forger)[1]
    body = {"invitation": {**invitation, "nonce": str(invitation["nonce"]), "expiry": str(invitation["expiry"])},
            "signature": "0x" + forged.hex()}
    problem = _problem(stack.api.post("/claims", json=body), 409, "refused-by-chain")
    assert problem["error"] == "MembershipCardInvalidInvitationSignature"

    body["invitation"]["segment"] = 7
    _problem(stack.api.post("/claims", json=body), 422, "invalid-input")
    body["invitation"]["segment"] = 1
    body["invitation"]["invitee"] = "0x123"
    _problem(stack.api.post("/claims", json=body), 422, "invalid-input")


# ---------------------------------------------------------------------- ballots


def _active_proposal(stack, description: str, category: int = CULTURE):
    proposal = stack.dao.propose(description, category)
    stack.dao.start_voting(proposal)
    return proposal


def test_ballots_are_relayed_and_counted_by_segment(stack):
    residents = stack.dao.members([RESIDENT] * 3)
    relationship = stack.dao.members([RELATIONSHIP_POPULATION] * 2)
    proposal = _active_proposal(stack, "Light up the Asano river at night")
    choices = [FOR, FOR, AGAINST, FOR, ABSTAIN]
    jobs = []
    for voter, support in zip(residents + relationship, choices):
        response = stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, voter, support))
        assert response.status_code == 202, response.text
        jobs.append(response.json()["id"])
    for job_id in jobs:
        job = stack.wait_job(job_id)
        assert job["status"] == "confirmed" and job["tx_hash"], job
        assert stack.api.get(f"/ballots/{job_id}").json()["block_number"] == job["block_number"]
    tallies = stack.dao.tallies(proposal)
    assert tallies[RESIDENT] == (1, 2, 0) and tallies[RELATIONSHIP_POPULATION] == (0, 1, 1)


def test_replayed_and_invalid_ballots(stack):
    voter, outsider = stack.dao.members([RESIDENT])[0], Account.create()
    proposal = _active_proposal(stack, "Support Kaga Yuzen workshops")
    ballot = stack.ballot(proposal.proposal_id, voter, FOR)
    first = stack.api.post("/ballots", json=ballot)
    assert first.status_code == 202
    replay = stack.api.post("/ballots", json=ballot)
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    assert stack.wait_job(first.json()["id"])["status"] == "confirmed"
    # After it landed, the replay is still the same job, and the chain counted one vote.
    assert stack.api.post("/ballots", json=ballot).json()["id"] == first.json()["id"]
    assert stack.dao.tallies(proposal)[RESIDENT] == (0, 1, 0)

    _problem(stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, voter, AGAINST)), 409, "conflict")
    problem = _problem(stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, outsider, FOR)), 409,
                       "refused-by-chain")
    assert "not a member" in problem["detail"]

    other = stack.dao.members([RESIDENT])[0]
    wrong_signer = {**stack.ballot(proposal.proposal_id, other, FOR), "voter": stack.dao.members([RESIDENT])[0].address}
    _problem(stack.api.post("/ballots", json=wrong_signer), 422, "invalid-signature")
    malformed = {**stack.ballot(proposal.proposal_id, other, FOR), "signature": "0x1234"}
    _problem(stack.api.post("/ballots", json=malformed), 422, "invalid-signature")
    _problem(stack.api.post("/ballots", json={**ballot, "support": 3}), 422, "invalid-input")
    _problem(stack.api.post("/ballots", json={**ballot, "proposal_id": "12345"}), 422, "invalid-signature")
    _problem(stack.api.post("/ballots", json=stack.ballot(12345, other, FOR)), 404, "not-found")


def test_ballot_for_a_closed_proposal_is_refused(stack):
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active_proposal(stack, "Closed before the ballot")
    ballot = stack.ballot(proposal.proposal_id, voter, FOR)
    stack.dao.end_voting(proposal)
    problem = _problem(stack.api.post("/ballots", json=ballot), 409, "refused-by-chain")
    assert problem["state"] == "Defeated"


def test_one_voter_many_proposals_in_nonce_order(stack):
    voter = stack.dao.members([RESIDENT])[0]
    proposals = [stack.dao.propose(f"Festival plan {i}") for i in range(4)]
    stack.dao.start_voting(proposals[-1])
    ids = []
    for proposal in proposals:  # each typed-data call counts the ballots still in flight
        ballot = stack.ballot(proposal.proposal_id, voter, FOR)
        ids.append(stack.api.post("/ballots", json=ballot).json()["id"])
    assert [stack.wait_job(i)["status"] for i in ids] == ["confirmed"] * 4
    assert all(stack.dao.governor.functions.hasVoted(p.proposal_id, voter.address).call() for p in proposals)


def test_no_ballot_lost_when_the_worker_is_down_or_killed(stack):
    voters = stack.dao.members([RESIDENT] * 6)
    proposal = _active_proposal(stack, "Worker outage drill")
    stack.stop_worker()
    ids = [stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, v, FOR)).json()["id"] for v in voters[:3]]
    time.sleep(1)
    assert {stack.api.get(f"/ballots/{i}").json()["status"] for i in ids} == {"pending"}
    stack.start_worker()
    ids += [stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, v, FOR)).json()["id"] for v in voters[3:]]
    time.sleep(0.5)
    stack.stop_worker(kill=True)  # kill -9 in the middle of relaying
    stack.start_worker()
    assert [stack.wait_job(i, timeout=90)["status"] for i in ids] == ["confirmed"] * 6
    assert stack.dao.tallies(proposal)[RESIDENT] == (0, 6, 0)  # each exactly once


def test_no_ballot_lost_when_the_chain_is_down(stack):
    voters = stack.dao.members([RESIDENT] * 3)
    proposal = _active_proposal(stack, "Chain outage drill")
    proxy = RpcProxy(stack.settings.rpc_url, free_port()).start()
    try:
        stack.stop_worker()
        stack.start_worker(rpc_url=proxy.url)
        proxy.refuse_for(8)
        ids = [stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, v, AGAINST)).json()["id"]
               for v in voters]
        time.sleep(3)
        assert {stack.api.get(f"/ballots/{i}").json()["status"] for i in ids} <= {"pending", "submitted"}
        assert [stack.wait_job(i, timeout=120)["status"] for i in ids] == ["confirmed"] * 3
        assert stack.dao.tallies(proposal)[RESIDENT] == (3, 0, 0)
    finally:
        stack.stop_worker()
        proxy.stop()
        stack.start_worker()


# ---------------------------------------------------------------------- group commit (backend/services/ballots.py)


def _ballot_in(body: dict):
    from backend.services.ballots import SignedBallot

    return SignedBallot(int(body["proposal_id"]), body["support"], body["voter"], int(body["nonce"]), body["signature"])


def _signed(stack, proposal_id: int, voter, support: int, nonce: int) -> dict:
    """A ballot signed for an explicit nonce (typed-data gives only the next one)."""
    from backend.chain import eip712
    from backend.services.ballots import _separator

    digest = eip712.ballot_digest(_separator(stack.services), proposal_id=proposal_id, support=support,
                                  voter=voter.address, nonce=nonce)
    return {"proposal_id": str(proposal_id), "support": support, "voter": voter.address, "nonce": str(nonce),
            "signature": "0x" + bytes(voter.unsafe_sign_hash(digest).signature).hex()}


def test_a_batch_decides_each_ballot_on_its_own(stack):
    """What the intake thread does with whatever queued up together: each ballot gets its own answer, checked
    against the jobs before the batch, the chain, and the ballots before it in the batch."""
    from backend.services.ballots import AGAIN, _accept_batch
    from backend.services.errors import Conflict, NotFound, RefusedByChain

    one, two, three = stack.dao.members([RESIDENT] * 3)
    outsider = Account.create()
    first, second = (stack.dao.propose(f"Batch {i}") for i in range(2))
    stack.dao.start_voting(second)
    stack.stop_worker()  # jobs stay in flight: the batch must count them
    try:
        earlier = _signed(stack, first.proposal_id, three, FOR, 0)
        accepted = stack.api.post("/ballots", json=earlier)
        assert accepted.status_code == 202
        batch = [
            _signed(stack, first.proposal_id, one, FOR, 0),        # 0 accepted
            _signed(stack, second.proposal_id, one, AGAINST, 1),   # 1 accepted: counts 0 as in flight
            _signed(stack, second.proposal_id, one, AGAINST, 1),   # 2 the same as 1: decided in the next batch
            _signed(stack, 12345, two, FOR, 0),                     # 3 no such proposal
            _signed(stack, first.proposal_id, outsider, FOR, 0),   # 4 not a member
            earlier,                                                # 5 a replay of a job before the batch
            _signed(stack, first.proposal_id, three, AGAINST, 0),  # 6 another ballot with that job's nonce
            _signed(stack, second.proposal_id, two, FOR, 1),       # 7 nonce 1, but two's next nonce is 0
            _signed(stack, first.proposal_id, two, ABSTAIN, 0),    # 8 accepted
        ]
        results = _accept_batch(stack.services, [_ballot_in(b) for b in batch])
        assert results[0][1] is True and results[1][1] is True and results[8][1] is True
        assert results[2] is AGAIN
        assert isinstance(results[3], NotFound)
        assert isinstance(results[4], RefusedByChain) and "not a member" in str(results[4])
        assert results[5] == (results[5][0], False) and results[5][0].id == accepted.json()["id"]
        assert isinstance(results[6], Conflict) and "different ballot" in str(results[6])
        assert isinstance(results[7], Conflict) and results[7].extra["expected_nonce"] == 0
        # Checked again, the repeat is the job the first became.
        again = stack.api.post("/ballots", json=batch[2])
        assert again.status_code == 200 and again.json()["id"] == results[1][0].id
        jobs = [results[0][0].id, results[1][0].id, results[8][0].id, accepted.json()["id"]]
    finally:
        stack.start_worker()
    assert [stack.wait_job(j)["status"] for j in jobs] == ["confirmed"] * 4
    assert stack.dao.governor.functions.hasVoted(second.proposal_id, one.address).call()


def test_concurrent_ballots_and_replays_are_one_job_each(stack):
    """Many members at once, each posting their ballot twice at the same moment (a double tap, a retrying app):
    every answer names the one job of that ballot, and the chain counts each vote once."""
    from concurrent.futures import ThreadPoolExecutor

    voters = stack.dao.members([RESIDENT] * 12 + [RELATIONSHIP_POPULATION] * 8)
    proposal = _active_proposal(stack, "Snow clearing volunteers")
    bodies = [stack.ballot(proposal.proposal_id, v, FOR if i % 3 else AGAINST) for i, v in enumerate(voters)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: stack.api.post("/ballots", json=b), bodies + bodies))
    assert {a.status_code for a in answers} <= {200, 202}, [a.text for a in answers if a.status_code >= 300]
    ids = [a.json()["id"] for a in answers]
    assert ids[:20] == ids[20:]  # a ballot and its replay: the same job
    assert sorted(a.status_code for a in answers).count(202) == 20
    assert [stack.wait_job(i)["status"] for i in ids[:20]] == ["confirmed"] * 20
    tallies = stack.dao.tallies(proposal)
    assert tallies[RESIDENT][0] + tallies[RESIDENT][1] == 12 and sum(tallies[RELATIONSHIP_POPULATION]) == 8
    assert sum(t[0] for t in tallies.values()) == 7  # every third voter voted against
