"""Proposals: drafted off chain, pinned to IPFS, submitted on chain by the relayer, read back joined with what the
indexer saw.

Who may draft (the rule is enforced here and documented in the README): the city, freely; a member, when the
proposal grows out of the issues board — it links at least one issue, and one of its linked issues has at least
`proposal_min_supports` supports. Proposals without on-chain actions are signals: their single action is a call of
nothing on the timelock, so they can still be queued and executed.

The on-chain description is `<title ja> / <title en>` followed by a trailer naming the document's `ipfs://<cid>` and
`document-hash: 0x<keccak>` (backend/domain/proposal_description.py: written after all user text, read from the
end), so the proposal id — a hash of the actions and the description — is known before submission and the
document can be verified by anyone: its bytes hash to the trailer's hash, and it describes this very proposal (its
titles and actions are the proposal's: `check_document`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eth_utils import is_checksum_address, keccak
from sqlalchemy import func, select
from sqlalchemy.orm import defer

from backend.chain.jsonrpc import JsonRpcUnavailable
from backend.domain import SUPPRESS_BELOW, proposal_description
from backend.domain.vocabulary import (
    Category,
    ChainRole,
    JobKind,
    JobStatus,
    ProposalState,
    Role,
    Segment,
)
from backend.models.chain import IndexerCursor, Outcome, Proposal, Tally, Vote
from backend.models.issue import Issue
from backend.models.metaverse_event import Attendance, MetaverseEvent
from backend.models.proposal_document import ProposalDocument, ProposalIssue
from backend.models.relay import RelayJob
from backend.services import chain_checks, documents, relay
from backend.services.context import Services
from backend.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RefusedByChain,
    Unavailable,
)
from backend.services.roles import Principal

MAX_ACTIONS = 10
DOCUMENT_SCHEMA = "kanazawa-dao/proposal-document/v1"


@relay.job_kind
@dataclass(frozen=True)
class ProposeJob(relay.JobPayload):
    """A drafted proposal submitted by the relayer (`proposeWithCategory`)."""

    kind: ClassVar[JobKind] = JobKind.PROPOSE
    proposal_id: int
    description: str
    category: int
    targets: list[str]
    values: list[int]
    calldatas: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"proposal_id": str(self.proposal_id), "description": self.description, "category": self.category,
                "actions": {"targets": list(self.targets), "values": [str(v) for v in self.values],
                            "calldatas": list(self.calldatas)}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProposeJob:
        a = data["actions"]
        return cls(int(data["proposal_id"]), data["description"], int(data["category"]), a["targets"],
                   [int(v) for v in a["values"]], a["calldatas"])

    def call(self, services: Services):
        return services.contract("CityGovernor").functions.proposeWithCategory(
            self.targets, self.values, [bytes.fromhex(c[2:]) for c in self.calldatas], self.description,
            self.category)


@dataclass(frozen=True)
class Action:
    target: str
    value: int = 0
    calldata: str = "0x"


@dataclass(frozen=True)
class ProposalDraft:
    title_ja: str
    title_en: str
    body_ja: str
    body_en: str
    category: str
    issue_ids: list[int] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


def _check_rule(session, services: Services, who: Principal, issue_ids: list[int]) -> list[Issue]:
    issues = []
    for issue_id in dict.fromkeys(issue_ids):
        issue = session.get(Issue, issue_id)
        if issue is None:
            raise InvalidInput(f"linked issue {issue_id} does not exist")
        issues.append(issue)
    if who.is_city:
        return issues
    if not who.is_member:
        raise Forbidden("proposals are drafted by members (from the issues board) or by the city")
    needed = services.settings.proposal_min_supports
    if not issues:
        raise Forbidden("a member's proposal must grow out of the issues board: link at least one issue")
    if max(i.support_count for i in issues) < needed:
        raise Forbidden(f"one of the linked issues needs at least {needed} supports before a member may propose "
                        "from it (the city may propose without)")
    return issues


def draft(services: Services, who: Principal, d: ProposalDraft) -> dict[str, Any]:
    author = who.require(Role.MEMBER, Role.CITY)
    for name, title in (("title_ja", d.title_ja), ("title_en", d.title_en)):
        why = proposal_description.check_title(title)
        if why is not None:
            raise InvalidInput(f"{name} {why}", field=name)
    try:
        category = Category.of_word(d.category)
    except ValueError as exc:
        raise InvalidInput(f"category: {exc}", field="category") from None
    if len(d.actions) > MAX_ACTIONS:
        raise InvalidInput(f"at most {MAX_ACTIONS} on-chain actions")
    for a in d.actions:
        if not is_checksum_address(a.target):
            raise InvalidInput(f"action target {a.target!r} must be an EIP-55 checksummed address")
        if a.value < 0 or a.value >= 2**256:
            raise InvalidInput("action value must be a uint256")
        try:
            bytes.fromhex(a.calldata.removeprefix("0x"))
        except ValueError:
            raise InvalidInput("action calldata must be 0x-prefixed hex") from None
    timelock = services.deployment.contracts["TimelockController"].address
    actions = d.actions or [Action(timelock)]  # a signal proposal: a no-op call the timelock accepts
    targets = [a.target for a in actions]
    values = [a.value for a in actions]
    calldatas = ["0x" + a.calldata.removeprefix("0x").lower() for a in actions]

    with services.transaction() as session:
        result = _submit_draft(services, session, who, d, category, author, targets, values, calldatas)
    services.dispatch(result["job"].id)
    return result


def _submit_draft(services: Services, session, who: Principal, d: ProposalDraft, category: Category, author: str,
                  targets: list[str], values: list[int], calldatas: list[str]) -> dict[str, Any]:
    """`draft`'s one transaction: pin the document, check the rule and the chain, accept the propose job."""
    issues = _check_rule(session, services, who, d.issue_ids)
    document = {
        "schema": DOCUMENT_SCHEMA, "category": d.category, "author": author,
        "title": {"ja": d.title_ja, "en": d.title_en}, "body": {"ja": d.body_ja, "en": d.body_en},
        "issues": [{"id": i.id, "title": i.title, "source": i.source, "external_id": i.external_id}
                   for i in issues],
        "actions": [{"target": t, "value": str(v), "calldata": c} for t, v, c in zip(targets, values, calldatas)],
    }
    cid, content_hash = documents.pin_json(services, session, kind="proposal", document=document, pinned_by=author)
    description = proposal_description.compose(title_ja=d.title_ja, title_en=d.title_en, cid=cid,
                                               content_hash=content_hash)
    drafted = {"document_cid": cid, "document_uri": f"ipfs://{cid}", "document_hash": content_hash}
    gov = services.contract("CityGovernor")
    raw_calldatas = [bytes.fromhex(c[2:]) for c in calldatas]
    proposal_id = chain_checks.call(services, gov.functions.hashProposal(
        targets, values, raw_calldatas, keccak(text=description)))
    submitted = session.scalar(select(ProposalDocument).where(ProposalDocument.proposal_id == proposal_id))
    if submitted is not None:  # the same draft again: refused, unless a reorg took its proposal off the chain
        if not _reopen_if_gone(services, session, gov, submitted):
            raise Conflict(f"this proposal was already submitted as {proposal_id}")
        return {"proposal_id": str(proposal_id), **drafted,
                "job": relay.JobView.of(session.get(RelayJob, submitted.relay_job_id, populate_existing=True))}
    chain_checks.would_succeed(services, gov.functions.proposeWithCategory(
        targets, values, raw_calldatas, description, int(category)), services.keys.relayer.address)
    job, _ = relay.accept(
        session, payload=ProposeJob(proposal_id, description, int(category), targets, values, calldatas),
        dedupe_key=f"propose:{services.chain_id}:{proposal_id}", requested_by=author, signer="relayer",
        sender=services.keys.relayer.address)
    doc = ProposalDocument(chain_id=services.chain_id, proposal_id=proposal_id, author_address=author,
                           category=int(category), title_ja=d.title_ja, title_en=d.title_en,
                           document_cid=cid, document_hash=content_hash, description=description,
                           actions=document["actions"], relay_job_id=job.id)
    session.add(doc)
    session.flush()
    for issue in issues:
        session.add(ProposalIssue(proposal_document_id=doc.id, issue_id=issue.id))
    return {"proposal_id": str(proposal_id), **drafted, "job": relay.JobView.of(job)}


