"""Schemas shared by several routes: relay jobs and pages of results."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, Field

from backend.domain.vocabulary import BadgeKind, Category, OutcomeStatus, Segment
from backend.services.relay import JobView

T = TypeVar("T")

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
UINT256_PATTERN = r"^[0-9]{1,78}$"


def _below_2_256(value: str | None) -> str | None:
    # 78 digits reach past 2^256: the pattern bounds the length, this the value (a larger one was a 500).
    if value is not None and int(value) >= 2**256:
        raise ValueError("must be below 2^256 (a uint256)")
    return value


Address = Field(pattern=ADDRESS_PATTERN, description="EIP-55 address")
Hex = Field(pattern=r"^0x[0-9a-fA-F]*$", max_length=4000)
#: uint256 values (proposal ids, nonces, wei) travel as decimal strings: they exceed JSON's safe integers.
Uint256Str = Annotated[str, Field(pattern=UINT256_PATTERN, description="a uint256 as a decimal string"),
                       AfterValidator(_below_2_256)]
#: The domain's words on the wire (backend/domain/vocabulary.py), as enums in the OpenAPI description.
CategoryWord = Literal[Category.words()]  # type: ignore[valid-type]
OutcomeStatusWord = Literal[OutcomeStatus.words()]  # type: ignore[valid-type]
BadgeKindWord = Literal[BadgeKind.words()]  # type: ignore[valid-type]
SegmentNumber = Annotated[int, Field(ge=min(Segment), le=max(Segment),
                                     description=", ".join(f"{s.value} {s.word}" for s in Segment))]
#: A proposal id in a path or a query string.
ProposalIdPath = Annotated[str, Path(pattern=UINT256_PATTERN, description="the proposal id (uint256, decimal)"),
                           AfterValidator(_below_2_256)]
ProposalIdQuery = Annotated[str, Query(pattern=UINT256_PATTERN, description="the proposal id (uint256, decimal)"),
                            AfterValidator(_below_2_256)]


class JobOut(BaseModel):
    """A relayed transaction: pending -> submitted (tx_hash) -> included (in a block, not final yet) -> confirmed
    (`KANAZAWA_DAO_CONFIRMATIONS` blocks deep) | failed (error). A reorg that takes an included transaction's block
    sends the job back to submitted: it is relayed again."""

    id: str
    kind: str
    status: str = Field(description="pending | submitted | included | confirmed | failed")
    tx_hash: str | None
    block_number: int | None
    block_hash: str | None = Field(default=None, description="the block the transaction is in (included, confirmed)")
    error: str | None = Field(description="why it failed (the contract's custom error), when it did")
    result: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    status_url: str

    @classmethod
    def of(cls, job: JobView, base: str = "/jobs") -> JobOut:
        return cls(id=job.id, kind=job.kind, status=job.status, tx_hash=job.tx_hash, block_number=job.block_number,
                   block_hash=job.block_hash, error=job.error, result=job.result, created_at=job.created_at, updated_at=job.updated_at,
                   status_url=f"{base}/{job.id}")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
