"""Gasless ballots: a member signs an EIP-712 `Ballot` (OpenZeppelin Governor's typehash); the API checks it and
accepts it as a relay job; the worker submits `castVoteBySig`.

Checked before accepting: the signature is the voter's; the proposal exists and is Active; the voter had voting
power at the proposal's snapshot (a member then); the voter has not voted and has no other ballot for it in flight;
the nonce is the voter's next one on chain, counting ballots still in flight (OpenZeppelin checks nonces in order,
so the worker submits a voter's ballots in nonce order). The same signed ballot posted twice is the same job.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import is_checksum_address
from sqlalchemy import func, select

from backend.chain import eip712
from backend.models.relay import RelayJob
from backend.services import chain_checks, relay
from backend.services.context import Services
from backend.services.errors import Conflict, InvalidInput, InvalidSignature, NotFound, RefusedByChain
from backend.services.proposals import cached_contract

STATES = ["Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed"]
SUPPORT = {0: "against", 1: "for", 2: "abstain"}


@dataclass(frozen=True)
class BallotIn:
    proposal_id: int
    support: int
    voter: str
    nonce: int
    signature: str


#: The governor's EIP-712 domain per (chain, address): fixed at deployment, read once instead of once per ballot.
_DOMAINS: dict[tuple[int, str], dict] = {}


def governor_domain(services: Services) -> dict:
    gov = cached_contract(services, "CityGovernor")
    key = (services.chain_id, gov.address)
    if key not in _DOMAINS:
        _DOMAINS[key] = eip712.domain_of(gov)
    return dict(_DOMAINS[key])


def _unfinished(session, order_key: str) -> list[RelayJob]:
    return list(session.scalars(select(RelayJob).where(RelayJob.order_key == order_key,
                                                       RelayJob.status.in_(("pending", "submitted")))))


def next_nonce(services: Services, voter: str) -> int:
    """The nonce the voter's next ballot must carry: on-chain nonce + ballots still in flight.

    The ballots in flight are read before the chain: a ballot that lands between the two reads is then still in
    the first (it was in flight) and counted by the second. The other order missed it in both and handed out a
    nonce already used (tests/faults/test_ballot_nonce_race.py)."""
    gov = cached_contract(services, "CityGovernor")
    with services.session() as session:
        in_flight = [j.order_nonce for j in _unfinished(session, _order_key(services, voter))]
    onchain = chain_checks.call(services, gov.functions.nonces(voter))
    return max([onchain, *[n + 1 for n in in_flight if n is not None]])


def typed_data(services: Services, *, proposal_id: int, support: int, voter: str) -> dict:
    msg = eip712.ballot_message(proposal_id=proposal_id, support=support, voter=voter,
                                nonce=next_nonce(services, voter))
    return eip712.typed_data(governor_domain(services), eip712.BALLOT_TYPES, msg)


#: Proposal snapshots per (chain, governor, proposal): fixed when the proposal is created.
_SNAPSHOTS: dict[tuple[int, str, int], int] = {}


def _snapshot(services: Services, gov, proposal_id: int) -> int:
    """The proposal's snapshot block (cached: it never changes); an unknown proposal is NotFound."""
    key = (services.chain_id, gov.address, proposal_id)
    if key not in _SNAPSHOTS:
        snapshot = chain_checks.call(services, gov.functions.proposalSnapshot(proposal_id))
        if snapshot == 0:  # OpenZeppelin answers 0 for a proposal it does not know
            raise NotFound(f"no proposal {proposal_id} on chain {services.chain_id}")
        if len(_SNAPSHOTS) >= 100_000:
            _SNAPSHOTS.clear()
        _SNAPSHOTS[key] = snapshot
    return _SNAPSHOTS[key]


def _order_key(services: Services, voter: str) -> str:
    return f"ballot:{services.chain_id}:{voter}"


