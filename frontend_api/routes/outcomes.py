"""/outcomes: the public feed of outcomes the city published, newest first (every version)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from backend.services import outcomes
from backend.services.context import Services
from frontend_api.deps import services
from frontend_api.routes import MAX_PAGE

router = APIRouter(prefix="/outcomes", tags=["outcomes"])


class FeedItem(BaseModel):
    proposal_id: str
    version: int
    status: str
    report_uri: str
    content_hash: str
    publisher: str
    block_number: int
    tx_hash: str
    title_ja: str | None
    title_en: str | None


class FeedPage(BaseModel):
    items: list[FeedItem]
    total: int
    page: int
    per_page: int


@router.get("", response_model=FeedPage, summary="Published outcomes, newest first")
def feed(page: int = Query(default=1, ge=1, le=MAX_PAGE), per_page: int = Query(default=20, ge=1, le=100),
         svc: Services = Depends(services)) -> dict:
    return outcomes.feed(svc, page=page, per_page=per_page)
