"""/claims: claim a membership card with an invitation (the service pays the gas). POST -> 202 with a job;
GET /claims/{id} for its status."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from backend.services import claims, relay
from frontend_api.deps import ServicesDep
from frontend_api.schemas import Address, Hex, JobOut, SegmentNumber, Uint256Str

router = APIRouter(prefix="/claims", tags=["claims"])


class InvitationForClaim(BaseModel):
    invitee: str = Address
    segment: SegmentNumber
    issuer: str = Address
    nonce: Uint256Str
    expiry: Uint256Str


class ClaimIn(BaseModel):
    invitation: InvitationForClaim
    signature: str = Hex


@router.post("", status_code=202, response_model=JobOut, summary="Claim a card with a signed invitation",
             responses={200: {"model": JobOut, "description": "this invitation was already accepted"}})
def post_claim(body: ClaimIn, response: Response, svc: ServicesDep) -> JobOut:
    job, created = claims.accept(svc, invitation=body.invitation.model_dump(), signature=body.signature)
    if not created:
        response.status_code = 200
    return JobOut.of(job, "/claims")


@router.get("/{job_id}", response_model=JobOut, summary="Status of a claim")
def get_claim(job_id: str, svc: ServicesDep) -> JobOut:
    return JobOut.of(relay.job_view(svc, job_id=job_id, kinds=("claim",)), "/claims")
