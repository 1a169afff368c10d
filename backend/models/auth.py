"""Sign-In with Ethereum: single-use nonces and the sessions they open."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UtcDateTime
from backend.models._common import Address, utcnow


class SiweNonce(Base):
    """A nonce handed out by GET /auth/nonce. Used at most once (`used_at` set atomically), and only before it
    expires."""

    __tablename__ = "siwe_nonce"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ApiSession(Base):
    """A signed-in address. Only the SHA-256 of the token is stored: a database leak opens no session."""

    __tablename__ = "api_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(Address, index=True)
    chain_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
