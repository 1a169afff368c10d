"""Who is asking: roles come from what the indexer saw on chain, never from the request.

- city: holds DEFAULT_ADMIN_ROLE in the MembershipCard role registry;
- organisation: the signed-in address is the admin wallet of a registered organisation whose issuer key holds
  ISSUER_ROLE;
- member: holds an active membership card (segment: resident, relationship population, organisation);
- anyone else is "anyone": may read, sign ballots for nothing, and claim an invitation addressed to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models.chain import MembershipCard, RoleMember
from backend.models.organisation import Organisation
from backend.services.errors import Forbidden, NotAuthenticated

DEFAULT_ADMIN_ROLE = "0x" + "00" * 32
ISSUER_ROLE = "0x114e74f6ea3bd819998f78687bfcb11b140da08e9b7d222fa9c1f1ba1f2aa122"  # keccak256("ISSUER_ROLE")
SEGMENTS = {1: "resident", 2: "relationship-population", 3: "organisation"}


@dataclass(frozen=True)
class Principal:
    address: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    organisation_id: int | None = None
    segment: int | None = None

    @property
    def is_city(self) -> bool:
        return "city" in self.roles

    @property
    def is_member(self) -> bool:
        return "member" in self.roles

    def require_signed_in(self) -> str:
        if self.address is None:
            raise NotAuthenticated("sign in with Ethereum first (GET /auth/nonce, then POST /auth/verify)")
        return self.address

    def require(self, *roles: str) -> str:
        address = self.require_signed_in()
        if not self.roles & set(roles):
            raise Forbidden(f"this needs the role {' or '.join(roles)}; {address} has "
                            f"{', '.join(sorted(self.roles)) or 'no role'}")
        return address

    def require_organisation(self, organisation_id: int) -> str:
        address = self.require("organisation")
        if self.organisation_id != organisation_id:
            raise Forbidden(f"{address} administers organisation {self.organisation_id}, not {organisation_id}")
        return address


ANYONE = Principal(None)


def principal_of(session: Session, chain_id: int, address: str) -> Principal:
    roles: set[str] = set()
    city = session.scalar(select(RoleMember.account).where(
        RoleMember.chain_id == chain_id, RoleMember.contract == "MembershipCard", RoleMember.role == DEFAULT_ADMIN_ROLE,
        RoleMember.account == address))
    if city:
        roles.add("city")
    organisation_id = None
    org = session.scalar(select(Organisation).where(Organisation.admin_address == address))
    if org is not None and session.scalar(select(RoleMember.account).where(
            RoleMember.chain_id == chain_id, RoleMember.contract == "MembershipCard", RoleMember.role == ISSUER_ROLE,
            RoleMember.account == org.issuer_address)):
        roles.add("organisation")
        organisation_id = org.id
    segment = session.scalar(select(MembershipCard.segment).where(
        MembershipCard.chain_id == chain_id, MembershipCard.member == address, MembershipCard.active.is_(True)))
    if segment is not None:
        roles.add("member")
    return Principal(address, frozenset(roles), organisation_id, segment)
