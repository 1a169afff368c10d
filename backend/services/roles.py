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

from backend.domain.vocabulary import ChainRole, Role
from backend.models.chain import MembershipCard, RoleMember
from backend.models.organisation import Organisation
from backend.services.errors import Forbidden, NotAuthenticated


@dataclass(frozen=True)
class Principal:
    address: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    organisation_id: int | None = None
    segment: int | None = None

    @property
    def is_city(self) -> bool:
        return Role.CITY in self.roles

    @property
    def is_member(self) -> bool:
        return Role.MEMBER in self.roles

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
        address = self.require(Role.ORGANISATION)
        if self.organisation_id != organisation_id:
            raise Forbidden(f"{address} administers organisation {self.organisation_id}, not {organisation_id}")
        return address


ANYONE = Principal(None)


def principal_of(session: Session, chain_id: int, address: str) -> Principal:
    roles: set[str] = set()
    city = session.scalar(select(RoleMember.account).where(
        RoleMember.chain_id == chain_id, RoleMember.contract == "MembershipCard", RoleMember.role == ChainRole.DEFAULT_ADMIN_ROLE.value,
        RoleMember.account == address))
    if city:
        roles.add(Role.CITY)
    organisation_id = None
    org = session.scalar(select(Organisation).where(Organisation.admin_address == address))
    if org is not None and session.scalar(select(RoleMember.account).where(
            RoleMember.chain_id == chain_id, RoleMember.contract == "MembershipCard", RoleMember.role == ChainRole.ISSUER_ROLE.value,
            RoleMember.account == org.issuer_address)):
        roles.add(Role.ORGANISATION)
        organisation_id = org.id
    segment = session.scalar(select(MembershipCard.segment).where(
        MembershipCard.chain_id == chain_id, MembershipCard.member == address, MembershipCard.active.is_(True)))
    if segment is not None:
        roles.add(Role.MEMBER)
    return Principal(address, frozenset(roles), organisation_id, segment)
