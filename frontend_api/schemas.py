"""Schemas shared by several routes: relay jobs and pages of results."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from backend.services.relay import JobView

T = TypeVar("T")

Address = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="EIP-55 address")
Hex = Field(pattern=r"^0x[0-9a-fA-F]*$", max_length=4000)
#: uint256 values (proposal ids, nonces) travel as decimal strings: they exceed JSON's safe integers.
Uint256Str = Field(pattern=r"^[0-9]{1,78}$", description="a uint256 as a decimal string")


class JobOut(BaseModel):
    """A relayed transaction: pending -> submitted (tx_hash) -> confirmed | failed (error)."""

    id: str
    kind: str
    status: str = Field(description="pending | submitted | confirmed | failed")
    tx_hash: str | None
    block_number: int | None
    error: str | None = Field(description="why it failed (the contract's custom error), when it did")
    result: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    status_url: str

    @classmethod
    def of(cls, job: JobView, base: str = "/jobs") -> JobOut:
        return cls(id=job.id, kind=job.kind, status=job.status, tx_hash=job.tx_hash, block_number=job.block_number,
                   error=job.error, result=job.result, created_at=job.created_at, updated_at=job.updated_at,
                   status_url=f"{base}/{job.id}")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
