"""Organisations: the city registers a cultural organisation and grants its issuer key ISSUER_ROLE through a
relayed transaction; the organisation then hands out membership invitations (signed by its issuer key, held by
the service) and creates badge types (metadata pinned to IPFS, created on chain by its issuer key).

Trust model (README "Who signs what"): the organisation's staff sign in with their own wallet (`admin_address`)
and instruct the service; the service signs for the organisation with a key derived for it. Every card and badge
the organisation issues names that key on chain, and the city can revoke its role at any time.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_utils import is_checksum_address
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from web3.logs import DISCARD

from backend.chain import eip712
from backend.domain.vocabulary import BadgeKind, ChainRole, JobKind, Role, Segment
from backend.models.chain import BadgeType, MembershipCard, RoleMember
from backend.models.organisation import Invitation, Organisation
from backend.services import documents, relay
from backend.services.context import Services
from backend.services.errors import Conflict, InvalidInput, NotFound
from backend.services.roles import Principal

MAX_INVITATION_LIFETIME = 90 * 24 * 3600


@relay.job_kind
@dataclass(frozen=True)
class GrantIssuerJob(relay.JobPayload):
    """The city grants an organisation's issuer key ISSUER_ROLE (`MembershipCard.grantRole`)."""

    kind: ClassVar[JobKind] = JobKind.GRANT_ISSUER
    account: str
    organisation_id: int

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "organisation_id": self.organisation_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GrantIssuerJob:
        return cls(data["account"], int(data["organisation_id"]))

    def call(self, services: Services):
        return services.contract("MembershipCard").functions.grantRole(ChainRole.ISSUER_ROLE.id_bytes, self.account)


@relay.job_kind
@dataclass(frozen=True)
class CreateBadgeTypeJob(relay.JobPayload):
    """An organisation creates a badge type (`CommunityBadges.createBadgeType`); its result is the type's id."""

    kind: ClassVar[JobKind] = JobKind.CREATE_BADGE_TYPE
    uri: str
    max_supply: int
    soulbound: bool
    badge_kind: int
    organisation_id: int

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "max_supply": self.max_supply, "soulbound": self.soulbound, "kind": self.badge_kind,
                "organisation_id": self.organisation_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CreateBadgeTypeJob:
        return cls(data["uri"], int(data["max_supply"]), bool(data["soulbound"]), int(data["kind"]),
                   int(data["organisation_id"]))

    def call(self, services: Services):
        return services.contract("CommunityBadges").functions.createBadgeType(
            self.uri, self.max_supply, self.soulbound, self.badge_kind)

    def result(self, services: Services, receipt: Any) -> dict[str, Any]:
        events = services.contract("CommunityBadges").events.BadgeTypeCreated().process_receipt(receipt, errors=DISCARD)
        return {"badge_type_id": int(events[0]["args"]["badgeTypeId"])} if events else {}


@dataclass(frozen=True)
class OrganisationIn:
    name_ja: str
    name_en: str
    description: str
    website: str | None
    admin_address: str


class OrganisationView(BaseModel):
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


class InvitationMessage(BaseModel):
    """The EIP-712 `Invitation` an issuer signed (uint256 values as decimal strings)."""

    invitee: str
    segment: int
    issuer: str
    nonce: str
    expiry: str


class SignedInvitation(BaseModel):
    invitation: InvitationMessage
    signature: str
    claim_url: str = Field(description="POST {invitation, signature} there to claim the card, gas-free")


class BadgeTypeView(BaseModel):
    badge_type_id: int
    kind: str = Field(description="attendance | cultural-work | perk")
    soulbound: bool
    max_supply: int = Field(description="0 = unlimited")
    uri: str
    block_number: int


def _view(session, services: Services, org: Organisation) -> OrganisationView:
    granted = session.scalar(select(RoleMember.account).where(
        RoleMember.chain_id == services.chain_id, RoleMember.contract == "MembershipCard",
        RoleMember.role == ChainRole.ISSUER_ROLE.value, RoleMember.account == org.issuer_address)) is not None
    cards = session.scalar(select(func.count()).select_from(MembershipCard).where(
        MembershipCard.chain_id == services.chain_id, MembershipCard.issuer == org.issuer_address,
        MembershipCard.active.is_(True))) or 0
    return OrganisationView(id=org.id, name_ja=org.name_ja, name_en=org.name_en, description=org.description,
                            website=org.website, admin_address=org.admin_address, issuer_address=org.issuer_address,
                            issuer_role_granted=granted, active_cards_issued=cards, grant_job_id=org.grant_job_id,
                            created_at=org.created_at)


