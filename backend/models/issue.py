"""The citizens' issues board (マッチ箱 / Ha4go style): local issues, supports, comments. Issues imported from an
external board keep their `source` and `external_id`, so a re-import updates rather than duplicates."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UtcDateTime
from backend.domain.vocabulary import ISSUE_CATEGORIES, ISSUE_STATUSES  # noqa: F401 - the board's words, re-exported
from backend.models._common import Address, Timestamps, utcnow


class Issue(Timestamps, Base):
    __tablename__ = "issue"
    __table_args__ = (UniqueConstraint("source", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")
    location_name: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    skills_wanted: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The member who posted it; None for an imported issue (its author lives on the external board).
    author_address: Mapped[str | None] = mapped_column(Address, index=True)
    #: "kanazawa-dao" for issues posted here, else the external board's name ("matchbako", "ha4go", ...).
    source: Mapped[str] = mapped_column(String(40), default="kanazawa-dao")
    external_id: Mapped[str | None] = mapped_column(String(200))
    external_url: Mapped[str | None] = mapped_column(String(500))
    #: Kept in step with issue_support in the same transaction, so lists can sort by it.
    support_count: Mapped[int] = mapped_column(Integer, default=0, index=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Title and body as the board's search compares them (`searchable`); kept in step on every write below.
    search_text: Mapped[str] = mapped_column(Text, default="")


def searchable(text: str) -> str:
    """Text as the issues search compares it: NFKC (full-width ｗｉ－ｆｉ and half-width ｶﾀｶﾅ become wi-fi and カタカナ)
    and case-folded. Stored once per issue, so a search compares plain strings instead of folding every row's text
    on every query (which was most of a search's time)."""
    return unicodedata.normalize("NFKC", text).casefold()


@event.listens_for(Issue, "before_insert")
@event.listens_for(Issue, "before_update")
def _keep_search_text(_mapper, _connection, issue: Issue) -> None:
    issue.search_text = searchable(f"{issue.title}\n{issue.body}")


class IssueSupport(Base):
    """One support per member and issue."""

    __tablename__ = "issue_support"
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), primary_key=True)
    member_address: Mapped[str] = mapped_column(Address, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class IssueComment(Base):
    __tablename__ = "issue_comment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), index=True)
    author_address: Mapped[str] = mapped_column(Address)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
