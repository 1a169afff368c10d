"""/outcomes: the public feed of outcomes the city published, newest first (every version)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from backend.services import outcomes
from backend.services.outcomes import OutcomePage
from frontend_api.deps import ServicesDep
from frontend_api.routes import MAX_PAGE

router = APIRouter(prefix="/outcomes", tags=["outcomes"])


@router.get("", response_model=OutcomePage, summary="Published outcomes, newest first")
def feed(svc: ServicesDep, page: int = Query(default=1, ge=1, le=MAX_PAGE),
         per_page: int = Query(default=20, ge=1, le=100)) -> OutcomePage:
    return outcomes.feed(svc, page=page, per_page=per_page)
