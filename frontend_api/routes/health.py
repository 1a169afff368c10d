"""/health: liveness and readiness for operators and `kanazawa-dao up` (database, chain head, indexer lag, relay
jobs by status). 200 while the database answers, 503 when it does not."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.services import health as health_service
from backend.services.context import Services
from frontend_api.deps import services

router = APIRouter(tags=["health"])


class ChainOut(BaseModel):
    chain_id: int
    head: int


class IndexerOut(BaseModel):
    block: int = Field(description="the last block indexed")
    lag: int | None = Field(description="blocks behind the chain's head (null when the chain does not answer)")
    updated_at: dt.datetime


class HealthOut(BaseModel):
    status: str = Field(description="ok | degraded (the chain does not answer) | unavailable (the database does not)")
    database: bool
    chain: ChainOut | None
    indexer: IndexerOut | None = Field(description="null until the indexer's first batch")
    relay_jobs: dict[str, int] = Field(description="relayed transactions by status (pending, submitted, confirmed, failed)")
    error: str | None = None


@router.get("/health", response_model=HealthOut, summary="Health: database, chain head, indexer lag, relay jobs",
            responses={503: {"model": HealthOut, "description": "the database does not answer"}})
def health(svc: Services = Depends(services)):
    report = health_service.health(svc)
    if report["status"] == "unavailable":
        return JSONResponse(HealthOut(**report).model_dump(mode="json"), status_code=503)
    return report
