"""/proposals: the indexed proposals joined with their documents, linked issues, tallies overall and per segment,
turnout and attendance overlap; drafting (members from the issues board, or the city); outcome publishing (city)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from backend.services import outcomes, proposals
from backend.services.context import Services
from backend.services.roles import Principal
from frontend_api.deps import principal, services
from frontend_api.routes import MAX_PAGE
from frontend_api.schemas import Address, JobOut

router = APIRouter(prefix="/proposals", tags=["proposals"])
ProposalId = Path(pattern=r"^[0-9]{1,78}$", description="the proposal id (uint256, decimal)")


class ActionIn(BaseModel):
    target: str = Address
    value: str = Field(default="0", pattern=r"^[0-9]{1,78}$", description="wei, as a decimal string")
    calldata: str = Field(default="0x", pattern=r"^0x[0-9a-fA-F]*$", max_length=20000)


class ProposalIn(BaseModel):
    title_ja: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    body_ja: str = Field(min_length=1, max_length=50000)
    body_en: str = Field(min_length=1, max_length=50000)
    category: str = Field(pattern="^(culture|town-planning)$",
                          description="culture: majority + quorum; town-planning: also a majority of residents")
    issue_ids: list[int] = Field(default_factory=list, max_length=20)
    actions: list[ActionIn] = Field(default_factory=list, max_length=proposals.MAX_ACTIONS,
                                    description="on-chain calls executed by the timelock; none = a signal proposal")


class DraftedOut(BaseModel):
    proposal_id: str
    document_cid: str
    document_uri: str
    document_hash: str
    job: JobOut


class Votes(BaseModel):
    for_: int = Field(alias="for", serialization_alias="for")
    against: int
    abstain: int

    model_config = {"populate_by_name": True}


class ProposalSummary(BaseModel):
    proposal_id: str
    proposer: str
    category: str
    title_ja: str | None
    title_en: str | None
    author: str | None
    document_uri: str | None
    document_hash: str | None
    vote_start: int
    vote_end: int
    eta: int | None
    lifecycle: str
    state: str
    block_number: int
    tx_hash: str
    tallies: Votes


class ProposalPage(BaseModel):
    items: list[ProposalSummary]
    total: int
    page: int
    per_page: int


class Tallies(BaseModel):
    overall: Votes
    by_segment: dict[str, Votes]


class OutcomeOut(BaseModel):
    proposal_id: str
    version: int
    status: str
    report_uri: str
    content_hash: str
    publisher: str
    block_number: int
    tx_hash: str


class ProposalDetail(ProposalSummary):
    tallies: Tallies  # type: ignore[assignment]
    actions: dict[str, list[str]]
    issues: list[dict[str, Any]]
    turnout: dict[str, Any]
    attendance_overlap: dict[str, int]
    outcomes: list[OutcomeOut]
    document: dict[str, Any] | None


class OutcomeIn(BaseModel):
    status: str = Field(pattern="^(adopted|rejected|in-progress|implemented|abandoned)$")
    summary_ja: str = Field(min_length=1, max_length=1000)
    summary_en: str = Field(min_length=1, max_length=1000)
    body_ja: str = Field(default="", max_length=50000)
    body_en: str = Field(default="", max_length=50000)
    links: list[str] = Field(default_factory=list, max_length=20)


@router.get("", response_model=ProposalPage, response_model_by_alias=True, summary="Proposals, newest first")
def list_proposals(category: str | None = Query(default=None, pattern="^(culture|town-planning)$"),
                   page: int = Query(default=1, ge=1, le=MAX_PAGE), per_page: int = Query(default=20, ge=1, le=100),
                   svc: Services = Depends(services)) -> dict:
    return proposals.list_proposals(svc, category=category, page=page, per_page=per_page)


@router.post("", status_code=202, response_model=DraftedOut,
             summary="Draft a proposal: the document is pinned and the proposal submitted on chain by the relayer")
def draft(body: ProposalIn, svc: Services = Depends(services), who: Principal = Depends(principal)) -> DraftedOut:
    result = proposals.draft(svc, who, proposals.ProposalDraft(
        body.title_ja, body.title_en, body.body_ja, body.body_en, body.category, body.issue_ids,
        [proposals.Action(a.target, int(a.value), a.calldata) for a in body.actions]))
    return DraftedOut(**{**result, "job": JobOut.of(result["job"])})


@router.get("/{proposal_id}", response_model=ProposalDetail, response_model_by_alias=True,
            summary="One proposal with its document, issues, tallies by segment, turnout, attendance, outcomes")
def get_proposal(proposal_id: str = ProposalId, svc: Services = Depends(services)) -> dict:
    return proposals.detail(svc, int(proposal_id))


@router.get("/{proposal_id}/document", summary="The proposal document (verified against its CID)")
def get_document(proposal_id: str = ProposalId, svc: Services = Depends(services)) -> dict:
    return proposals.document_of(svc, int(proposal_id))


@router.post("/{proposal_id}/outcomes", status_code=202, response_model=JobOut,
             summary="Publish the outcome of a proposal (city only): report pinned, recorded on chain")
def publish_outcome(body: OutcomeIn, proposal_id: str = ProposalId, svc: Services = Depends(services),
                    who: Principal = Depends(principal)) -> JobOut:
    return JobOut.of(outcomes.publish(svc, who, int(proposal_id), status=body.status, summary_ja=body.summary_ja,
                                      summary_en=body.summary_en, body_ja=body.body_ja, body_en=body.body_en,
                                      links=body.links))


@router.post("/{proposal_id}/queue", status_code=202, response_model=JobOut,
             summary="Queue a succeeded proposal in the timelock (city only; relayed)")
def queue(proposal_id: str = ProposalId, svc: Services = Depends(services),
          who: Principal = Depends(principal)) -> JobOut:
    return JobOut.of(proposals.advance(svc, who, int(proposal_id), "queue"))


@router.post("/{proposal_id}/execute", status_code=202, response_model=JobOut,
             summary="Execute a queued proposal once the timelock's delay has passed (city only; relayed)")
def execute(proposal_id: str = ProposalId, svc: Services = Depends(services),
            who: Principal = Depends(principal)) -> JobOut:
    return JobOut.of(proposals.advance(svc, who, int(proposal_id), "execute"))
