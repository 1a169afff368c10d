"""Reorg-safe relaying on a real anvil, with the real worker, on SQLite and on PostgreSQL: "confirmed" means the
transaction stays on the chain. A relayed ballot, claim, proposal and queue is dropped (`anvil_reorg` without
transactions, `anvil_rollback`), moved (the same transaction in another block) or replaced (another transaction
takes the relayer's nonce); afterwards every job's status, the API's tallies and states and the chain agree, and
every dropped action is on chain exactly once. Past chain values are cached only once final: a reorg below a
proposal's snapshot that changes the eligible count leaves the API's state equal to the governor's.

The stack runs with KANAZAWA_DAO_CONFIRMATIONS=3: a relayed transaction is `included` until three blocks are on
top of it, then `confirmed`."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from tests.dao import AGAINST, FOR, RESIDENT, STATES

CONFIRMATIONS = 3
IN_BLOCK = ("included", "confirmed", "failed")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory):
    from tests.conftest import _stack

    yield from _stack(tmp_path_factory, real_services=request.param == "postgresql",
                      overrides={"KANAZAWA_DAO_CONFIRMATIONS": str(CONFIRMATIONS)})


def _reorg(stack, depth: int, txs: list | None = None) -> None:
    response = stack.dao.w3.provider.make_request("anvil_reorg", [depth, txs or []])
    assert "error" not in response, response


def _job(stack, job_id: str) -> dict:
    return stack.api.get(f"/jobs/{job_id}").json()


def _job_row(stack, job_id: str):
    from backend.models.relay import RelayJob

    with stack.services.session() as session:
        return session.get(RelayJob, job_id)


def _agrees_with_chain(stack, job: dict) -> None:
    """What the API says of a job is what the chain says at this moment."""
    if job["status"] in ("included", "confirmed"):
        receipt = stack.dao.w3.eth.get_transaction_receipt(job["tx_hash"])
        assert receipt["blockNumber"] == job["block_number"], (job, receipt["blockNumber"])
        assert "0x" + bytes(receipt["blockHash"]).hex() == job["block_hash"]


def _settle(stack, job_id: str, *, timeout: float = 90) -> dict:
    """Wait until the job is in a block, then give it its confirmations and wait until it is confirmed."""
    job = stack.wait_job(job_id, statuses=IN_BLOCK, timeout=timeout)
    if job["status"] == "included":
        stack.dao.client.mine(CONFIRMATIONS)
        job = stack.wait_job(job_id, timeout=timeout)
    assert job["status"] == "confirmed", job
    _agrees_with_chain(stack, job)
    return job


def _active_proposal(stack, title: str):
    """A proposal Active for a few blocks already: a reorg of the blocks after them keeps it Active (the new
    branch's blocks come after the fork point's time, past the snapshot)."""
    proposal = stack.dao.propose(title)
    stack.dao.start_voting(proposal)
    stack.dao.client.mine(3)
    return proposal


def _drop_block_of(stack, job: dict) -> None:
    """Reorganise the chain from just below the job's block: the new branch, as long, lacks its transaction."""
    _reorg(stack, stack.dao.block_number() - job["block_number"] + 1)


# ---------------------------------------------------------------------- dropped, moved, replaced


def test_a_dropped_ballot_is_relayed_again_and_counted_once(stack):
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active_proposal(stack, "Reorg: dropped ballot")
    job_id = stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, voter, FOR)).json()["id"]
    included = stack.wait_job(job_id, statuses=IN_BLOCK)
    assert included["status"] == "included" and included["block_hash"], included
    _drop_block_of(stack, included)
    # At once, before the worker acts: the receipt page does not show a block that is gone.
    now = stack.api.get(f"/ballots/{job_id}").json()
    assert now["status"] in ("submitted", "included"), now
    _agrees_with_chain(stack, now)
    confirmed = _settle(stack, job_id)
    assert confirmed["tx_hash"] == included["tx_hash"]  # the stored transaction, sent again (its nonce was free)
    assert stack.dao.governor.functions.hasVoted(proposal.proposal_id, voter.address).call()
    assert stack.dao.tallies(proposal)[RESIDENT] == (0, 1, 0)
    assert stack.dao.governor.functions.nonces(voter.address).call() == 1