def accept(services: Services, ballot: BallotIn) -> tuple[relay.JobView, bool]:
    if ballot.support not in SUPPORT:
        raise InvalidInput(f"support must be 0 (against), 1 (for) or 2 (abstain), not {ballot.support}")
    if not is_checksum_address(ballot.voter):
        raise InvalidInput("voter must be an EIP-55 checksummed address")
    full = eip712.typed_data(governor_domain(services), eip712.BALLOT_TYPES, eip712.ballot_message(
        proposal_id=ballot.proposal_id, support=ballot.support, voter=ballot.voter, nonce=ballot.nonce))
    try:
        signer = Account.recover_message(encode_typed_data(full_message=full), signature=ballot.signature)
    except Exception:  # noqa: BLE001 - malformed signatures raise several kinds
        raise InvalidSignature("the signature is malformed (65 bytes r, s, v expected)") from None
    if signer != ballot.voter:
        raise InvalidSignature(f"the ballot is signed by {signer}, not by the voter {ballot.voter}")
    # A validly signed ballot seen before is the same job (a replay changes nothing, even after it landed).
    dedupe_key = f"ballot:{services.chain_id}:{ballot.voter}:{ballot.nonce}"
    order_key = _order_key(services, ballot.voter)
    gov = cached_contract(services, "CityGovernor")
    snapshot = _snapshot(services, gov, ballot.proposal_id)
    # One transaction: the replay check, the voter's ballots in flight (read before the chain, see next_nonce), the
    # chain's facts in one batch of reads, the new job.
    with services.transaction() as session:
        existing = session.scalar(select(RelayJob).where(RelayJob.dedupe_key == dedupe_key))
        if existing is not None:
            if existing.payload.get("signature") == ballot.signature.lower():
                return relay.JobView.of(existing), False
            raise Conflict(f"a different ballot with nonce {ballot.nonce} of {ballot.voter} was already accepted")
        unfinished = _unfinished(session, order_key)
        pid, voter = ballot.proposal_id, ballot.voter
        state, voted, votes, onchain_nonce = chain_checks.call_many(services, [
            chain_checks.read(gov.address, "state(uint256)", ["uint256"], [pid], ["uint8"]),
            chain_checks.read(gov.address, "hasVoted(uint256,address)", ["uint256", "address"], [pid, voter], ["bool"]),
            chain_checks.read(gov.address, "getVotes(address,uint256)", ["address", "uint256"], [voter, snapshot],
                              ["uint256"]),
            chain_checks.read(gov.address, "nonces(address)", ["address"], [voter], ["uint256"])], refusals="return")
        for answer in (state, voted, onchain_nonce):
            if isinstance(answer, RefusedByChain):
                raise answer
        state = STATES[state]
        if state != "Active":
            raise RefusedByChain(f"proposal {pid} is {state}: ballots are accepted only while it is Active", state=state)
        if voted:
            raise Conflict(f"{voter} has already voted on proposal {pid}")
        if isinstance(votes, RefusedByChain):  # a snapshot still in the future: the proposal is not Active
            raise votes
        if votes == 0:
            raise RefusedByChain(f"{voter} was not a member at the proposal's snapshot (block {snapshot})",
                                 error="CityGovernorNotMemberAtSnapshot")
        expected = max([onchain_nonce, *[j.order_nonce + 1 for j in unfinished if j.order_nonce is not None]])
        if ballot.nonce != expected:
            raise Conflict(f"the ballot's nonce is {ballot.nonce}; {voter}'s next nonce is {expected} "
                           "(sign again with that nonce)", expected_nonce=expected)
        same_proposal = [j for j in unfinished if int(j.payload["proposal_id"]) == pid]
        if same_proposal:
            raise Conflict(f"a ballot of {voter} for this proposal is already being relayed (job {same_proposal[0].id})")
        job, created = relay.accept(
            session, kind="ballot", dedupe_key=dedupe_key, requested_by=voter, signer="relayer",
            sender=services.keys.relayer.address, order_key=order_key, order_nonce=ballot.nonce,
            payload={"proposal_id": str(pid), "support": ballot.support, "voter": voter,
                     "nonce": str(ballot.nonce), "signature": ballot.signature.lower()})
        view = relay.JobView.of(job)
    if created:
        services.dispatch(view.id)
    return view, created


def in_flight_count(services: Services) -> int:
    with services.session() as session:
        return session.scalar(select(func.count()).select_from(RelayJob).where(
            RelayJob.kind == "ballot", RelayJob.status.in_(("pending", "submitted")))) or 0
