"""Column helpers shared by the off-chain tables (written only by the services in backend/services)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

Address = String(42)  # checksummed 0x address
Hash = String(66)  # 0x + 64 hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
