"""/organisations: registered cultural organisations (public), registration by the city, membership invitations
and badge types by the organisation itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import AfterValidator, BaseModel, Field, HttpUrl, UrlConstraints

from backend.services import organisations
from backend.services.organisations import BadgeTypeView, OrganisationView, SignedInvitation
from frontend_api.deps import PrincipalDep, ServicesDep
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


class Registered(BaseModel):
    organisation: OrganisationView
    grant_job: JobOut


class InvitationRequest(BaseModel):
    invitee: str = Address
    segment: SegmentNumber
    expires_in: int = Field(default=7 * 24 * 3600, ge=60, le=organisations.MAX_INVITATION_LIFETIME,
                            description="seconds")


class BadgeTypeIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    image: str | None = Field(default=None, max_length=500, description="ipfs:// or https:// image URI")
    kind: BadgeKindWord
    soulbound: bool = True
    max_supply: int = Field(default=0, ge=0, le=2**40 - 1, description="0 = unlimited")


@router.get("", response_model=list[OrganisationView], summary="Registered organisations")
def list_organisations(svc: ServicesDep) -> list[OrganisationView]:
    return organisations.list_all(svc)


@router.post("", status_code=201, response_model=Registered,
             summary="Register an organisation and grant it the issuer role on chain (city only)")
def register(body: OrganisationIn, svc: ServicesDep, who: PrincipalDep) -> Registered:
    org, job = organisations.register(svc, who, data=organisations.OrganisationIn(
        body.name_ja, body.name_en, body.description, str(body.website) if body.website else None, body.admin_address))
    return Registered(organisation=org, grant_job=JobOut.of(job))


@router.get("/{organisation_id}", response_model=OrganisationView, summary="One organisation")
def get_organisation(organisation_id: OrganisationId, svc: ServicesDep) -> OrganisationView:
    return organisations.get(svc, organisation_id=organisation_id)


@router.post("/{organisation_id}/invitations", status_code=201, response_model=SignedInvitation,
             summary="A membership invitation signed by the organisation's issuer key (the organisation only)")
def invite(organisation_id: OrganisationId, body: InvitationRequest, svc: ServicesDep,
           who: PrincipalDep) -> SignedInvitation:
    return organisations.invite(svc, who, organisation_id=organisation_id, invitee=body.invitee, segment=body.segment,
                                lifetime=body.expires_in)


@router.get("/{organisation_id}/badge-types", response_model=list[BadgeTypeView],
            summary="The organisation's badge types (as indexed from the chain)")
def list_badge_types(organisation_id: OrganisationId, svc: ServicesDep) -> list[BadgeTypeView]:
    return organisations.badge_types(svc, organisation_id=organisation_id)


@router.post("/{organisation_id}/badge-types", status_code=202, response_model=JobOut,
             summary="Create a badge type: metadata pinned, created on chain by the issuer key (the organisation only)")
def create_badge_type(organisation_id: OrganisationId, body: BadgeTypeIn, svc: ServicesDep,
                      who: PrincipalDep) -> JobOut:
    return JobOut.of(organisations.create_badge_type(svc, who, organisation_id=organisation_id, name=body.name,
                                                     description=body.description, image=body.image, kind=body.kind,
                                                     soulbound=body.soulbound, max_supply=body.max_supply))
