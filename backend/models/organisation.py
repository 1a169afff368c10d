"""Cultural organisations registered by the city, and the membership invitations they hand out."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Uint256, UtcDateTime
from backend.models._common import Address, Timestamps, utcnow


class Organisation(Timestamps, Base):
    """`admin_address` is the wallet the organisation's staff sign in with; `issuer_address` is the key the service
    derives for the organisation and the city grants ISSUER_ROLE to (README: "Who signs what")."""

    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(500))
    admin_address: Mapped[str] = mapped_column(Address, unique=True)
    issuer_address: Mapped[str] = mapped_column(Address, unique=True)
    registered_by: Mapped[str] = mapped_column(Address)
    #: The relay job that grants ISSUER_ROLE on chain.
    grant_job_id: Mapped[str | None] = mapped_column(String(32))


class Invitation(Base):
    """A membership invitation signed by an organisation's issuer key (EIP-712 `Invitation`), for one invitee."""

    __tablename__ = "invitation"
    __table_args__ = (UniqueConstraint("issuer_address", "nonce"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    issuer_address: Mapped[str] = mapped_column(Address)
    invitee: Mapped[str] = mapped_column(Address, index=True)
    segment: Mapped[int] = mapped_column(SmallInteger)
    nonce: Mapped[int] = mapped_column(Uint256)
    expiry: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(132))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
