"""EIP-712 messages members and issuers sign: invitations (claimed by a relayer), leave requests and ballots
(`castVoteBySig`).

The domain is read from the contract itself (ERC-5267 `eip712Domain()`), so a signature is always for the
deployed name, version, chain and address.
"""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

INVITATION_TYPES = {
    "Invitation": [
        {"name": "invitee", "type": "address"},
        {"name": "segment", "type": "uint8"},
        {"name": "issuer", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ]
}

LEAVE_TYPES = {
    "Leave": [
        {"name": "member", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ]
}

# OpenZeppelin Governor 5.x BALLOT_TYPEHASH.
BALLOT_TYPES = {
    "Ballot": [
        {"name": "proposalId", "type": "uint256"},
        {"name": "support", "type": "uint8"},
        {"name": "voter", "type": "address"},
        {"name": "nonce", "type": "uint256"},
    ]
}

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def domain_of(contract: Contract) -> dict[str, Any]:
    _fields, name, version, chain_id, verifying_contract, _salt, _ext = contract.functions.eip712Domain().call()
    return {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying_contract}


def typed_data(domain: dict[str, Any], types: dict[str, list], message: dict[str, Any]) -> dict[str, Any]:
    primary = next(iter(types))
    return {"types": {"EIP712Domain": _DOMAIN_TYPE, **types}, "primaryType": primary, "domain": domain, "message": message}


def invitation_message(*, invitee: str, segment: int, issuer: str, nonce: int, expiry: int) -> dict[str, Any]:
    return {"invitee": invitee, "segment": segment, "issuer": issuer, "nonce": nonce, "expiry": expiry}


def ballot_message(*, proposal_id: int, support: int, voter: str, nonce: int) -> dict[str, Any]:
    return {"proposalId": proposal_id, "support": support, "voter": voter, "nonce": nonce}


def sign(account: LocalAccount, full_message: dict[str, Any]) -> bytes:
    return bytes(account.sign_message(encode_typed_data(full_message=full_message)).signature)


def sign_invitation(card: Contract, issuer: LocalAccount, **message: Any) -> tuple[dict[str, Any], bytes]:
    msg = invitation_message(issuer=issuer.address, **message)
    return msg, sign(issuer, typed_data(domain_of(card), INVITATION_TYPES, msg))


def sign_leave(card: Contract, member: LocalAccount, *, expiry: int) -> tuple[dict[str, Any], bytes]:
    msg = {"member": member.address, "nonce": card.functions.nonces(member.address).call(), "expiry": expiry}
    return msg, sign(member, typed_data(domain_of(card), LEAVE_TYPES, msg))


def sign_ballot(governor: Contract, voter: LocalAccount, *, proposal_id: int, support: int) -> tuple[dict[str, Any], bytes]:
    nonce = governor.functions.nonces(voter.address).call()
    msg = ballot_message(proposal_id=proposal_id, support=support, voter=voter.address, nonce=nonce)
    return msg, sign(voter, typed_data(domain_of(governor), BALLOT_TYPES, msg))
