"""/ballots: gasless voting. POST a signed EIP-712 ballot -> 202 with a job; GET /ballots/{id} for its status;
GET /ballots/typed-data for the exact message to sign (with the voter's next nonce)."""

from __future__ import annotations

from eth_utils import is_checksum_address
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from backend.services import ballots, relay
from backend.services.errors import InvalidInput
from frontend_api.deps import ServicesDep
from frontend_api.schemas import ADDRESS_PATTERN, Address, Hex, JobOut, ProposalIdQuery, Uint256Str

router = APIRouter(prefix="/ballots", tags=["ballots"])


class BallotIn(BaseModel):
    proposal_id: Uint256Str
    support: int = Field(ge=0, le=2, description="0 against, 1 for, 2 abstain")
    voter: str = Address
    nonce: Uint256Str
    signature: str = Hex


@router.post("", status_code=202, response_model=JobOut, summary="Submit a signed ballot (the service pays the gas)",
             responses={200: {"model": JobOut, "description": "the same ballot was already accepted"}})
def post_ballot(body: BallotIn, response: Response, svc: ServicesDep) -> JobOut:
    job, created = ballots.accept(svc, ballot=ballots.SignedBallot(int(body.proposal_id), body.support, body.voter,
                                                        int(body.nonce), body.signature))
    if not created:
        response.status_code = 200
    return JobOut.of(job, "/ballots")


@router.get("/typed-data", summary="The EIP-712 ballot to sign, with the voter's next nonce")
def get_typed_data(proposal_id: ProposalIdQuery, svc: ServicesDep, support: int = Query(ge=0, le=2), voter: str = Query(pattern=ADDRESS_PATTERN)) -> dict:
    if not is_checksum_address(voter):  # as POST /ballots requires; a bad checksum is a typo, not a chain fault
        raise InvalidInput("voter must be an EIP-55 checksummed address")
    data = ballots.typed_data(svc, proposal_id=int(proposal_id), support=support, voter=voter)
    data["message"] = {k: str(v) if isinstance(v, int) and k != "support" else v for k, v in data["message"].items()}
    return data


@router.get("/{job_id}", response_model=JobOut, summary="Status of a ballot")
def get_ballot(job_id: str, svc: ServicesDep) -> JobOut:
    return JobOut.of(relay.job_view(svc, job_id=job_id, kinds=("ballot",)), "/ballots")
