"""Gasless ballots: a member signs an EIP-712 `Ballot` (OpenZeppelin Governor's typehash); the API checks it and
accepts it as a relay job; the worker submits `castVoteBySig`.

Checked before accepting: the signature is the voter's; the proposal exists and is Active; the voter had voting
power at the proposal's snapshot (a member then); the voter has not voted and has no other ballot for it in flight;
the nonce is the voter's next one on chain, counting ballots still in flight (OpenZeppelin checks nonces in order,
so the worker submits a voter's ballots in nonce order). The same signed ballot posted twice is the same job.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from eth_utils import is_checksum_address
from sqlalchemy import or_, select

from backend.chain import eip712
from backend.domain import JST
from backend.domain.vocabulary import IN_FLIGHT_JOB_STATUSES, JobKind, ProposalState, Support
from backend.models.relay import RelayJob
from backend.services import chain_checks, relay
from backend.services.context import Services
from backend.services.errors import Conflict, InvalidInput, InvalidSignature, NotFound, RefusedByChain, Unavailable


@dataclass(frozen=True)
class SignedBallot:
    proposal_id: int
    support: int
    voter: str
    nonce: int
    signature: str


@relay.job_kind
@dataclass(frozen=True)
class BallotJob(relay.JobPayload):
    """A signed ballot, relayed as the governor's `castVoteBySig`."""

    kind: ClassVar[JobKind] = JobKind.BALLOT
    proposal_id: int
    support: int
    voter: str
    nonce: int
    signature: str  # 0x hex, canonical (v 27/28)

    def to_json(self) -> dict[str, Any]:
        return {"proposal_id": str(self.proposal_id), "support": self.support, "voter": self.voter,
                "nonce": str(self.nonce), "signature": self.signature.lower()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BallotJob:
        return cls(int(data["proposal_id"]), int(data["support"]), data["voter"], int(data["nonce"]),
                   data["signature"])

    def call(self, services: Services):
        return services.contract("CityGovernor").functions.castVoteBySig(
            self.proposal_id, self.support, self.voter, bytes.fromhex(self.signature.removeprefix("0x")))

    def refusal(self, services: Services, revert) -> str | None:
        """A ballot whose signature the governor refuses although the API checked it was signed for another nonce
        than the voter's on chain: an earlier ballot of theirs failed (the nonce it held is free again) or the
        voter used the nonce themselves. Either way the voter signs again; nothing holds their nonce."""
        if revert.error != "GovernorInvalidSignature":
            return None
        reason = f"refused by the contract: {revert}"
        try:
            onchain = services.contract("CityGovernor").functions.nonces(self.voter).call()
        except Exception:  # noqa: BLE001 - the plain reason is still true
            return None
        if onchain < self.nonce:
            return (f"{reason}; the ballot was signed for nonce {self.nonce}, but an earlier ballot of this voter did "
                    f"not land, so the voter's next nonce is {onchain}: sign the ballot again")
        if onchain > self.nonce:
            return (f"{reason}; nonce {self.nonce} of this voter was used on chain by another signature meanwhile "
                    f"(next is {onchain}): sign the ballot again")
        return None


def governor_domain(services: Services) -> dict:
    """The governor's EIP-712 domain: fixed at deployment, read once instead of once per ballot."""
    return dict(services.fixed(("eip712-domain", "CityGovernor"),
                               lambda: eip712.domain_of(services.contract("CityGovernor"))))


def _separator(services: Services) -> bytes:
    return services.fixed(("eip712-separator", "CityGovernor"),
                          lambda: eip712.domain_separator(governor_domain(services)))


def _unfinished(session, order_key: str) -> list[RelayJob]:
    return list(session.scalars(select(RelayJob).where(RelayJob.order_key == order_key,
                                                       RelayJob.status.in_(IN_FLIGHT_JOB_STATUSES))))


def next_nonce(services: Services, voter: str) -> int:
    """The nonce the voter's next ballot must carry: on-chain nonce + ballots still in flight.

    The ballots in flight are read before the chain: a ballot that lands between the two reads is then still in
    the first (it was in flight) and counted by the second. The other order missed it in both and handed out a
    nonce already used (tests/faults/test_ballot_nonce_race.py)."""
    gov = services.contract("CityGovernor")
    with services.session() as session:
        in_flight = [j.order_nonce for j in _unfinished(session, _order_key(services, voter))]
    onchain = chain_checks.call(services, gov.functions.nonces(voter))
    return max([onchain, *[n + 1 for n in in_flight if n is not None]])


def typed_data(services: Services, *, proposal_id: int, support: int, voter: str) -> dict:
    msg = eip712.ballot_message(proposal_id=proposal_id, support=support, voter=voter,
                                nonce=next_nonce(services, voter))
    return eip712.typed_data(governor_domain(services), eip712.BALLOT_TYPES, msg)


@dataclass(frozen=True)
class VotingWindow:
    """A proposal's snapshot and deadline (Unix times: the card's clock), fixed when it is created."""

    snapshot: int
    deadline: int


def _window(services: Services, gov, proposal_id: int) -> VotingWindow:
    """The proposal's voting window; an unknown proposal is NotFound. Fixed when the proposal is created, so
    cached once the snapshot is final (the proposal's creation, before its snapshot, is then final too; a reorg
    that moves the creation to another block moves the window with it)."""
    window = services.snapshots.get(proposal_id)
    if window is not None:
        return window
    snapshot, deadline = chain_checks.call_many(services, [gov.functions.proposalSnapshot(proposal_id),
                                                           gov.functions.proposalDeadline(proposal_id)])
    if snapshot == 0:  # OpenZeppelin answers 0 for a proposal it does not know
        raise NotFound(f"no proposal {proposal_id} on chain {services.chain_id}")
    window = VotingWindow(snapshot, deadline)
    if services.settings.confirmations == 0 or snapshot < chain_checks.head(services).final_timestamp:
        services.snapshots.put(proposal_id, window)
    return window


def moment(timepoint: int) -> str:
    """A moment of the card's clock as people read it: ISO 8601 in Japan time."""
    return dt.datetime.fromtimestamp(timepoint, JST).isoformat()


_JOB = RelayJob.__table__.c


def _order_key(services: Services, voter: str) -> str:
    return f"ballot:{services.chain_id}:{voter}"


def accept(services: Services, *, ballot: SignedBallot) -> tuple[relay.JobView, bool]:
    """Check a signed ballot and accept it as a relay job (committed when this returns): (job, created). The
    signature is checked here, in the request's thread; the checks against the database and the chain, and the
    insert, run in the process's `BallotIntake`, together with the ballots that arrived meanwhile."""
    if ballot.support not in set(Support):
        raise InvalidInput(f"support must be 0 (against), 1 (for) or 2 (abstain), not {ballot.support}",
                           field="support")
    if not is_checksum_address(ballot.voter):
        raise InvalidInput("voter must be an EIP-55 checksummed address", field="voter")
    try:
        digest = eip712.ballot_digest(_separator(services), proposal_id=ballot.proposal_id, support=ballot.support,
                                      voter=ballot.voter, nonce=ballot.nonce)
    except ValueError as exc:
        raise InvalidInput(f"the ballot does not fit the governor's Ballot type: {exc}") from None
    try:
        signature = eip712.canonical_signature(bytes.fromhex(ballot.signature.removeprefix("0x")))
        signer = eip712.recover_signer(digest, signature)
    except ValueError as exc:
        raise InvalidSignature(f"the signature is malformed: {exc}", field="signature") from None
    if signer != ballot.voter:
        raise InvalidSignature(f"the ballot is signed by {signer}, not by the voter {ballot.voter}", field="signature")
    # Stored and compared in its canonical form: the same signature spelled with v 0/1 is the same ballot, so
    # nobody can take a voter's nonce with a variant the chain would refuse.
    ballot = replace(ballot, signature="0x" + signature.hex())
    view, created = _intake(services).submit(ballot)
    if created:
        services.dispatch(view.id)
    return view, created


# ---------------------------------------------------------------------- group commit

#: At most this many ballots are checked together: one database read, one JSON-RPC batch (4 reads a ballot, 400 in
#: all: within what public nodes accept in one batch), one INSERT, one commit.
INTAKE_BATCH = 100
#: How long a request waits for its batch before it gets a 503 (the ballot may still be accepted: posting the same
#: signed ballot again answers with its job).
INTAKE_WAIT_S = 60.0


class BallotIntake:
    """Group commit for ballots, one per API process.

    Checking a ballot costs a few round trips (the relay jobs in flight, four chain reads, an insert and a commit)
    whose fixed costs, paid once per ballot, were most of the intake's CPU: 9-11 ms a ballot, under 110 ballots/s
    on two cores (scripts/bench_api.py). Requests hand their (signature-checked) ballot to one thread that takes
    whatever has queued up, at most INTAKE_BATCH, and checks and inserts them together; each request then gets its
    own answer or error. Nothing waits to fill a batch: alone, a ballot is a batch of one. A failure of the database
    or the chain fails every ballot of its batch (503, nothing written); a refusal fails only its own ballot."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, ballot: SignedBallot) -> tuple[relay.JobView, bool]:
        future: Future = Future()
        self._queue.put((ballot, future))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ballot-intake", daemon=True)
                self._thread.start()
        try:
            return future.result(timeout=INTAKE_WAIT_S)
        except FutureTimeout:
            raise Unavailable(f"the ballot was not checked within {INTAKE_WAIT_S:.0f} s (the service is overloaded); "
                              "post the same signed ballot again") from None

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < INTAKE_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            try:
                results = _accept_batch(self.services, [b for b, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - the database or the chain: each request answers it
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (ballot, future), result in zip(batch, results):
                if result is AGAIN:
                    self._queue.put((ballot, future))
                elif isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


#: `_accept_batch`'s answer for a ballot to be checked again in the next batch (a repeat of one in this batch).
AGAIN = object()

def _intake(services: Services) -> BallotIntake:
    """The process's ballot intake, started with the first ballot, stopped when the services close."""

    def start() -> BallotIntake:
        intake = BallotIntake(services)
        services.on_close(intake.stop)
        return intake

    return services.fixed("ballot-intake", start)


def _accept_batch(services: Services, ballots: list[SignedBallot]) -> list[tuple[relay.JobView, bool] | Exception | object]:
    """Check ballots whose signatures are valid and insert the acceptable ones as relay jobs, in order; each entry
    of the result is (job, created), the error to answer with, or AGAIN. What each ballot is checked against:

    - its voter's jobs, read before the chain (see next_nonce): the same voter and nonce seen before is the same
      job (a replay, even after it landed) or a conflict; ballots still in flight count towards the next nonce;
    - the chain, four reads a ballot in one batch: the proposal Active, not voted yet, voting power at the snapshot,
      the governor's nonce;
    - the ballots before it in the same batch: another nonce of the same voter counts as in flight; the same
      voter and nonce again is checked in the next batch, against the job the first one became (if it did).

    No database connection is held while the chain answers; a transaction held across the reads would not make
    them more consistent (READ COMMITTED: each statement sees what was committed when it started). The unique dedupe
    key makes requests for one voter and nonce accepted concurrently elsewhere (another API process) one job."""
    chain_id = services.chain_id
    gov = services.contract("CityGovernor")
    results: list = [None] * len(ballots)
    windows: dict[int, VotingWindow | Exception] = {}
    for pid in dict.fromkeys(b.proposal_id for b in ballots):
        try:
            windows[pid] = _window(services, gov, pid)
        except (NotFound, RefusedByChain) as exc:  # that proposal's ballots only
            windows[pid] = exc
    dedupe_keys = [f"ballot:{chain_id}:{b.voter}:{b.nonce}" for b in ballots]
    order_keys = [_order_key(services, b.voter) for b in ballots]
    with services.engine.connect() as connection:
        seen = connection.execute(select(_JOB.id, _JOB.dedupe_key, _JOB.order_key, _JOB.status, _JOB.order_nonce,
                                         _JOB.payload).where(
            _JOB.order_key.in_(set(order_keys)),
            or_(_JOB.dedupe_key.in_(set(dedupe_keys)), _JOB.status.in_(IN_FLIGHT_JOB_STATUSES)))).all()
    existing = {j.dedupe_key: j for j in seen}
    in_flight: dict[str, list[tuple[int, int]]] = {}  # order key -> (nonce, proposal id) of ballots not on chain yet
    for j in seen:
        if j.status in IN_FLIGHT_JOB_STATUSES and j.order_nonce is not None:
            in_flight.setdefault(j.order_key, []).append((j.order_nonce, int(j.payload["proposal_id"])))

    to_check = [i for i, b in enumerate(ballots)
                if dedupe_keys[i] not in existing and not isinstance(windows[b.proposal_id], Exception)]
    reads = []
    for i in to_check:
        pid, voter = ballots[i].proposal_id, ballots[i].voter
        reads += [
            chain_checks.read(gov.address, "state(uint256)", ["uint256"], [pid], ["uint8"]),
            chain_checks.read(gov.address, "hasVoted(uint256,address)", ["uint256", "address"], [pid, voter], ["bool"]),
            chain_checks.read(gov.address, "getVotes(address,uint256)", ["address", "uint256"],
                              [voter, windows[pid].snapshot], ["uint256"]),
            chain_checks.read(gov.address, "nonces(address)", ["address"], [voter], ["uint256"])]
    # A replay of a confirmed ballot: is it still on chain? A reorg deeper than `confirmations` may have taken it;
    # then the voter's nonce is unused again and the job is put back to relaying, not answered as if it had landed.
    landed = [i for i, b in enumerate(ballots) if dedupe_keys[i] in existing
              and existing[dedupe_keys[i]].status == "confirmed"
              and existing[dedupe_keys[i]].payload.get("signature") == b.signature.lower()]
    reads += [chain_checks.read(gov.address, "nonces(address)", ["address"], [ballots[i].voter], ["uint256"])
              for i in landed]
    answers = chain_checks.call_many(services, reads, refusals="return") if reads else []
    chain = {i: answers[4 * n:4 * n + 4] for n, i in enumerate(to_check)}
    gone = [existing[dedupe_keys[i]].id for n, i in enumerate(landed)
            if not isinstance(answers[4 * len(to_check) + n], RefusedByChain)
            and answers[4 * len(to_check) + n] <= ballots[i].nonce]
    if gone:
        with services.transaction() as session:
            reopened = [job_id for job_id in gone if relay.reopen(session, job_id)]
        for job_id in reopened:
            services.dispatch(job_id)

    accepted: dict[str, int] = {}  # dedupe key -> index of the ballot of this batch that took it
    new_jobs: list[relay.NewJob] = []
    for i, ballot in enumerate(ballots):
        key = dedupe_keys[i]
        if key in existing:  # seen before this batch: the same ballot again, or a conflict
            results[i] = ("seen", existing[key].id, existing[key].payload)
        elif isinstance(windows[ballot.proposal_id], Exception):
            results[i] = windows[ballot.proposal_id]
        elif key in accepted:  # the same voter and nonce earlier in this batch: decided in the next one
            results[i] = AGAIN
        else:
            try:
                _check(ballot, chain[i], in_flight.get(order_keys[i], []), windows[ballot.proposal_id])
            except (Conflict, RefusedByChain) as exc:
                results[i] = exc
                continue
            accepted[key] = i
            in_flight.setdefault(order_keys[i], []).append((ballot.nonce, ballot.proposal_id))
            new_jobs.append(relay.NewJob(
                payload=BallotJob(ballot.proposal_id, ballot.support, ballot.voter, ballot.nonce, ballot.signature),
                dedupe_key=key, requested_by=ballot.voter, signer="relayer", sender=services.keys.relayer.address,
                order_key=order_keys[i], order_nonce=ballot.nonce))
    raced: dict[str, Any] = {}
    if new_jobs:
        with services.engine.begin() as connection:
            views = relay.insert_new(connection, new_jobs)
            lost = [job.dedupe_key for job, view in zip(new_jobs, views) if view is None]
            if lost:  # accepted concurrently elsewhere since the read above
                raced = {j.dedupe_key: j for j in connection.execute(
                    select(_JOB.id, _JOB.dedupe_key, _JOB.payload).where(_JOB.dedupe_key.in_(lost)))}
        for job, view in zip(new_jobs, views):
            i = accepted[job.dedupe_key]
            results[i] = (view, True) if view is not None else ("seen", raced[job.dedupe_key].id,
                                                                 raced[job.dedupe_key].payload)
    for i, result in enumerate(results):
        if isinstance(result, tuple) and result[0] == "seen":
            results[i] = _same_ballot(services, result[1], result[2], ballots[i])
    return results


def _check(ballot: SignedBallot, answers: list, in_flight: list[tuple[int, int]], window: VotingWindow) -> None:
    """Refuse a ballot the chain or the voter's ballots in flight say no to (Conflict or RefusedByChain)."""
    state, voted, votes, onchain_nonce = answers
    for answer in (state, voted, onchain_nonce):
        if isinstance(answer, RefusedByChain):
            raise answer
    pid, voter = ballot.proposal_id, ballot.voter
    state = ProposalState(state).word
    if state != ProposalState.ACTIVE.word:
        raise RefusedByChain(f"proposal {pid} is {state}: ballots are accepted only while it is Active", state=state)
    if voted:
        raise Conflict(f"{voter} has already voted on proposal {pid}")
    if isinstance(votes, RefusedByChain):  # a snapshot still in the future: the proposal is not Active
        raise votes
    if votes == 0:
        raise RefusedByChain(f"{voter} was not a member at the proposal's snapshot ({moment(window.snapshot)})",
                             error="CityGovernorNotMemberAtSnapshot")
    expected = max([onchain_nonce, *[nonce + 1 for nonce, _ in in_flight]])
    if ballot.nonce != expected:
        raise Conflict(f"the ballot's nonce is {ballot.nonce}; {voter}'s next nonce is {expected} "
                       "(sign again with that nonce)", expected_nonce=expected)
    same_proposal = [p for _, p in in_flight if p == pid]
    if same_proposal:
        raise Conflict(f"a ballot of {voter} for this proposal is already being relayed")


def _same_ballot(services: Services, job_id: str, payload: dict, ballot: SignedBallot) -> tuple[relay.JobView, bool] | Conflict:
    """The job already accepted for this voter and nonce: this very ballot (a replay), or a conflict."""
    if payload.get("signature") == ballot.signature.lower():
        return relay.job_view(services, job_id=job_id), False
    return Conflict(f"a different ballot with nonce {ballot.nonce} of {ballot.voter} was already accepted")