def register(services: Services, who: Principal, *, data: OrganisationIn) -> tuple[OrganisationView, relay.JobView]:
    city = who.require(Role.CITY)
    if not is_checksum_address(data.admin_address):
        raise InvalidInput("admin_address must be an EIP-55 checksummed address")
    try:
        with services.transaction() as session:
            org = Organisation(name_ja=data.name_ja, name_en=data.name_en, description=data.description,
                               website=data.website, admin_address=data.admin_address,
                               issuer_address="0x" + secrets.token_hex(20), registered_by=city)
            session.add(org)
            session.flush()  # the id derives the issuer key
            org.issuer_address = services.keys.organisation(org.id).address
            job, _ = relay.accept(session, payload=GrantIssuerJob(org.issuer_address, org.id),
                                  dedupe_key=f"grant-issuer:{services.chain_id}:{org.id}", requested_by=city,
                                  signer="city", sender=services.keys.city.address)
            org.grant_job_id = job.id
            session.flush()
            view, job_view = _view(session, services, org), relay.JobView.of(job)
    except IntegrityError:
        raise Conflict(f"{data.admin_address} already administers an organisation") from None
    services.dispatch(job_view.id)
    return view, job_view


def get(services: Services, *, organisation_id: int) -> OrganisationView:
    with services.session() as session:
        org = session.get(Organisation, organisation_id)
        if org is None:
            raise NotFound(f"no organisation {organisation_id}")
        return _view(session, services, org)


def list_all(services: Services) -> list[OrganisationView]:
    with services.session() as session:
        return [_view(session, services, o) for o in session.scalars(select(Organisation).order_by(Organisation.id))]


def _organisation(session, organisation_id: int) -> Organisation:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"no organisation {organisation_id}")
    return org


def invite(services: Services, who: Principal, *, organisation_id: int, invitee: str, segment: int,
           lifetime: int) -> SignedInvitation:
    """Sign an invitation with the organisation's issuer key. The invitee (or anyone) then POSTs it to /claims."""
    who.require_organisation(organisation_id)
    if not is_checksum_address(invitee):
        raise InvalidInput("invitee must be an EIP-55 checksummed address")
    if segment not in set(Segment):
        raise InvalidInput("segment must be " + ", ".join(f"{s.value} ({s.word})" for s in Segment), field="segment")
    if not 60 <= lifetime <= MAX_INVITATION_LIFETIME:
        raise InvalidInput(f"expires_in must be between 60 and {MAX_INVITATION_LIFETIME} seconds")
    card = services.contract("MembershipCard")
    key = services.keys.organisation(organisation_id)
    expiry = services.chain.w3.eth.get_block("latest")["timestamp"] + lifetime
    with services.transaction() as session:
        _organisation(session, organisation_id)
        nonce = secrets.randbits(64)  # random: no coordination between API processes; unique per issuer
        message, signature = eip712.sign_invitation(card, key, invitee=invitee, segment=segment, nonce=nonce,
                                                    expiry=expiry)
        session.add(Invitation(organisation_id=organisation_id, issuer_address=key.address, invitee=invitee,
                               segment=segment, nonce=nonce, expiry=expiry, signature="0x" + signature.hex()))
    return SignedInvitation(invitation=InvitationMessage(**{**message, "nonce": str(nonce), "expiry": str(expiry)}),
                            signature="0x" + signature.hex(), claim_url="/claims")


def create_badge_type(services: Services, who: Principal, *, organisation_id: int, name: str, description: str,
                      image: str | None, kind: str, soulbound: bool, max_supply: int) -> relay.JobView:
    address = who.require_organisation(organisation_id)
    try:
        kind_number = BadgeKind.of_word(kind)
    except ValueError as exc:
        raise InvalidInput(f"kind: {exc}", field="kind") from None
    with services.transaction() as session:
        org = _organisation(session, organisation_id)
        metadata = {"name": name, "description": description, "image": image,
                    "properties": {"kind": kind, "soulbound": soulbound, "organisation": org.name_en,
                                   "organisation_ja": org.name_ja}}
        cid, _hash = documents.pin_json(services, session, kind="badge-metadata", document=metadata,
                                        pinned_by=address)
        job, created = relay.accept(
            session, payload=CreateBadgeTypeJob(f"ipfs://{cid}", max_supply, soulbound, int(kind_number), organisation_id),
            dedupe_key=f"create-badge-type:{services.chain_id}:{secrets.token_hex(16)}",
            requested_by=address, signer=f"organisation:{organisation_id}", sender=org.issuer_address)
        view = relay.JobView.of(job)
    services.dispatch(view.id)
    return view


def badge_types(services: Services, *, organisation_id: int) -> list[BadgeTypeView]:
    with services.session() as session:
        org = _organisation(session, organisation_id)
        rows = session.scalars(select(BadgeType).where(BadgeType.chain_id == services.chain_id,
                                                       BadgeType.issuer == org.issuer_address)
                               .order_by(BadgeType.badge_type_id))
        return [BadgeTypeView(badge_type_id=t.badge_type_id, kind=BadgeKind.word_of(t.kind), soulbound=t.soulbound,
                              max_supply=t.max_supply, uri=t.uri, block_number=t.block_number) for t in rows]
