"""Documents the service pinned to the content store: proposal documents, outcome reports, badge metadata."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UtcDateTime
from backend.models._common import Address, Hash, utcnow


class PinnedDocument(Base):
    __tablename__ = "pinned_document"
    cid: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # proposal | outcome-report | badge-metadata
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    #: keccak-256 of the bytes: what the chain records (proposal description, outcome content hash).
    content_hash: Mapped[str] = mapped_column(Hash)
    pinned_by: Mapped[str] = mapped_column(Address)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