def test_a_moved_ballot_updates_its_block(stack):
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active_proposal(stack, "Reorg: moved ballot")
    job_id = stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, voter, AGAINST)).json()["id"]
    included = stack.wait_job(job_id, statuses=IN_BLOCK)
    raw = _job_row(stack, job_id).raw_tx
    stack.dao.client.mine(1)  # a block above it (still fewer than CONFIRMATIONS), for the new branch to reach
    # From two blocks below its block: the new branch has the same transaction one block later than before.
    _reorg(stack, stack.dao.block_number() - included["block_number"] + 2, [[raw, 2]])
    moved = stack.dao.w3.eth.get_transaction_receipt(included["tx_hash"])
    assert moved["blockNumber"] != included["block_number"]
    confirmed = _settle(stack, job_id)
    assert confirmed["block_number"] == moved["blockNumber"] and confirmed["tx_hash"] == included["tx_hash"]
    assert stack.dao.tallies(proposal)[RESIDENT] == (1, 0, 0)


def test_a_replaced_ballot_is_signed_again(stack):
    """Another transaction of the relayer takes the nonce of the ballot's transaction in the new branch: that
    transaction can never be mined, so the job is signed again with a new nonce, and lands once."""
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active_proposal(stack, "Reorg: replaced ballot")
    job_id = stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, voter, FOR)).json()["id"]
    included = stack.wait_job(job_id, statuses=IN_BLOCK)
    row = _job_row(stack, job_id)
    relayer = stack.services.keys.relayer
    other = relayer.sign_transaction({"to": relayer.address, "value": 0, "gas": 21_000, "nonce": row.tx_nonce,
                                      "chainId": stack.dao.client.chain_id, "maxFeePerGas": 10**11,
                                      "maxPriorityFeePerGas": 10**9})
    _reorg(stack, stack.dao.block_number() - included["block_number"] + 1,
           [["0x" + bytes(other.raw_transaction).hex(), 0]])
    confirmed = _settle(stack, job_id)
    assert confirmed["tx_hash"] != included["tx_hash"]
    assert stack.dao.tallies(proposal)[RESIDENT] == (0, 1, 0)


def test_a_rollback_drops_a_ballot_that_lands_again(stack):
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active_proposal(stack, "Reorg: rolled back")
    job_id = stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, voter, FOR)).json()["id"]
    included = stack.wait_job(job_id, statuses=IN_BLOCK)
    response = stack.dao.w3.provider.make_request("anvil_rollback", [stack.dao.block_number() - included["block_number"] + 1])
    assert "error" not in response, response
    assert stack.dao.block_number() < included["block_number"]
    _settle(stack, job_id)
    assert stack.dao.tallies(proposal)[RESIDENT] == (0, 1, 0)


def test_a_dropped_claim_lands_again(stack):
    invitee = Account.create()
    invitation, signature = stack.dao.invitation(invitee.address, RESIDENT, nonce=int(time.time() * 1000))
    body = {"invitation": {**invitation, "nonce": str(invitation["nonce"]), "expiry": str(invitation["expiry"])},
            "signature": "0x" + signature.hex()}
    job_id = stack.api.post("/claims", json=body).json()["id"]
    included = stack.wait_job(job_id, statuses=IN_BLOCK)
    _drop_block_of(stack, included)
    _settle(stack, job_id)
    assert stack.dao.card.functions.balanceOf(invitee.address).call() == 1


def _city(stack) -> dict[str, str]:
    stack.index()
    return stack.sign_in(stack.dao.city)


def _draft(stack, title: str) -> dict:
    response = stack.api.post("/proposals", headers=_city(stack), json={
        "title_ja": "再編成", "title_en": title, "body_ja": "本文", "body_en": "Body", "category": "culture"})
    assert response.status_code == 202, response.text
    return response.json()


