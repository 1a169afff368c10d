"""Drafting a proposal (pinned document, rule for members, submitted by the relayer) and carrying a decided one
out (queue, execute)."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_utils import is_checksum_address, keccak
from sqlalchemy import func, select

from backend.domain import proposal_description
from backend.domain.vocabulary import Category, JobStatus, ProposalState, Role
from backend.models.chain import Proposal
from backend.models.issue import Issue
from backend.models.proposal_document import ProposalDocument, ProposalIssue
from backend.models.relay import RelayJob
from backend.services import chain_checks, documents, relay
from backend.services.context import Services
from backend.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.proposals.jobs import STEP_JOBS, STEP_KINDS, ProposeJob
from backend.services.proposals.state import live_state
from backend.services.roles import Principal

MAX_ACTIONS = 10
DOCUMENT_SCHEMA = "kanazawa-dao/proposal-document/v1"
#: The step, the governor state it needs.
STEPS = {"queue": ProposalState.SUCCEEDED.word, "execute": ProposalState.QUEUED.word}


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


@dataclass(frozen=True)
class Drafted:
    """A drafted proposal: its id (known before it is on chain), its pinned document and the job submitting it."""

    proposal_id: int
    document_cid: str
    document_hash: str
    job: relay.JobView

    @property
    def document_uri(self) -> str:
        return f"ipfs://{self.document_cid}"


def draft(services: Services, who: Principal, *, draft: ProposalDraft) -> Drafted:
    """Pin the draft's document and have the relayer submit the proposal; the rule for members is checked first
    (`_check_rule`). The same draft again is refused, unless a reorg took its proposal off the chain."""
    d = draft
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
    services.dispatch(result.job.id)
    return result


def _submit_draft(services: Services, session, who: Principal, d: ProposalDraft, category: Category, author: str,
                  targets: list[str], values: list[int], calldatas: list[str]) -> Drafted:
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
    gov = services.contract("CityGovernor")
    raw_calldatas = [bytes.fromhex(c[2:]) for c in calldatas]
    proposal_id = chain_checks.call(services, gov.functions.hashProposal(
        targets, values, raw_calldatas, keccak(text=description)))
    submitted = session.scalar(select(ProposalDocument).where(ProposalDocument.proposal_id == proposal_id))
    if submitted is not None:  # the same draft again: refused, unless a reorg took its proposal off the chain
        if not _reopen_if_gone(services, session, gov, submitted):
            raise Conflict(f"this proposal was already submitted as {proposal_id}")
        return Drafted(proposal_id, cid, content_hash,
                       relay.JobView.of(session.get(RelayJob, submitted.relay_job_id, populate_existing=True)))
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
    return Drafted(proposal_id, cid, content_hash, relay.JobView.of(job))


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


def advance(services: Services, who: Principal, *, proposal_id: int, step: str) -> relay.JobView:
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
        state = live_state(services, proposal_id, p.lifecycle)
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


