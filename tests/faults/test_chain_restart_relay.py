"""Seen under fault (b), tests/faults/test_chain_down.py: a valid ballot ended `failed` with
`refused by the contract: GovernorInvalidSignature(voter=...)` and never landed, while the voter's earlier ballot did.

Why: anvil's state file keeps the mined blocks, not its transaction pool. A ballot the relayer had signed and
broadcast just before the chain stopped (anvil had answered with its hash, it was not mined yet), or whose broadcast
failed as the chain went away, is `submitted` but not on chain when the chain comes back; so are the relayer's later
transactions, queued behind that nonce gap until the earlier jobs' retries broadcast them again. The relayer let a
voter's next ballot go ahead as soon as the earlier one was `submitted`; its gas estimate then met the voter's old
governor nonce, and OpenZeppelin's castVoteBySig, which checks the signature over the voter's *current* nonce,
answered GovernorInvalidSignature: a definitive refusal, so the valid ballot failed for good.

Here the same, step by step, on the rig's real anvil and database (the relayer runs in process, the worker is
stopped): a ballot is broadcast while anvil mines nothing (so it waits in the pool), anvil is stopped with SIGTERM
and started again from its state file (the pool is gone), then the next job is relayed before the lost one's own
retry comes round."""

from __future__ import annotations

from backend.models.relay import RelayJob
from backend.services import relay
from backend.services.relay import Relayer, RetryLater
from tests.dao import FOR
from tests.faults.scenario import Rig, Scenario


def _jobs(rig: Rig, ids) -> dict[str, RelayJob]:
    with rig.stack.services.session() as session:
        return {j.id: j for j in session.query(RelayJob).filter(RelayJob.id.in_(list(ids)))}


def _broadcast_then_lose_it(rig: Rig, job_id: str, monkeypatch) -> RelayJob:
    """Relay `job_id` into anvil's pool (automine off), then SIGTERM anvil and start it again from its state file:
    the job is `submitted`, its transaction gone from the chain. Returns the job as it was signed."""
    services, w3 = rig.stack.services, rig.dao.w3
    monkeypatch.setattr(relay, "RECEIPT_WAIT_S", 1)  # it will not be mined: no need to wait 20 s for its receipt
    assert w3.provider.make_request("evm_setAutomine", [False]).get("error") is None
    try:
        try:
            status = Relayer(services).process(job_id)
        except RetryLater as exc:
            assert "not mined yet" in exc.reason, exc.reason
        else:
            raise AssertionError(f"the job is {status} although anvil mines nothing")
        job = _jobs(rig, [job_id])[job_id]
        assert job.status == "submitted"
        assert w3.eth.get_transaction(job.tx_hash)["blockNumber"] is None  # in anvil's pool
        head = w3.eth.block_number
        rig.stop_chain()  # SIGTERM: anvil saves its blocks, not its pool
        rig.start_chain()
    finally:
        if rig.anvil.alive():
            w3.provider.make_request("evm_setAutomine", [True])  # a restarted anvil mines anyway
    assert w3.eth.block_number == head, "anvil's state file lost or added blocks"
    assert w3.eth.get_transaction_count(job.sender, "pending") == job.tx_nonce, "the transaction was not lost"
    return job


def test_next_ballot_waits_until_the_earlier_one_is_on_chain_after_a_chain_restart(rig, monkeypatch):
    scenario = Scenario(rig, "ballot order after a chain restart")
    scenario.prepare(members=1, proposals=2, claims=0)
    voter, (first, second) = scenario.members[0], scenario.proposals
    rig.stack.stop_worker(kill=True)  # the test relays in process (the rig fixture starts the worker again)
    scenario.vote(voter, first, FOR)
    scenario.vote(voter, second, FOR)
    services, gov = rig.stack.services, rig.dao.governor
    earlier, later = sorted(_jobs(rig, scenario.accepted).values(), key=lambda j: j.order_nonce)
    assert (earlier.order_nonce, later.order_nonce) == (0, 1)

    lost = _broadcast_then_lose_it(rig, earlier.id, monkeypatch)
    assert gov.functions.nonces(voter.address).call() == 0  # the earlier ballot is not on chain

    # The later ballot must wait until the earlier one is on chain. It used to go ahead once the earlier one was
    # `submitted`: its estimate met the voter's nonce 0 with a signature over nonce 1, GovernorInvalidSignature,
    # failed for good.
    try:
        status = Relayer(services).process(later.id)
    except RetryLater as exc:
        assert "not on chain yet" in exc.reason, exc.reason
    else:
        raise AssertionError(f"the later ballot went ahead of the earlier one: {status} "
                             f"({_jobs(rig, [later.id])[later.id].error})")
    assert _jobs(rig, [later.id])[later.id].status == "pending"

    # The earlier ballot's very transaction is broadcast again and lands; then the later one.
    assert Relayer(services).process(earlier.id) == "confirmed"
    assert Relayer(services).process(later.id) == "confirmed"
    assert _jobs(rig, [earlier.id])[earlier.id].tx_hash == lost.tx_hash
    assert gov.functions.nonces(voter.address).call() == 2
    assert gov.functions.hasVoted(first, voter.address).call() and gov.functions.hasVoted(second, voter.address).call()


def test_a_transaction_lost_by_the_restart_does_not_hold_up_the_next_ones(rig, monkeypatch):
    """Another voter's ballot, signed after the restart with the relayer's next nonce, sat queued behind the lost
    transaction: its worker waited the full receipt timeout, and so did every job signed after it, until the lost
    job's own retry came round (jobs final 29 s after the chain was back in the drill). Now the first job that finds
    itself behind the gap broadcasts the stored transactions below it again."""
    scenario = Scenario(rig, "relayer nonce gap after a chain restart")
    scenario.prepare(members=2, proposals=1, claims=0)
    (one, other), (proposal,) = scenario.members, scenario.proposals
    rig.stack.stop_worker(kill=True)
    scenario.vote(one, proposal, FOR)
    (lost_id,) = scenario.accepted
    scenario.vote(other, proposal, FOR)
    (next_id,) = set(scenario.accepted) - {lost_id}
    services = rig.stack.services

    lost = _broadcast_then_lose_it(rig, lost_id, monkeypatch)
    # RECEIPT_WAIT_S is 1 s: without the gap filled, the next ballot would not be mined and this would retry.
    assert Relayer(services).process(next_id) == "confirmed", _jobs(rig, [next_id])[next_id].error
    jobs = _jobs(rig, [lost_id, next_id])
    assert jobs[next_id].tx_nonce == lost.tx_nonce + 1
    assert rig.dao.w3.eth.get_transaction_receipt(lost.tx_hash)["status"] == 1  # re-sent exactly as signed
    assert Relayer(services).process(lost_id) == "confirmed"
    assert _jobs(rig, [lost_id])[lost_id].tx_hash == lost.tx_hash
    gov = rig.dao.governor
    assert gov.functions.hasVoted(proposal, one.address).call() and gov.functions.hasVoted(proposal, other.address).call()
