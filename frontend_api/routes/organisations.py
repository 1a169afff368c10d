"""/organisations: registered cultural organisations (public), registration by the city, membership invitations
and badge types by the organisation itself."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import AfterValidator, BaseModel, Field, HttpUrl, UrlConstraints

from backend.services import organisations
from backend.services.context import Services
from backend.services.roles import Principal
from frontend_api.deps import principal, services
from frontend_api.routes import MAX_ROW_ID
from frontend_api.schemas import Address, BadgeKindWord, JobOut, SegmentNumber

router = APIRouter(prefix="/organisations", tags=["organisations"])
OrganisationId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the organisation's id")]
MAX_WEBSITE = 500  # the column's length


def _website_fits(url: HttpUrl) -> HttpUrl:
    if len(str(url)) > MAX_WEBSITE:  # normalising may lengthen it (a trailing slash)
        raise ValueError(f"the URL is longer than {MAX_WEBSITE} characters")
    return url


Website = Annotated[HttpUrl, UrlConstraints(max_length=MAX_WEBSITE), AfterValidator(_website_fits)]


class OrganisationIn(BaseModel):
    name_ja: str = Field(min_length=1, max_length=200, examples=["金沢21世紀美術館"])
    name_en: str = Field(min_length=1, max_length=200, examples=["21st Century Museum of Contemporary Art, Kanazawa"])
    description: str = Field(default="", max_length=5000)
    website: Website | None = None
    admin_address: str = Address


class OrganisationOut(BaseModel):
    id: int
    name_ja: str
    name_en: str
    description: str
    website: str | None
    admin_address: str = Field(description="the wallet the organisation's staff sign in with")
    issuer_address: str = Field(description="the organisation's issuer key (held by the service), ISSUER_ROLE on chain")
    issuer_role_granted: bool = Field(description="the grant has been indexed from the chain")
    active_cards_issued: int
    grant_job_id: str | None
    created_at: dt.datetime


class RegisteredOut(BaseModel):
    organisation: OrganisationOut
    grant_job: JobOut


class InvitationIn(BaseModel):
    invitee: str = Address
    segment: SegmentNumber
    expires_in: int = Field(default=7 * 24 * 3600, ge=60, le=organisations.MAX_INVITATION_LIFETIME,
                            description="seconds")


class SignedInvitation(BaseModel):
    invitee: str
    segment: int
    issuer: str
    nonce: str
    expiry: str


class InvitationOut(BaseModel):
    invitation: SignedInvitation
    signature: str
    claim_url: str = Field(description="POST {invitation, signature} there to claim the card, gas-free")


class BadgeTypeIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    image: str | None = Field(default=None, max_length=500, description="ipfs:// or https:// image URI")
    kind: BadgeKindWord
    soulbound: bool = True
    max_supply: int = Field(default=0, ge=0, le=2**40 - 1, description="0 = unlimited")


class BadgeTypeOut(BaseModel):
    badge_type_id: int
    kind: str
    soulbound: bool
    max_supply: int
    uri: str
    block_number: int


@router.get("", response_model=list[OrganisationOut], summary="Registered organisations")
def list_organisations(svc: Services = Depends(services)) -> list[dict]:
    return organisations.list_all(svc)


@router.post("", status_code=201, response_model=RegisteredOut,
             summary="Register an organisation and grant it the issuer role on chain (city only)")
def register(body: OrganisationIn, svc: Services = Depends(services), who: Principal = Depends(principal)) -> RegisteredOut:
    org, job = organisations.register(svc, who, organisations.OrganisationIn(
        body.name_ja, body.name_en, body.description, str(body.website) if body.website else None, body.admin_address))
    return RegisteredOut(organisation=OrganisationOut(**org), grant_job=JobOut.of(job))


@router.get("/{organisation_id}", response_model=OrganisationOut, summary="One organisation")
def get_organisation(organisation_id: OrganisationId, svc: Services = Depends(services)) -> dict:
    return organisations.get(svc, organisation_id)


@router.post("/{organisation_id}/invitations", status_code=201, response_model=InvitationOut,
             summary="A membership invitation signed by the organisation's issuer key (the organisation only)")
def invite(organisation_id: OrganisationId, body: InvitationIn, svc: Services = Depends(services),
           who: Principal = Depends(principal)) -> dict:
    return organisations.invite(svc, who, organisation_id, invitee=body.invitee, segment=body.segment,
                                lifetime=body.expires_in)


@router.get("/{organisation_id}/badge-types", response_model=list[BadgeTypeOut],
            summary="The organisation's badge types (as indexed from the chain)")
def list_badge_types(organisation_id: OrganisationId, svc: Services = Depends(services)) -> list[dict]:
    return organisations.badge_types(svc, organisation_id)


@router.post("/{organisation_id}/badge-types", status_code=202, response_model=JobOut,
             summary="Create a badge type: metadata pinned, created on chain by the issuer key (the organisation only)")
def create_badge_type(organisation_id: OrganisationId, body: BadgeTypeIn, svc: Services = Depends(services),
                      who: Principal = Depends(principal)) -> JobOut:
    return JobOut.of(organisations.create_badge_type(svc, who, organisation_id, name=body.name,
                                                     description=body.description, image=body.image, kind=body.kind,
                                                     soulbound=body.soulbound, max_supply=body.max_supply))
