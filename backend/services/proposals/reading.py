"""Reading proposals: the list (with a state filter), one proposal with everything about it, its document."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import defer

from backend.domain import SUPPRESS_BELOW, proposal_description
from backend.domain.vocabulary import Category, ProposalState, Segment
from backend.models.chain import Block, IndexerCursor, Outcome, Proposal, Tally, Vote
from backend.models.issue import Issue
from backend.models.metaverse_event import Attendance, MetaverseEvent
from backend.models.proposal_document import ProposalDocument, ProposalIssue
from backend.services import documents
from backend.services.context import Services
from backend.services.errors import InvalidInput, NotFound, RefusedByChain, Unavailable
from backend.services.outcomes import OutcomeVersion
from backend.services.proposals.actions import describe_actions
from backend.services.chain_checks import Head
from backend.services.proposals.state import PastReads, derived_state, head_of, indexed_until
from backend.services.proposals.views import DocumentCheck, ProposalDetail, ProposalPage, ProposalSummary


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


def _moment(timepoint: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timepoint, dt.timezone.utc)


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
        "vote_start": p.vote_start, "vote_end": p.vote_end, "voting_starts_at": _moment(p.vote_start),
        "voting_ends_at": _moment(p.vote_end), "eta": p.eta, "lifecycle": p.lifecycle,
        "block_number": p.block_number, "tx_hash": p.tx_hash,
    }


#: Where the index alone narrows a state filter: the life cycle a state needs, and where its vote window lies
#: relative to the head's time ("before": not started, "during", "after": ended). The state itself is then decided per
#: proposal (`_state`), as for any page.
_STATE_FILTERS: dict[ProposalState, tuple[str, str | None]] = {
    ProposalState.PENDING: ("created", "before"), ProposalState.ACTIVE: ("created", "during"),
    ProposalState.DEFEATED: ("created", "after"), ProposalState.SUCCEEDED: ("created", "after"),
    ProposalState.EXPIRED: ("created", "after"), ProposalState.QUEUED: ("queued", None),
    ProposalState.EXECUTED: ("executed", None), ProposalState.CANCELED: ("canceled", None)}


def list_proposals(services: Services, *, category: str | None = None, state: str | None = None, page: int,
                   per_page: int) -> ProposalPage:
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
        head = head_of(services)
        wanted = None
        if state is not None:
            try:
                wanted = ProposalState.of_word(state)
            except ValueError as exc:
                raise InvalidInput(f"state: {exc}") from None
            lifecycle, window = _STATE_FILTERS[wanted]
            query = query.where(Proposal.lifecycle == lifecycle)
            if window is not None and head is not None:
                now = head.timestamp
                query = query.where({"before": Proposal.vote_start >= now,
                                     "during": (Proposal.vote_start < now) & (Proposal.vote_end >= now),
                                     "after": Proposal.vote_end < now}[window])
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
    return ProposalPage(items=[ProposalSummary.model_validate(i) for i in items], total=total, page=page,
                        per_page=per_page)


def _summaries(services: Services, session, rows: list[Proposal], head: Head | None) -> list[dict[str, Any]]:
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
    indexed = indexed_until(session, chain_id)
    past = PastReads(services, head)
    if head is not None:
        with contextlib.suppress(Unavailable):
            past.prefetch([("CityGovernor", "quorum", p.vote_start) for p in rows
                           if p.lifecycle == "created" and p.vote_end < head.timestamp and p.vote_end < indexed])
    items = []
    for p in rows:
        item = summary(session, services, p, docs.get(p.proposal_id))
        item["state"] = derived_state(services, p, tallies[p.proposal_id], head, indexed, past)
        item["tallies"] = tallies[p.proposal_id]["overall"]
        items.append(item)
    return items


def detail(services: Services, *, proposal_id: int) -> ProposalDetail:
    """One proposal with everything about it: its document (verified), linked issues, tallies overall and per
    segment, state, turnout, attendance overlap, every on-chain action in words, and its outcomes."""
    chain_id = services.chain_id
    events = select(MetaverseEvent.id).where(MetaverseEvent.proposal_id == proposal_id)
    with services.session() as session:
        # The proposal, its document, how far the index reaches and how many events are linked: one round trip
        # (a page is computed again after every commit; its queries were most of its cost).
        row = session.execute(
            select(Proposal, ProposalDocument,
                   select(Block.timestamp).join(IndexerCursor, (IndexerCursor.chain_id == Block.chain_id)
                                                & (IndexerCursor.block_number == Block.number))
                   .where(Block.chain_id == chain_id).scalar_subquery().label("indexed_until"),
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
        indexed = row.indexed_until if row.indexed_until is not None else -1
        related_events = row.related_events or 0
        item = summary(session, services, p, doc)
        head = head_of(services)
        past = PastReads(services, head)
        if head is not None and head.timestamp > p.vote_start:  # the quorum and the turnout's card supply: one trip
            with contextlib.suppress(Unavailable):
                past.prefetch([("CityGovernor", "quorum", p.vote_start),
                               ("MembershipCard", "getPastTotalSupply", p.vote_start)])
        item["tallies"] = _tallies(session, chain_id, proposal_id)
        item["state"] = derived_state(services, p, item["tallies"], head, indexed, past)
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
    return ProposalDetail.model_validate(item)


def check_document(services: Services, p: Proposal, *, known: dict[str, bytes | None] | None = None) -> DocumentCheck:
    """Whether the document the proposal's trailer names is this proposal's own: its bytes hash to the trailer's
    hash (`outcomes.verify_content`), and it describes this proposal (its titles make the description's heading
    and its actions are the proposal's actions). Anyone can propose on chain with another proposal's trailer; such
    a copy differs from the original in its heading or its actions (the same heading, actions and trailer would be
    the same proposal id), so it is a `mismatch`."""
    from backend.services.outcomes import MISMATCH, VERIFIED, verify_content

    trailer = proposal_description.parse(p.description)
    cid = trailer.document_uri.removeprefix("ipfs://") if trailer.document_uri else None
    check = verify_content(services, uri=trailer.document_uri, content_hash=trailer.document_hash,
                           data=(known or {}).get(cid))
    document = check.document
    if check.status != VERIFIED:
        return DocumentCheck(status=check.status, detail=check.detail)
    title = document.get("title") if isinstance(document, dict) else None
    heading = proposal_description.heading(title.get("ja"), title.get("en")) if isinstance(title, dict) else None
    on_chain = [{"target": t, "value": str(v), "calldata": c.lower()} for t, v, c in zip(p.targets, p.values, p.calldatas)]
    described = [{"target": a.get("target"), "value": str(a.get("value")), "calldata": str(a.get("calldata")).lower()}
                 for a in document.get("actions", []) if isinstance(a, dict)] if isinstance(document, dict) else []
    if heading != trailer.heading or described != on_chain:
        return DocumentCheck(status=MISMATCH, detail="the document's content matches its hash, but it describes "
                             "another proposal (other titles or other on-chain actions): it is not this proposal's "
                             "document")
    return DocumentCheck(status=VERIFIED, detail="the document hashes to the on-chain hash and describes this "
                         "proposal's titles and actions")


def _turnout(p: Proposal, voters: int, head: Head | None, past: PastReads) -> dict[str, Any]:
    """Voters over members at the snapshot (the card's total supply then; cached once final), when the chain
    answers."""
    try:
        eligible = past.get("MembershipCard", "getPastTotalSupply", p.vote_start) \
            if head is not None and head.timestamp > p.vote_start else None
    except (Unavailable, RefusedByChain):
        eligible = None
    return {"voters": voters, "eligible": eligible,
            "ratio": round(voters / eligible, 4) if eligible else None}


def outcome_history(session, chain_id: int, proposal_id: int) -> list[OutcomeVersion]:
    from backend.services.outcomes import outcome_view

    return [outcome_view(o) for o in session.scalars(select(Outcome).where(
        Outcome.chain_id == chain_id, Outcome.proposal_id == proposal_id).order_by(Outcome.version))]


def document_of(services: Services, *, proposal_id: int) -> dict[str, Any]:
    """The proposal's document as this service pinned it (free-form JSON of the document schema), verified."""
    with services.session() as session:
        doc = session.scalar(select(ProposalDocument).where(ProposalDocument.proposal_id == proposal_id))
        if doc is None:
            raise NotFound(f"no document for proposal {proposal_id}")
        cid = doc.document_cid
    return documents.read_json(services, cid)
