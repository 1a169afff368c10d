"""Relayed membership claims: the invitee (or anyone for them) posts an invitation signed by an organisation's
issuer key; the API runs the claim against the chain first (expired, used, forged, not an issuer, already a member
are refused now, with the contract's error), then accepts it as a relay job. Same invitation twice = same job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from eth_utils import is_checksum_address
from sqlalchemy import select
from web3.logs import DISCARD

from backend.chain import eip712
from backend.domain.vocabulary import JobKind, JobStatus, Segment
from backend.models.relay import RelayJob
from backend.services import chain_checks, relay
from backend.services.context import Services
from backend.services.errors import Conflict, InvalidInput


@relay.job_kind
@dataclass(frozen=True)
class ClaimJob(relay.JobPayload):
    """An invitation claimed for its invitee, relayed as `MembershipCard.claim`."""

    kind: ClassVar[JobKind] = JobKind.CLAIM
    invitee: str
    segment: int
    issuer: str
    nonce: int
    expiry: int
    signature: str

    def to_json(self) -> dict[str, Any]:
        return {"invitation": {"invitee": self.invitee, "segment": self.segment, "issuer": self.issuer,
                               "nonce": str(self.nonce), "expiry": str(self.expiry)}, "signature": self.signature}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClaimJob:
        inv = data["invitation"]
        return cls(inv["invitee"], int(inv["segment"]), inv["issuer"], int(inv["nonce"]), int(inv["expiry"]),
                   data["signature"])

    def call(self, services: Services):
        fields = (self.invitee, self.segment, self.issuer, self.nonce, self.expiry)
        return services.contract("MembershipCard").functions.claim(fields, bytes.fromhex(self.signature[2:]))

    def result(self, services: Services, receipt: Any) -> dict[str, Any]:
        events = services.contract("MembershipCard").events.CardIssued().process_receipt(receipt, errors=DISCARD)
        return {"token_id": int(events[0]["args"]["tokenId"])} if events else {}


def accept(services: Services, *, invitation: dict[str, Any], signature: str) -> tuple[relay.JobView, bool]:
    for key in ("invitee", "issuer"):
        if not is_checksum_address(invitation.get(key, "")):
            raise InvalidInput(f"invitation.{key} must be an EIP-55 checksummed address", field=f"invitation.{key}")
    if invitation.get("segment") not in set(Segment):
        raise InvalidInput("invitation.segment must be " + ", ".join(f"{s.value} ({s.word})" for s in Segment),
                           field="invitation.segment")
    nonce, expiry = int(invitation["nonce"]), int(invitation["expiry"])
    for name, value in (("nonce", nonce), ("expiry", expiry)):
        if not 0 <= value < 2**256:
            raise InvalidInput(f"invitation.{name} must be below 2^256 (a uint256)", field=f"invitation.{name}")
    try:
        sig = _canonical(services, invitation, bytes.fromhex(signature.removeprefix("0x")))
    except ValueError:
        raise InvalidInput("signature must be 0x-prefixed hex", field="signature") from None
    signature = "0x" + sig.hex()
    dedupe_key = f"claim:{services.chain_id}:{invitation['issuer']}:{nonce}"
    with services.session() as session:
        existing = session.scalar(select(RelayJob).where(RelayJob.dedupe_key == dedupe_key))
    if existing is not None:
        if existing.payload.get("signature") != signature:
            raise Conflict(f"invitation {nonce} of {invitation['issuer']} was already claimed with another signature")
        if existing.status == JobStatus.CONFIRMED.value and not chain_checks.call(services, services.contract(
                "MembershipCard").functions.invitationUsed(invitation["issuer"], nonce)):
            # Confirmed, yet the invitation is unused on chain: a reorg deeper than `confirmations` took the claim.
            with services.transaction() as session:
                reopened = relay.reopen(session, existing.id)
            if reopened:
                services.dispatch(existing.id)
        return relay.job_view(services, job_id=existing.id), False
    fields = (invitation["invitee"], invitation["segment"], invitation["issuer"], nonce, expiry)
    fn = services.contract("MembershipCard").functions.claim(fields, sig)
    chain_checks.would_succeed(services, fn, services.keys.relayer.address)
    with services.transaction() as session:
        job, created = relay.accept(
            session, payload=ClaimJob(invitation["invitee"], invitation["segment"], invitation["issuer"], nonce, expiry,
                                      signature),
            dedupe_key=dedupe_key, requested_by=invitation["invitee"], signer="relayer",
            sender=services.keys.relayer.address)
        view = relay.JobView.of(job)
    if created:
        services.dispatch(view.id)
    return view, created


def _canonical(services: Services, invitation: dict[str, Any], signature: bytes) -> bytes:
    """The issuer's signature as the chain accepts it. An issuer key's ECDSA signature with v 0/1 (some wallets
    sign so) is rewritten to v 27/28 when that is the issuer's signature of this invitation; anything else is left
    as it is, since an issuer may be a contract wallet (ERC-1271) whose signatures are its own format. The claim's
    dry run then refuses what the chain would refuse."""
    if len(signature) != 65 or signature[64] not in (0, 1):
        return signature
    try:
        candidate = eip712.canonical_signature(signature)
    except ValueError:
        return signature
    separator = services.fixed(("eip712-separator", "MembershipCard"), lambda: eip712.domain_separator(
        eip712.domain_of(services.contract("MembershipCard"))))
    try:
        signer = eip712.recover_signer(eip712.invitation_digest(separator, invitation), candidate)
    except ValueError:
        return signature
    return candidate if signer == invitation["issuer"] else signature
