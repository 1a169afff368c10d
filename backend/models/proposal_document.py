"""Proposal documents: what a member or the city drafted, pinned to the content store, and the issues it grew
from. The on-chain proposal (backend.models.chain.Proposal) carries the document's `ipfs://` URI and hash; the
proposal id is known before submission (it is the hash of the actions and the description)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Uint256, UtcDateTime
from backend.models._common import Address, Hash, utcnow


class ProposalDocument(Base):
    __tablename__ = "proposal_document"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(Integer)
    proposal_id: Mapped[int] = mapped_column(Uint256, unique=True)
    author_address: Mapped[str] = mapped_column(Address, index=True)
    category: Mapped[int] = mapped_column(SmallInteger)  # 0 culture, 1 town planning (as on chain)
    title_ja: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    document_cid: Mapped[str] = mapped_column(String(128))
    document_hash: Mapped[str] = mapped_column(Hash)
    #: The exact on-chain description (its keccak is part of the proposal id).
    description: Mapped[str] = mapped_column(Text)
    #: {"targets": [...], "values": ["0", ...], "calldatas": ["0x...", ...]}
    actions: Mapped[dict[str, Any]] = mapped_column(JSON)
    relay_job_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProposalIssue(Base):
    __tablename__ = "proposal_issue"
    proposal_document_id: Mapped[int] = mapped_column(ForeignKey("proposal_document.id", ondelete="CASCADE"),
                                                      primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id"), primary_key=True, index=True)
