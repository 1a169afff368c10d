"""Relayed membership claims: the invitee (or anyone for them) posts an invitation signed by an organisation's
issuer key; the API runs the claim against the chain first (expired, used, forged, not an issuer, already a member
are refused now, with the contract's error), then accepts it as a relay job. Same invitation twice = same job."""

from __future__ import annotations

from typing import Any

from eth_utils import is_checksum_address
from sqlalchemy import select

from backend.models.relay import RelayJob
from backend.services import chain_checks, relay
from backend.services.context import Services
from backend.services.errors import Conflict, InvalidInput


def accept(services: Services, invitation: dict[str, Any], signature: str) -> tuple[relay.JobView, bool]:
    for key in ("invitee", "issuer"):
        if not is_checksum_address(invitation.get(key, "")):
            raise InvalidInput(f"invitation.{key} must be an EIP-55 checksummed address")
    if invitation.get("segment") not in (1, 2, 3):
        raise InvalidInput("invitation.segment must be 1 (resident), 2 (relationship population) or 3 (organisation)")
    nonce, expiry = int(invitation["nonce"]), int(invitation["expiry"])
    dedupe_key = f"claim:{services.chain_id}:{invitation['issuer']}:{nonce}"
    with services.session() as session:
        existing = session.scalar(select(RelayJob).where(RelayJob.dedupe_key == dedupe_key))
        if existing is not None:
            if existing.payload.get("signature") == signature.lower():
                return relay.JobView.of(existing), False
            raise Conflict(f"invitation {nonce} of {invitation['issuer']} was already claimed with another signature")
    fields = (invitation["invitee"], invitation["segment"], invitation["issuer"], nonce, expiry)
    try:
        sig = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise InvalidInput("signature must be 0x-prefixed hex") from None
    fn = services.contract("MembershipCard").functions.claim(fields, sig)
    chain_checks.would_succeed(services, fn, services.keys.relayer.address)
    with services.transaction() as session:
        job, created = relay.accept(
            session, kind="claim", dedupe_key=dedupe_key, requested_by=invitation["invitee"], signer="relayer",
            sender=services.keys.relayer.address,
            payload={"invitation": {**invitation, "nonce": str(nonce), "expiry": str(expiry)},
                     "signature": signature.lower()})
        view = relay.JobView.of(job)
    if created:
        services.dispatch(view.id)
    return view, created
