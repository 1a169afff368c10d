"""/proposals: the indexed proposals joined with their documents, linked issues, tallies overall and per segment,
turnout and attendance overlap; drafting (members from the issues board, or the city); outcome publishing (city)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from backend.services import outcomes, proposals
from backend.services.proposals.views import ProposalDetail, ProposalPage
from frontend_api.deps import PrincipalDep, ServicesDep
from frontend_api.routes import MAX_PAGE, MAX_ROW_ID
from frontend_api.schemas import Address, CategoryWord, JobOut, OutcomeStatusWord, ProposalIdPath, Uint256Str

router = APIRouter(prefix="/proposals", tags=["proposals"])


class ActionIn(BaseModel):
    target: str = Address
    value: Uint256Str = Field(default="0", description="wei, as a decimal string")
    calldata: str = Field(default="0x", pattern=r"^0x[0-9a-fA-F]*$", max_length=20000)


class ProposalIn(BaseModel):
    title_ja: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    body_ja: str = Field(min_length=1, max_length=50000)
    body_en: str = Field(min_length=1, max_length=50000)
    category: CategoryWord = Field(description="culture: majority + quorum; town-planning: also a majority of residents")
    issue_ids: list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] = Field(default_factory=list, max_length=20)
    actions: list[ActionIn] = Field(default_factory=list, max_length=proposals.MAX_ACTIONS,
                                    description="on-chain calls executed by the timelock; none = a signal proposal")


class DraftedOut(BaseModel):
    proposal_id: str
    document_cid: str
    document_uri: str
    document_hash: str
    job: JobOut


class OutcomeIn(BaseModel):
    status: OutcomeStatusWord
    summary_ja: str = Field(min_length=1, max_length=1000)
    summary_en: str = Field(min_length=1, max_length=1000)
    body_ja: str = Field(default="", max_length=50000)
    body_en: str = Field(default="", max_length=50000)
    links: list[str] = Field(default_factory=list, max_length=20)


@router.get("", response_model=ProposalPage, response_model_by_alias=True, summary="Proposals, newest first")
def list_proposals(svc: ServicesDep, category: CategoryWord | None = Query(default=None),
                   page: int = Query(default=1, ge=1, le=MAX_PAGE),
                   per_page: int = Query(default=20, ge=1, le=100)) -> ProposalPage:
    return proposals.list_proposals(svc, category=category, page=page, per_page=per_page)


@router.post("", status_code=202, response_model=DraftedOut,
             summary="Draft a proposal: the document is pinned and the proposal submitted on chain by the relayer")
def draft(body: ProposalIn, svc: ServicesDep, who: PrincipalDep) -> DraftedOut:
    result = proposals.draft(svc, who, draft=proposals.ProposalDraft(
        body.title_ja, body.title_en, body.body_ja, body.body_en, body.category, body.issue_ids,
        [proposals.Action(a.target, int(a.value), a.calldata) for a in body.actions]))
    return DraftedOut(proposal_id=str(result.proposal_id), document_cid=result.document_cid,
                      document_uri=result.document_uri, document_hash=result.document_hash, job=JobOut.of(result.job))


@router.get("/{proposal_id}", response_model=ProposalDetail, response_model_by_alias=True,
            summary="One proposal with its document, issues, tallies by segment, turnout, attendance, outcomes")
def get_proposal(proposal_id: ProposalIdPath, svc: ServicesDep) -> ProposalDetail:
    return proposals.detail(svc, proposal_id=int(proposal_id))


@router.get("/{proposal_id}/document", summary="The proposal document (verified against its CID)")
def get_document(proposal_id: ProposalIdPath, svc: ServicesDep) -> dict:
    return proposals.document_of(svc, proposal_id=int(proposal_id))


@router.post("/{proposal_id}/outcomes", status_code=202, response_model=JobOut,
             summary="Publish the outcome of a proposal (city only): report pinned, recorded on chain")
def publish_outcome(body: OutcomeIn, proposal_id: ProposalIdPath, svc: ServicesDep, who: PrincipalDep) -> JobOut:
    return JobOut.of(outcomes.publish(svc, who, proposal_id=int(proposal_id), status=body.status, summary_ja=body.summary_ja,
                                      summary_en=body.summary_en, body_ja=body.body_ja, body_en=body.body_en,
                                      links=body.links))


@router.post("/{proposal_id}/queue", status_code=202, response_model=JobOut,
             summary="Queue a succeeded proposal in the timelock (city only; relayed)")
def queue(proposal_id: ProposalIdPath, svc: ServicesDep, who: PrincipalDep) -> JobOut:
    return JobOut.of(proposals.advance(svc, who, proposal_id=int(proposal_id), step="queue"))


@router.post("/{proposal_id}/execute", status_code=202, response_model=JobOut,
             summary="Execute a queued proposal once the timelock's delay has passed (city only; relayed)")
def execute(proposal_id: ProposalIdPath, svc: ServicesDep, who: PrincipalDep) -> JobOut:
    return JobOut.of(proposals.advance(svc, who, proposal_id=int(proposal_id), step="execute"))