def test_a_dropped_proposal_and_a_dropped_queue_land_again(stack):
    dao = stack.dao
    drafted = _draft(stack, "Reorg: dropped proposal")
    proposal_id = int(drafted["proposal_id"])
    included = stack.wait_job(drafted["job"]["id"], statuses=IN_BLOCK)
    _drop_block_of(stack, included)
    assert dao.governor.functions.proposalSnapshot(proposal_id).call() == 0  # gone from the chain
    _settle(stack, drafted["job"]["id"])
    assert dao.governor.functions.proposalSnapshot(proposal_id).call() != 0

    # Voted to success, then queued; the queue's block is dropped: the proposal is queued again, once.
    snapshot = dao.governor.functions.proposalSnapshot(proposal_id).call()
    dao.advance_to(snapshot + 1)
    needed = dao.card.functions.getPastTotalSupply(snapshot).call() * 10 // 100 + 1  # above the quorum
    eligible = _members_at(stack, snapshot)[:needed]
    assert len(eligible) == needed
    for voter in eligible:
        _settle(stack, stack.api.post("/ballots", json=stack.ballot(proposal_id, voter, FOR)).json()["id"])
    dao.advance_to(dao.governor.functions.proposalDeadline(proposal_id).call() + 1)
    assert STATES[dao.governor.functions.state(proposal_id).call()] == "Succeeded"
    stack.index()
    queued = stack.api.post(f"/proposals/{proposal_id}/queue", headers=_city(stack))
    assert queued.status_code == 202, queued.text
    included = stack.wait_job(queued.json()["id"], statuses=IN_BLOCK)
    _drop_block_of(stack, included)
    assert STATES[dao.governor.functions.state(proposal_id).call()] == "Succeeded"
    _settle(stack, queued.json()["id"])
    assert STATES[dao.governor.functions.state(proposal_id).call()] == "Queued"
    stack.index()
    api = stack.api.get(f"/proposals/{proposal_id}").json()
    assert api["state"] == "Queued" and api["tallies"]["overall"]["for"] == len(eligible)


#: Voters issued when the module starts, with the moment each card was issued (the card's clock: seconds).
_ISSUED: list[tuple[int, object]] = []


def _members_at(stack, timepoint: int) -> list:
    """The module's voters who held a card at `timepoint`."""
    return [m for t, m in _ISSUED if t <= timepoint]


@pytest.fixture(autouse=True, scope="module")
def _voters(stack):
    """Voters for the proposals of this module, issued before any of them exists."""
    for member in stack.dao.members([RESIDENT] * 12):
        _ISSUED.append((stack.dao.now(), member))
    yield
    _ISSUED.clear()


# ---------------------------------------------------------------------- confirmed, then taken by a deeper reorg


def test_a_deeper_reorg_than_the_depth_never_locks_a_voter_out(stack):
    """A ballot confirmed (3 blocks deep) whose block a deeper reorg takes: the job still says confirmed (nothing
    follows a final job), but posting the ballot again finds the voter's nonce unused on chain and puts the job
    back to relaying instead of answering with a dead job; it lands once."""
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active_proposal(stack, "Reorg: deeper than the depth")
    ballot = stack.ballot(proposal.proposal_id, voter, FOR)
    job_id = stack.api.post("/ballots", json=ballot).json()["id"]
    confirmed = _settle(stack, job_id)
    _drop_block_of(stack, confirmed)
    assert not stack.dao.governor.functions.hasVoted(proposal.proposal_id, voter.address).call()
    again = stack.api.post("/ballots", json=ballot)
    assert again.status_code == 200 and again.json()["id"] == job_id
    assert again.json()["status"] in ("submitted", "included", "confirmed")
    _settle(stack, job_id)
    assert stack.dao.tallies(proposal)[RESIDENT] == (0, 1, 0)


def test_a_deeper_reorg_never_keeps_a_queue_away(stack):
    dao = stack.dao
    drafted = _draft(stack, "Reorg: queue taken deeper")
    proposal_id = int(drafted["proposal_id"])
    _settle(stack, drafted["job"]["id"])
    snapshot = dao.governor.functions.proposalSnapshot(proposal_id).call()
    dao.advance_to(snapshot + 1)
    needed = dao.card.functions.getPastTotalSupply(snapshot).call() * 10 // 100 + 1
    for voter in _members_at(stack, snapshot)[:needed]:
        _settle(stack, stack.api.post("/ballots", json=stack.ballot(proposal_id, voter, FOR)).json()["id"])
    dao.advance_to(dao.governor.functions.proposalDeadline(proposal_id).call() + 1)
    stack.index()
    job_id = stack.api.post(f"/proposals/{proposal_id}/queue", headers=_city(stack)).json()["id"]
    confirmed = _settle(stack, job_id)
    _drop_block_of(stack, confirmed)
    assert STATES[dao.governor.functions.state(proposal_id).call()] == "Succeeded"
    again = stack.api.post(f"/proposals/{proposal_id}/queue", headers=_city(stack))
    assert again.status_code == 202 and again.json()["id"] == job_id, again.text
    _settle(stack, job_id)
    assert STATES[dao.governor.functions.state(proposal_id).call()] == "Queued"


