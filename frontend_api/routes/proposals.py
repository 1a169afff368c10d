"""/proposals: the indexed proposals joined with their documents, linked issues, tallies overall and per segment,
turnout and attendance overlap; drafting (members from the issues board, or the city); outcome publishing (city)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from backend.services import outcomes, proposals
from backend.services.context import Services
from backend.services.roles import Principal
from frontend_api.deps import principal, services
from frontend_api.routes import MAX_PAGE, MAX_ROW_ID
from frontend_api.schemas import (
    Address,
    CategoryWord,
    JobOut,
    OutcomeStatusWord,
    ProposalIdPath,
    Uint256Str,
)

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


class ActionOut(BaseModel):
    target: str
    target_name: str | None = Field(description="the contract's name when the target is one of this DAO's")
    value: str = Field(description="wei sent with the call, decimal")
    calldata: str
    kind: str = Field(description="call | signal (a signal proposal's no-op call to the timelock)")
    function: str | None = Field(description="the function called, when the target is one of ours")
    signature: str | None
    arguments: dict[str, Any] | None = Field(description="decoded arguments (roles and our contracts named)")
    warnings: list[str] = Field(description="changes-roles | changes-governance | moves-funds | unknown-contract | "
                                            "unknown-function: what deserves a second look before voting")


class DocumentCheckOut(BaseModel):
    status: str = Field(description="verified | mismatch | unavailable")
    detail: str


class ProposalDetail(ProposalSummary):
    tallies: Tallies  # type: ignore[assignment]
    actions: dict[str, list[str]]
    decoded_actions: list[ActionOut] = Field(description="every on-chain action, in words, with warnings")
    document_verification: DocumentCheckOut = Field(
        description="whether the document named on chain hashes to its on-chain hash and describes this proposal")
    issues: list[dict[str, Any]]
    turnout: dict[str, Any]
    attendance_overlap: dict[str, int | bool | None] = Field(
        description="related_events; voters_who_attended (null when fewer than 5: suppressed true)")
    outcomes: list[OutcomeOut]
    document: dict[str, Any] | None


class OutcomeIn(BaseModel):
    status: OutcomeStatusWord
    summary_ja: str = Field(min_length=1, max_length=1000)
    summary_en: str = Field(min_length=1, max_length=1000)
    body_ja: str = Field(default="", max_length=50000)
    body_en: str = Field(default="", max_length=50000)
    links: list[str] = Field(default_factory=list, max_length=20)


@router.get("", response_model=ProposalPage, response_model_by_alias=True, summary="Proposals, newest first")
def list_proposals(category: CategoryWord | None = Query(default=None),
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
def get_proposal(proposal_id: ProposalIdPath, svc: Services = Depends(services)) -> dict:
    return proposals.detail(svc, int(proposal_id))


@router.get("/{proposal_id}/document", summary="The proposal document (verified against its CID)")
def get_document(proposal_id: ProposalIdPath, svc: Services = Depends(services)) -> dict:
    return proposals.document_of(svc, int(proposal_id))


@router.post("/{proposal_id}/outcomes", status_code=202, response_model=JobOut,
             summary="Publish the outcome of a proposal (city only): report pinned, recorded on chain")
def publish_outcome(body: OutcomeIn, proposal_id: ProposalIdPath, svc: Services = Depends(services),
                    who: Principal = Depends(principal)) -> JobOut:
    return JobOut.of(outcomes.publish(svc, who, int(proposal_id), status=body.status, summary_ja=body.summary_ja,
                                      summary_en=body.summary_en, body_ja=body.body_ja, body_en=body.body_en,
                                      links=body.links))


@router.post("/{proposal_id}/queue", status_code=202, response_model=JobOut,
             summary="Queue a succeeded proposal in the timelock (city only; relayed)")
def queue(proposal_id: ProposalIdPath, svc: Services = Depends(services),
          who: Principal = Depends(principal)) -> JobOut:
    return JobOut.of(proposals.advance(svc, who, int(proposal_id), "queue"))


@router.post("/{proposal_id}/execute", status_code=202, response_model=JobOut,
             summary="Execute a queued proposal once the timelock's delay has passed (city only; relayed)")
def execute(proposal_id: ProposalIdPath, svc: Services = Depends(services),
            who: Principal = Depends(principal)) -> JobOut:
    return JobOut.of(proposals.advance(svc, who, int(proposal_id), "execute"))
