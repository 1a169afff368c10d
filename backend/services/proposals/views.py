"""What the proposals service answers with: typed read models, the very shapes the API serves (its OpenAPI
schemas) and the pages render."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backend.services.outcomes import OutcomeVersion


class Votes(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    for_: int = Field(alias="for", serialization_alias="for")
    against: int
    abstain: int


class Tallies(BaseModel):
    overall: Votes
    by_segment: dict[str, Votes] = Field(description="resident, relationship-population, organisation")


class ProposalSummary(BaseModel):
    proposal_id: str = Field(description="uint256, decimal")
    proposer: str
    category: str = Field(description="culture | town-planning")
    title_ja: str | None
    title_en: str | None
    author: str | None
    document_uri: str | None = Field(description="ipfs:// URI of the document, when this service drafted the "
                                                 "proposal with it")
    document_hash: str | None
    vote_start: int = Field(description="the snapshot, in Unix seconds (the card's clock, EIP-6372 "
                                        "mode=timestamp): members at that moment may vote, from just after it")
    vote_end: int = Field(description="the deadline, in Unix seconds: the last moment a ballot counts")
    voting_starts_at: dt.datetime = Field(description="vote_start as a date and time")
    voting_ends_at: dt.datetime = Field(description="vote_end as a date and time")
    eta: int | None
    lifecycle: str = Field(description="created | queued | executed | canceled, as indexed")
    state: str = Field(description="the governor's state: Pending, Active, Canceled, Defeated, Succeeded, Queued, "
                                   "Expired, Executed (Unknown only while the chain does not answer)")
    block_number: int
    tx_hash: str
    tallies: Votes


class ProposalPage(BaseModel):
    items: list[ProposalSummary]
    total: int
    page: int
    per_page: int


class ActionView(BaseModel):
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


class DocumentCheck(BaseModel):
    status: str = Field(description="verified | mismatch | unavailable")
    detail: str


class LinkedIssue(BaseModel):
    id: int
    title: str
    status: str
    support_count: int


class Turnout(BaseModel):
    voters: int
    eligible: int | None = Field(description="cards at the snapshot (null while the chain does not answer)")
    ratio: float | None


class AttendanceOverlap(BaseModel):
    related_events: int
    voters_who_attended: int | None = Field(description="null when fewer than 5 (suppressed)")
    suppressed: bool


class ProposalDetail(ProposalSummary):
    tallies: Tallies  # type: ignore[assignment]
    actions: dict[str, list[str]] = Field(description="the raw on-chain actions: targets, values, calldatas")
    decoded_actions: list[ActionView] = Field(description="every on-chain action, in words, with warnings")
    document_verification: DocumentCheck = Field(
        description="whether the document named on chain hashes to its on-chain hash and describes this proposal")
    issues: list[LinkedIssue]
    turnout: Turnout
    attendance_overlap: AttendanceOverlap
    outcomes: list[OutcomeVersion]
    document: dict[str, Any] | None = Field(description="the proposal document, when this service holds it")