def _reopen_if_gone(services: Services, session, gov, submitted: ProposalDocument) -> bool:
    """A draft submitted before, whose propose job is confirmed, but whose proposal the governor does not know (a
    reorg deeper than `confirmations` took it): put the job back to relaying. False when the proposal stands (or its
    job is still on its way, or failed)."""
    job = session.get(RelayJob, submitted.relay_job_id)
    if job is None or job.status != JobStatus.CONFIRMED.value:
        return False
    if chain_checks.call(services, gov.functions.proposalSnapshot(submitted.proposal_id)) != 0:
        return False
    return relay.reopen(session, job.id)


# ---------------------------------------------------------------------- carrying out

#: The step, the governor state it needs, and what the proposal is after it.
STEPS = {"queue": ProposalState.SUCCEEDED.word, "execute": ProposalState.QUEUED.word}


@dataclass(frozen=True)
class _ProposalStepJob(relay.JobPayload):
    proposal_id: int
    targets: list[str]
    values: list[int]
    calldatas: list[str]
    description_hash: str

    def to_json(self) -> dict[str, Any]:
        return {"proposal_id": str(self.proposal_id), "targets": list(self.targets),
                "values": [str(v) for v in self.values], "calldatas": list(self.calldatas),
                "description_hash": self.description_hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _ProposalStepJob:
        return cls(int(data["proposal_id"]), data["targets"], [int(v) for v in data["values"]], data["calldatas"],
                   data["description_hash"])

    def _args(self) -> tuple:
        return (self.targets, self.values, [bytes.fromhex(c.removeprefix("0x")) for c in self.calldatas],
                bytes.fromhex(self.description_hash[2:]))


@relay.job_kind
@dataclass(frozen=True)
class QueueJob(_ProposalStepJob):
    """A succeeded proposal queued in the timelock (the governor's `queue`)."""

    kind: ClassVar[JobKind] = JobKind.QUEUE_PROPOSAL

    def call(self, services: Services):
        return services.contract("CityGovernor").functions.queue(*self._args())


@relay.job_kind
@dataclass(frozen=True)
class ExecuteJob(_ProposalStepJob):
    """A queued proposal carried out once the timelock's delay has passed (the governor's `execute`)."""

    kind: ClassVar[JobKind] = JobKind.EXECUTE_PROPOSAL

    def call(self, services: Services):
        return services.contract("CityGovernor").functions.execute(*self._args())


STEP_JOBS: dict[str, type[_ProposalStepJob]] = {"queue": QueueJob, "execute": ExecuteJob}
STEP_KINDS = {step: job.kind for step, job in STEP_JOBS.items()}


def advance(services: Services, who: Principal, proposal_id: int, step: str) -> relay.JobView:
    """Queue a succeeded proposal in the timelock, or execute a queued one whose delay has passed. Both are open
    to anyone on chain; the service pays the gas for the city, which carries decisions out (and so decides when
    the timelock's delay starts). The relayer submits it; the governor's own error refuses a call too early."""
    city = who.require(Role.CITY)
    if step not in STEPS:
        raise InvalidInput(f"step must be one of {', '.join(STEPS)}")
    gov = services.contract("CityGovernor")
    with services.transaction() as session:
        p = session.get(Proposal, (services.chain_id, proposal_id))
        if p is None:
            raise NotFound(f"no proposal {proposal_id} (not indexed yet?)")
        state = _live_state(services, proposal_id, p.lifecycle)
        if state != STEPS[step]:
            raise Conflict(f"proposal {proposal_id} is {state}; {step} needs it {STEPS[step]}", state=state)
        args = (p.targets, [int(v) for v in p.values], [bytes.fromhex(c.removeprefix("0x")) for c in p.calldatas],
                keccak(text=p.description))
        call = gov.functions.queue(*args) if step == "queue" else gov.functions.execute(*args)
        # Still inside the timelock's delay, ...: refused now with the timelock's own error.
        chain_checks.would_succeed(services, call, services.keys.relayer.address)
        # One live request per step; a failed one (e.g. the chain moved on) may be asked again.
        failed = session.scalar(select(func.count()).select_from(RelayJob).where(
            RelayJob.kind == STEP_KINDS[step].value, RelayJob.status == JobStatus.FAILED.value,
            RelayJob.dedupe_key.startswith(f"{step}-proposal:{services.chain_id}:{proposal_id}:")))
        job, _ = relay.accept(
            session, payload=STEP_JOBS[step](proposal_id, p.targets, [int(v) for v in p.values], p.calldatas,
                                             "0x" + keccak(text=p.description).hex()),
            dedupe_key=f"{step}-proposal:{services.chain_id}:{proposal_id}:{failed}",
            requested_by=city, signer="relayer", sender=services.keys.relayer.address)
        if job.status == JobStatus.CONFIRMED.value and relay.reopen(session, job.id):
            # Confirmed, yet the governor says the step is still to do: a reorg deeper than `confirmations` took it.
            job = session.get(RelayJob, job.id, populate_existing=True)
        view = relay.JobView.of(job)
    services.dispatch(view.id)
    return view


# ---------------------------------------------------------------------- reading


#: What the index's life cycle says when the governor cannot be asked: only the final ones name a state; a proposal
#: merely created is in a state the index alone cannot tell (Pending, Active, Defeated, Succeeded, Expired).
_LIFECYCLE_STATES = {"queued": ProposalState.QUEUED, "executed": ProposalState.EXECUTED,
                     "canceled": ProposalState.CANCELED}
UNKNOWN_STATE = "Unknown"


def _live_state(services: Services, proposal_id: int, lifecycle: str) -> str:
    """The governor's state now. When the chain does not answer: the final state the index recorded, or
    "Unknown" (never a state name the governor does not have)."""
    try:
        (state,) = chain_checks.call_many(services, [services.contract("CityGovernor").functions.state(proposal_id)])
        return ProposalState(state).word
    except (Unavailable, RefusedByChain):
        known = _LIFECYCLE_STATES.get(lifecycle)
        return known.word if known is not None else UNKNOWN_STATE


class PastReads:
    """One request's reads of the chain at past blocks (the governor's quorum at a snapshot, the card supply at a
    block). Answers about a final block (at least `confirmations` below the head) can never change: they come from
    and go into `services.past_values`; a reorg within that depth may change the others (a card revoked before the
    snapshot in the new branch), which are read for this request only, so no state the governor does not have is
    ever shown. `prefetch` reads what is missing in one batch (a page of the proposal list may need twenty
    quorums: one round trip instead of twenty)."""

    def __init__(self, services: Services, head: int | None) -> None:
        self.services = services
        self.final_to = -1 if head is None else head - max(1, services.settings.confirmations)
        self.recent: dict[tuple[str, str, int], int] = {}

    def _key(self, contract: str, fn_name: str, block: int) -> tuple[str, str, int]:
        return (contract, fn_name, block)

    def _known(self, key: tuple[str, str, int]) -> int | None:
        value = self.services.past_values.get(key)
        return value if value is not None else self.recent.get(key)

    def prefetch(self, wanted: list[tuple[str, str, int]]) -> None:
        """Read every (contract, function, block) not known yet. Refusals are left out (`get` raises them)."""
        missing = list(dict.fromkeys(w for w in wanted if self._known(self._key(*w)) is None))
        if not missing:
            return
        answers = chain_checks.call_many(self.services, [getattr(self.services.contract(c).functions, f)(b)
                                                         for c, f, b in missing], refusals="return")
        for (contract, fn_name, block), value in zip(missing, answers):
            if isinstance(value, RefusedByChain):
                continue
            key = self._key(contract, fn_name, block)
            if block <= self.final_to:
                self.services.past_values.put(key, value)
            else:
                self.recent[key] = value

    def get(self, contract: str, fn_name: str, block: int) -> int:
        key = self._key(contract, fn_name, block)
        if self._known(key) is None:
            self.prefetch([(contract, fn_name, block)])
        value = self._known(key)
        if value is None:  # refused: ask again to raise the refusal
            fn = getattr(self.services.contract(contract).functions, fn_name)(block)
            return chain_checks.call_many(self.services, [fn])[0]
        return value


def _head(services: Services) -> int | None:
    """The chain's current block, read once per request (None when the chain does not answer), through the cheap
    reader: web3's `eth.block_number` costs more than the answer."""
    try:
        return int(services.chain.rpc.call("eth_blockNumber"), 16)
    except (Unavailable, JsonRpcUnavailable, TypeError, ValueError):  # no chain client, no answer, not a number
        return None


def _indexed_to(session, chain_id: int) -> int:
    cursor = session.get(IndexerCursor, chain_id)
    return cursor.block_number if cursor is not None else -1


def _state(services: Services, p: Proposal, tallies: dict[str, Any], head: int | None, indexed_to: int,
           past: PastReads) -> str:
    """The governor's state, derived from what the index knows and the head instead of an RPC per proposal.

    OpenZeppelin's `Governor.state` with the block number as clock: Pending while the snapshot is not below the
    head, Active up to and including the deadline, then Defeated unless the quorum (the governor's own
    `quorum(snapshot)`, a fact about the past, cached) is reached by for + abstain and the vote succeeded (more for
    than against; town planning also more for than against among residents), else Succeeded. Canceled and
    executed are final once indexed. The governor stays the source of truth where the index cannot know: a queued
    proposal (the timelock may have executed or cancelled it since), a vote that ended above what the indexer has
    seen (the tallies may be incomplete), a proposal made or ended within the last `confirmations` blocks (a reorg
    may still change it, and the indexer may not have seen the reorg yet), and whenever the chain does not answer
    (then what the indexer recorded).
    """
    if p.lifecycle == "canceled":
        return ProposalState.CANCELED.word
    if p.lifecycle == "executed":
        return ProposalState.EXECUTED.word
    if p.lifecycle != "created" or head is None or p.block_number > past.final_to:
        return _live_state(services, p.proposal_id, p.lifecycle)  # (a proposal not final yet: the chain decides)
    if p.vote_start >= head:
        return ProposalState.PENDING.word
    if p.vote_end >= head:
        return ProposalState.ACTIVE.word
    if p.vote_end > indexed_to or p.vote_end > past.final_to:
        return _live_state(services, p.proposal_id, p.lifecycle)
    try:
        quorum = past.get("CityGovernor", "quorum", p.vote_start)
    except (Unavailable, RefusedByChain):
        return _live_state(services, p.proposal_id, p.lifecycle)
    overall, residents = tallies["overall"], tallies["by_segment"][Segment.RESIDENT.word]
    reached = quorum <= overall["for"] + overall["abstain"]
    succeeded = overall["for"] > overall["against"] and (
        p.category != Category.TOWN_PLANNING or residents["for"] > residents["against"])
    return (ProposalState.SUCCEEDED if reached and succeeded else ProposalState.DEFEATED).word


def _tally_view(rows) -> dict[str, Any]:
    by_segment = {segment: {"for": 0, "against": 0, "abstain": 0} for segment in Segment.words()}
    for t in rows:
        by_segment[Segment.word_of(t.segment)] = {"for": t.for_votes, "against": t.against_votes,
                                                  "abstain": t.abstain_votes}
    overall = {k: sum(s[k] for s in by_segment.values()) for k in ("for", "against", "abstain")}
    return {"overall": overall, "by_segment": by_segment}


def _tallies(session, chain_id: int, proposal_id: int) -> dict[str, Any]:
    return _tally_view(session.scalars(select(Tally).where(Tally.chain_id == chain_id, Tally.proposal_id == proposal_id)))


def _tallies_of(session, chain_id: int, proposal_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The tallies of several proposals in one query."""
    rows: dict[int, list[Tally]] = {p: [] for p in proposal_ids}
    if proposal_ids:
        for t in session.scalars(select(Tally).where(Tally.chain_id == chain_id, Tally.proposal_id.in_(proposal_ids))):
            rows[t.proposal_id].append(t)
    return {p: _tally_view(r) for p, r in rows.items()}


def summary(session, services: Services, p: Proposal, doc: ProposalDocument | None) -> dict[str, Any]:
    # The document named on chain is shown as the proposal's only when this service drafted the proposal with that
    # very document: anyone may propose on chain with a trailer copied from another proposal (`check_document`
    # says why a document is or is not the proposal's own).
    ours = doc is not None and p.document_uri == f"ipfs://{doc.document_cid}"
    return {
        "proposal_id": str(p.proposal_id), "proposer": p.proposer, "category": Category.word_of(p.category),
        "title_ja": doc.title_ja if doc else None, "title_en": doc.title_en if doc else None,
        "author": doc.author_address if doc else None,
        "document_uri": p.document_uri if ours else None, "document_hash": p.document_hash if ours else None,
        "vote_start": p.vote_start, "vote_end": p.vote_end, "eta": p.eta, "lifecycle": p.lifecycle,
        "block_number": p.block_number, "tx_hash": p.tx_hash,
    }


#: Where the index alone narrows a state filter: the life cycle a state needs, and where its vote window lies
#: relative to the head ("before": not started, "during", "after": ended). The state itself is then decided per
#: proposal (`_state`), as for any page.
_STATE_FILTERS: dict[ProposalState, tuple[str, str | None]] = {
    ProposalState.PENDING: ("created", "before"), ProposalState.ACTIVE: ("created", "during"),
    ProposalState.DEFEATED: ("created", "after"), ProposalState.SUCCEEDED: ("created", "after"),
    ProposalState.EXPIRED: ("created", "after"), ProposalState.QUEUED: ("queued", None),
    ProposalState.EXECUTED: ("executed", None), ProposalState.CANCELED: ("canceled", None)}


def list_proposals(services: Services, *, category: str | None = None, state: str | None = None, page: int,
                   per_page: int) -> dict[str, Any]:
    """Proposals, newest first, with their state and overall tally; `category` and `state` (a governor state's
    name) filter. A state filter narrows in SQL by the life cycle and the vote window, then keeps the proposals
    whose state (decided as on any page) is the one asked for."""
    chain_id = services.chain_id
    with services.session() as session:
        query = select(Proposal).where(Proposal.chain_id == chain_id)
        if category is not None:
            try:
                query = query.where(Proposal.category == Category.of_word(category))
            except ValueError as exc:
                raise InvalidInput(f"category: {exc}") from None
        head = _head(services)
        wanted = None
        if state is not None:
            try:
                wanted = ProposalState.of_word(state)
            except ValueError as exc:
                raise InvalidInput(f"state: {exc}") from None
            lifecycle, window = _STATE_FILTERS[wanted]
            query = query.where(Proposal.lifecycle == lifecycle)
            if window is not None and head is not None:
                query = query.where({"before": Proposal.vote_start >= head,
                                     "during": (Proposal.vote_start < head) & (Proposal.vote_end >= head),
                                     "after": Proposal.vote_end < head}[window])
        # Without the columns a summary does not show (the description and the actions can be long).
        query = query.options(defer(Proposal.description), defer(Proposal.targets), defer(Proposal.values),
                              defer(Proposal.calldatas)).order_by(Proposal.block_number.desc(), Proposal.log_index.desc())
        if wanted is None:
            # The page and the total in one query (a window count); only a page past the end needs a count of its own.
            found = session.execute(query.add_columns(func.count().over().label("total"))
                                    .offset((page - 1) * per_page).limit(per_page)).all()
            rows = [p for p, _total in found]
            total = found[0].total if found else session.scalar(select(func.count()).select_from(query.subquery()))
            items = _summaries(services, session, rows, head)
        else:
            matching = [i for i in _summaries(services, session, list(session.scalars(query)), head)
                        if i["state"] == wanted.word]
            total, items = len(matching), matching[(page - 1) * per_page:page * per_page]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def _summaries(services: Services, session, rows: list[Proposal], head: int | None) -> list[dict[str, Any]]:
    """The summaries of `rows` with their states and overall tallies: documents, tallies and the quorums the states
    need in one query or round trip each."""
    if not rows:
        return []
    chain_id = services.chain_id
    docs = {d.proposal_id: d for d in session.execute(
        select(ProposalDocument.proposal_id, ProposalDocument.title_ja, ProposalDocument.title_en,
               ProposalDocument.author_address, ProposalDocument.document_cid)
        .where(ProposalDocument.proposal_id.in_([p.proposal_id for p in rows])))}
    tallies = _tallies_of(session, chain_id, [p.proposal_id for p in rows])
    indexed_to = _indexed_to(session, chain_id)
    past = PastReads(services, head)
    if head is not None:
        with contextlib.suppress(Unavailable):
            past.prefetch([("CityGovernor", "quorum", p.vote_start) for p in rows
                           if p.lifecycle == "created" and p.vote_end < head and p.vote_end <= indexed_to])
    items = []
    for p in rows:
        item = summary(session, services, p, docs.get(p.proposal_id))
        item["state"] = _state(services, p, tallies[p.proposal_id], head, indexed_to, past)
        item["tallies"] = tallies[p.proposal_id]["overall"]
        items.append(item)
    return items


def detail(services: Services, proposal_id: int) -> dict[str, Any]:
    chain_id = services.chain_id
    events = select(MetaverseEvent.id).where(MetaverseEvent.proposal_id == proposal_id)
    with services.session() as session:
        # The proposal, its document, how far the index reaches and how many events are linked: one round trip
        # (a page is computed again after every commit; its queries were most of its cost).
        row = session.execute(
            select(Proposal, ProposalDocument,
                   select(IndexerCursor.block_number).where(IndexerCursor.chain_id == chain_id)
                   .scalar_subquery().label("indexed_to"),
                   select(func.count()).select_from(events.subquery()).scalar_subquery().label("related_events"))
            .outerjoin(ProposalDocument, ProposalDocument.proposal_id == Proposal.proposal_id)
            .where(Proposal.chain_id == chain_id, Proposal.proposal_id == proposal_id)).first()
        if row is None:
            doc = session.scalar(select(ProposalDocument).where(ProposalDocument.proposal_id == proposal_id))
            if doc is not None:
                raise NotFound(f"proposal {proposal_id} was submitted (job {doc.relay_job_id}) but is not indexed yet",
                               job_id=doc.relay_job_id)
            raise NotFound(f"no proposal {proposal_id}")
        p, doc = row.Proposal, row.ProposalDocument
        indexed_to = row.indexed_to if row.indexed_to is not None else -1
        related_events = row.related_events or 0
        item = summary(session, services, p, doc)
        head = _head(services)
        past = PastReads(services, head)
        if head is not None and head > p.vote_start:  # the quorum and the turnout's card supply: one round trip
            with contextlib.suppress(Unavailable):
                past.prefetch([("CityGovernor", "quorum", p.vote_start),
                               ("MembershipCard", "getPastTotalSupply", p.vote_start)])
        item["tallies"] = _tallies(session, chain_id, proposal_id)
        item["state"] = _state(services, p, item["tallies"], head, indexed_to, past)
        item["actions"] = {"targets": p.targets, "values": p.values, "calldatas": p.calldatas}
        item["decoded_actions"] = describe_actions(services, p.targets, p.values, p.calldatas)
        item["tallies"] = item.pop("tallies")  # the key order of the response, as before
        # One card, one vote (MembershipCard's voting power is 1 per active card): the voters are the votes counted.
        overall = item["tallies"]["overall"]
        voter_count = overall["for"] + overall["against"] + overall["abstain"]
        item["issues"] = [{"id": i.id, "title": i.title, "status": i.status, "support_count": i.support_count}
                          for i in session.execute(
                              select(Issue.id, Issue.title, Issue.status, Issue.support_count)
                              .join(ProposalIssue, ProposalIssue.issue_id == Issue.id)
                              .where(ProposalIssue.proposal_document_id == doc.id))] if doc else []
        attended = 0
        if related_events:  # the overlap query reads every voter of the proposal: only when there is an event
            voters = select(Vote.voter).where(Vote.chain_id == chain_id, Vote.proposal_id == proposal_id)
            attended = session.scalar(select(func.count(func.distinct(Attendance.attendee))).where(
                Attendance.event_id.in_(events), Attendance.attendee.in_(voters))) or 0
        # Attendance is an organisation's private record and votes are public: a small overlap would tell who
        # attended another organisation's event, so counts below SUPPRESS_BELOW are withheld.
        suppressed = 0 < attended < SUPPRESS_BELOW
        item["attendance_overlap"] = {"related_events": related_events,
                                      "voters_who_attended": None if suppressed else attended, "suppressed": suppressed}
        item["outcomes"] = outcome_history(session, chain_id, proposal_id)
    item["turnout"] = _turnout(p, voter_count, head, past)
    data = documents.read_bytes(services, doc.document_cid) if doc else None  # read once, for both below
    item["document"] = json.loads(data) if data is not None else None
    item["document_verification"] = check_document(services, p, known={doc.document_cid: data} if doc else {})
    return item


def check_document(services: Services, p: Proposal, *, known: dict[str, bytes | None] | None = None) -> dict[str, Any]:
    """Whether the document the proposal's trailer names is this proposal's own: its bytes hash to the trailer's
    hash (`outcomes.verify_content`), and it describes this proposal (its titles make the description's heading
    and its actions are the proposal's actions). Anyone can propose on chain with another proposal's trailer; such
    a copy differs from the original in its heading or its actions (the same heading, actions and trailer would be
    the same proposal id), so it is a `mismatch`. Returns {status, detail} (status as `verify_content`'s)."""
    from backend.services.outcomes import MISMATCH, VERIFIED, verify_content

    trailer = proposal_description.parse(p.description)
    cid = trailer.document_uri.removeprefix("ipfs://") if trailer.document_uri else None
    check = verify_content(services, uri=trailer.document_uri, content_hash=trailer.document_hash,
                           data=(known or {}).get(cid))
    document = check.pop("document")
    if check["status"] != VERIFIED:
        return {"status": check["status"], "detail": check["detail"]}
    title = document.get("title") if isinstance(document, dict) else None
    heading = proposal_description.heading(title.get("ja"), title.get("en")) if isinstance(title, dict) else None
    on_chain = [{"target": t, "value": str(v), "calldata": c.lower()} for t, v, c in zip(p.targets, p.values, p.calldatas)]
    described = [{"target": a.get("target"), "value": str(a.get("value")), "calldata": str(a.get("calldata")).lower()}
                 for a in document.get("actions", []) if isinstance(a, dict)] if isinstance(document, dict) else []
    if heading != trailer.heading or described != on_chain:
        return {"status": MISMATCH, "detail": "the document's content matches its hash, but it describes another "
                                              "proposal (other titles or other on-chain actions): it is not this "
                                              "proposal's document"}
    return {"status": VERIFIED, "detail": "the document hashes to the on-chain hash and describes this proposal's "
                                          "titles and actions"}


# ---------------------------------------------------------------------- what a proposal does on chain

#: Functions of our contracts that change who may do what, or how decisions are made: shown with a warning.
ROLE_FUNCTIONS = frozenset({"grantRole", "revokeRole", "renounceRole"})
GOVERNANCE_FUNCTIONS = frozenset({"updateDelay", "setVotingDelay", "setVotingPeriod", "setProposalThreshold",
                                  "updateQuorumNumerator", "updateTimelock", "relay", "schedule", "scheduleBatch",
                                  "execute", "executeBatch", "cancel"})
FUND_FUNCTIONS = frozenset({"transfer", "transferFrom", "safeTransferFrom", "safeBatchTransferFrom", "approve",
                            "setApprovalForAll", "increaseAllowance"})
#: The roles of our contracts by their bytes32 value, named where an action's arguments show them.
KNOWN_ROLES = {role.value: role.name for role in ChainRole}


def describe_actions(services: Services, targets: list[str], values: list[str], calldatas: list[str]) -> list[dict[str, Any]]:
    """Every on-chain action of a proposal in words: the target (named when it is one of our contracts), the value
    in wei, the function and its decoded arguments when the target is ours (raw calldata otherwise), and warnings
    for what deserves a second look: `changes-roles` (grantRole, revokeRole, renounceRole), `changes-governance`
    (the governor's settings, the timelock's delay or operations), `moves-funds` (ETH sent, or a token transfer or
    approval), `unknown-contract` (a call with data to a contract this service does not know). A signal proposal's
    no-op call to the timelock is `signal`, with no warning."""
    names = {c.address.lower(): name for name, c in services.deployment.contracts.items()}
    timelock = services.deployment.contracts["TimelockController"].address.lower()
    described = []
    for target, value, calldata in zip(targets, values, calldatas):
        value = int(value)
        data = calldata if calldata.startswith("0x") else "0x" + calldata
        name = names.get(target.lower())
        action: dict[str, Any] = {"target": target, "target_name": name, "value": str(value), "calldata": data,
                                  "function": None, "signature": None, "arguments": None, "warnings": []}
        if value > 0:
            action["warnings"].append("moves-funds")
        if data == "0x":
            action["kind"] = "signal" if target.lower() == timelock and value == 0 else "call"
        elif name is None:
            action["kind"] = "call"
            action["warnings"].append("unknown-contract")
        else:
            action["kind"] = "call"
            try:
                fn, args = services.contract(name).decode_function_input(data)
            except Exception:  # noqa: BLE001 - data that matches no function of the contract
                action["warnings"].append("unknown-function")
            else:
                action["function"] = fn.fn_name
                action["signature"] = fn.abi_element_identifier if hasattr(fn, "abi_element_identifier") else fn.fn_name
                action["arguments"] = {k: _argument(v, names) for k, v in args.items()}
                if fn.fn_name in ROLE_FUNCTIONS:
                    action["warnings"].append("changes-roles")
                if fn.fn_name in GOVERNANCE_FUNCTIONS:
                    action["warnings"].append("changes-governance")
                if fn.fn_name in FUND_FUNCTIONS:
                    action["warnings"].append("moves-funds")
        action["warnings"] = list(dict.fromkeys(action["warnings"]))
        described.append(action)
    return described


def _argument(value: Any, names: dict[str, str]) -> Any:
    """An argument as JSON shows it: bytes as 0x hex (a known role by its name too), big integers as decimal text,
    an address of ours with its contract's name."""
    if isinstance(value, (bytes, bytearray)):
        text = "0x" + bytes(value).hex()
        role = KNOWN_ROLES.get(text)
        return f"{role} ({text})" if role else text
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > 2**53 else value
    if isinstance(value, str) and value.lower() in names:
        return f"{value} ({names[value.lower()]})"
    if isinstance(value, (list, tuple)):
        return [_argument(v, names) for v in value]
    return value


def _turnout(p: Proposal, voters: int, head: int | None, past: PastReads) -> dict[str, Any]:
    """Voters over members at the snapshot (the card's total supply then; cached once final), when the chain
    answers."""
    try:
        eligible = past.get("MembershipCard", "getPastTotalSupply", p.vote_start) \
            if head is not None and head > p.vote_start else None
    except (Unavailable, RefusedByChain):
        eligible = None
    return {"voters": voters, "eligible": eligible,
            "ratio": round(voters / eligible, 4) if eligible else None}


def outcome_history(session, chain_id: int, proposal_id: int) -> list[dict[str, Any]]:
    from backend.services.outcomes import outcome_view

    return [outcome_view(o) for o in session.scalars(select(Outcome).where(
        Outcome.chain_id == chain_id, Outcome.proposal_id == proposal_id).order_by(Outcome.version))]


def document_of(services: Services, proposal_id: int) -> dict[str, Any]:
    with services.session() as session:
        doc = session.scalar(select(ProposalDocument).where(ProposalDocument.proposal_id == proposal_id))
        if doc is None:
            raise NotFound(f"no document for proposal {proposal_id}")
        cid = doc.document_cid
    return documents.read_json(services, cid)
