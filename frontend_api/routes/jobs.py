"""/jobs/{id}: status of any relayed transaction (organisation registrations, badge types, mints, proposals,
outcomes). Ballots and claims also answer under /ballots and /claims."""

from __future__ import annotations

from fastapi import APIRouter

from backend.services import relay
from frontend_api.deps import ServicesDep
from frontend_api.schemas import JobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobOut, summary="Status of a relayed transaction")
def get_job(job_id: str, svc: ServicesDep) -> JobOut:
    return JobOut.of(relay.job_view(svc, job_id=job_id))
