"""Metaverse events run by organisations, and who attended them (from the platform's signed webhook or the
attendee's signed check-in). Attendance badges are minted after the event ends."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Uint256, UtcDateTime
from backend.models._common import Address, Timestamps, utcnow


class MetaverseEvent(Timestamps, Base):
    __tablename__ = "metaverse_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    title_ja: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: The platform and space, e.g. "cluster: 金沢21世紀美術館 room".
    space: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    #: The proposal the event discusses, if any (a metaverse town hall): the proposal page shows how many of its
    #: voters attended.
    proposal_id: Mapped[int | None] = mapped_column(Uint256, index=True)
    #: The on-chain attendance badge type (CommunityBadges id) minted to attendees.
    badge_type_id: Mapped[int] = mapped_column(BigInteger)
    #: SHA-256 of the check-in code announced in the space (the code itself is shown once, at creation).
    checkin_code_hash: Mapped[str] = mapped_column(String(64))
    #: HMAC key the platform signs attendance webhooks with (shown once, at creation).
    webhook_secret: Mapped[str] = mapped_column(String(64))
    #: Set when the attendance badges were planned into mint jobs.
    badges_planned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Attendance(Base):
    __tablename__ = "attendance"
    event_id: Mapped[int] = mapped_column(ForeignKey("metaverse_event.id", ondelete="CASCADE"), primary_key=True)
    attendee: Mapped[str] = mapped_column(Address, primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(10))  # webhook | check-in
    attended_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: The mint job that carries this attendee's badge; None until planned, or when not a member (no badge).
    mint_job_id: Mapped[str | None] = mapped_column(String(32))
    badge_note: Mapped[str | None] = mapped_column(String(100))


class WebhookDelivery(Base):
    """Deliveries already accepted, by the platform's delivery id: a replayed webhook is refused."""

    __tablename__ = "webhook_delivery"
    delivery_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("metaverse_event.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CheckInUse(Base):
    """Signed check-ins already used, by the EIP-712 digest of what was signed (not by the signature's bytes: an
    ECDSA signature has a malleated twin, and a contract account may sign one message many ways), so a replayed
    check-in is refused, however it is signed, and never re-counted."""

    __tablename__ = "checkin_use"
    digest: Mapped[str] = mapped_column(String(66), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("metaverse_event.id", ondelete="CASCADE"), index=True)
    attendee: Mapped[str] = mapped_column(Address)
    used_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
