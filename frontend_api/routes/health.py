"""/health: liveness and readiness for operators and `kanazawa-dao up` (database, chain head, indexer lag, relay
jobs by status). 200 while the database answers, 503 when it does not."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.services import health as health_service
from backend.services.health import HealthReport
from frontend_api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthReport, summary="Health: database, chain head, indexer lag, relay jobs",
            responses={503: {"model": HealthReport, "description": "the database does not answer"}})
def health(svc: ServicesDep):
    report = health_service.health(svc)
    if report.status == "unavailable":
        return JSONResponse(report.model_dump(mode="json"), status_code=503)
    return report