# ---------------------------------------------------------------------- past values and the state the API shows


def test_a_reorg_below_the_snapshot_that_changes_the_eligible_count(stack):
    """The quorum is 10 % of the cards at the snapshot. With a multiple of ten cards, one card fewer lowers the
    quorum by one: the same votes are Defeated with the card and Succeeded without it. A reorg puts a revocation
    of that card into the snapshot block after the API has read the count; after the deadline the API's state is
    the governor's, and its eligible count the chain's."""
    dao = stack.dao

    def cards() -> int:  # the card supply now (ERC-5805 gives it for past moments only)
        dao.wait_seconds(1)
        return dao.card.functions.getPastTotalSupply(dao.now() - 1).call()

    victim = dao.members([RESIDENT])[0]
    while cards() % 10 != 0:
        dao.members([RESIDENT])
    supply = cards()
    drafted = _draft(stack, "Reorg: below the snapshot")
    proposal_id = int(drafted["proposal_id"])
    created = _settle(stack, drafted["job"]["id"])  # three blocks on top: the snapshot (creation + 1 s) is not final
    snapshot = dao.governor.functions.proposalSnapshot(proposal_id).call()
    assert snapshot == dao.w3.eth.get_block(created["block_number"])["timestamp"] + 1
    dao.advance_to(snapshot + 1)  # the snapshot past: the API reads the count (not final yet: fewer than 3 blocks)
    stack.index()
    before = stack.api.get(f"/proposals/{proposal_id}").json()
    assert before["turnout"]["eligible"] == supply

    issuer = dao.issuer
    revoke = issuer.sign_transaction(dao.card.functions.revoke(victim.address).build_transaction({
        "from": issuer.address, "nonce": dao.w3.eth.get_transaction_count(issuer.address), "gas": 200_000,
        "chainId": dao.client.chain_id, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}))
    # anvil dates the new branch's blocks at the fork point's time (the creation's, before the snapshot): the
    # revocation counts before the snapshot, and the clock moves past it again.
    _reorg(stack, dao.block_number() - created["block_number"], [["0x" + bytes(revoke.raw_transaction).hex(), 0]])
    assert dao.w3.eth.get_block(created["block_number"] + 1)["timestamp"] <= snapshot
    dao.advance_to(snapshot + 1)
    assert dao.card.functions.getPastTotalSupply(snapshot).call() == supply - 1
    assert dao.governor.functions.proposalSnapshot(proposal_id).call() == snapshot  # the proposal stayed

    needed = (supply - 1) * 10 // 100  # the quorum without the victim's card; one short of the one with it
    voters = [m for m in _members_at(stack, snapshot) if m is not victim][:needed]
    assert len(voters) == needed
    for voter in voters:
        _settle(stack, stack.api.post("/ballots", json=stack.ballot(proposal_id, voter, FOR)).json()["id"])
    dao.advance_to(dao.governor.functions.proposalDeadline(proposal_id).call() + 1)
    dao.client.mine(CONFIRMATIONS)  # the deadline final
    stack.index()
    chain_state = STATES[dao.governor.functions.state(proposal_id).call()]
    assert chain_state == "Succeeded"
    after = stack.api.get(f"/proposals/{proposal_id}").json()
    assert after["state"] == chain_state and after["turnout"]["eligible"] == supply - 1
    listed = stack.api.get("/proposals", params={"per_page": 100}).json()["items"]
    assert next(p for p in listed if p["proposal_id"] == str(proposal_id))["state"] == chain_state
    page = stack.api.get(f"/results/proposals/{proposal_id}")
    assert f'data-state="{chain_state}"' in page.text
