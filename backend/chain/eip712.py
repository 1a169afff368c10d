"""EIP-712 messages members and issuers sign: invitations (claimed by a relayer), leave requests, ballots
(`castVoteBySig`) and a passkey account's devices (AddKey, RemoveKey).

The domain is read from the contract itself (ERC-5267 `eip712Domain()`), so a signature is always for the
deployed name, version, chain and address.
"""

from __future__ import annotations

from typing import Any

from coincurve import PublicKey
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
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

# A member's passkey account (contracts/PasskeyAccount.sol): another device's key added, or one removed.
ADD_KEY_TYPES = {"AddKey": [{"name": "x", "type": "bytes32"}, {"name": "y", "type": "bytes32"},
                            {"name": "nonce", "type": "uint256"}]}
REMOVE_KEY_TYPES = {"RemoveKey": [{"name": "x", "type": "bytes32"}, {"name": "y", "type": "bytes32"},
                                  {"name": "nonce", "type": "uint256"}]}

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


# ---------------------------------------------------------------------- checking ballots fast
#
# The API checks every ballot's signature. eth_account's general path (encode_typed_data, then recover_message)
# hashes the type strings, the domain and the checksums again for each message: about a dozen keccaks and a
# millisecond of CPU. A ballot's digest is two keccaks over fixed-width words once the domain separator is known
# (it is fixed at deployment), and recovery is one call into libsecp256k1. tests/test_eip712.py checks both against
# eth_account.

BALLOT_TYPEHASH = keccak(text="Ballot(uint256 proposalId,uint8 support,address voter,uint256 nonce)")
_INVITATION_TYPEHASH = keccak(text="Invitation(address invitee,uint8 segment,address issuer,uint256 nonce,uint256 expiry)")
_DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def domain_separator(domain: dict[str, Any]) -> bytes:
    """The EIP-712 domain separator of a domain as `domain_of` returns it."""
    return keccak(_DOMAIN_TYPEHASH + keccak(text=domain["name"]) + keccak(text=domain["version"])
                  + _word(domain["chainId"]) + _address_word(domain["verifyingContract"]))


def ballot_digest(separator: bytes, *, proposal_id: int, support: int, voter: str, nonce: int) -> bytes:
    """The digest a voter signs for OpenZeppelin's `castVoteBySig`. ValueError when a number does not fit its type."""
    if not 0 <= support < 256:
        raise ValueError("support must be a uint8")
    struct = keccak(BALLOT_TYPEHASH + _word(proposal_id) + _word(support) + _address_word(voter) + _word(nonce))
    return keccak(b"\x19\x01" + separator + struct)


def canonical_signature(signature: bytes) -> bytes:
    """The 65-byte r, s, v form OpenZeppelin's ECDSA accepts, with v 27/28: `ecrecover` refuses v 0/1, which some
    wallets (and one of EIP-4361's own test vectors) produce for the very same signature, so those are rewritten
    (safe: the same r and s, the same signer). ValueError for what no rewriting makes acceptable: another length
    (an EIP-2098 64-byte compact signature: OpenZeppelin 5 refuses it), v out of range, r or s out of range, or s in
    the upper half of the curve order (a malleable signature: OpenZeppelin refuses those too)."""
    if len(signature) == 64:
        raise ValueError("65 bytes r, s, v expected, not a 64-byte EIP-2098 compact signature")
    if len(signature) != 65:
        raise ValueError(f"65 bytes r, s, v expected, got {len(signature)}")
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if v in (0, 1):
        v += 27
    if v not in (27, 28) or not 0 < r < _SECP256K1_N or not 0 < s < _SECP256K1_N:
        raise ValueError("r, s or v out of range")
    if s > _SECP256K1_N // 2:
        raise ValueError("s is in the upper half of the curve order (a malleable signature)")
    return signature[:64] + bytes([v])


def recover_signer(digest: bytes, signature: bytes) -> str:
    """The checksummed address that signed `digest` with a signature `canonical_signature` accepts (ValueError
    otherwise): exactly the signatures the chain's ECDSA recovers, to the same address."""
    signature = canonical_signature(signature)
    public = PublicKey.from_signature_and_message(signature[:64] + bytes([signature[64] - 27]), digest, hasher=None)
    return to_checksum_address(keccak(public.format(compressed=False)[1:])[-20:])


def invitation_digest(separator: bytes, invitation: dict[str, Any]) -> bytes:
    """The digest an issuer signs for `MembershipCard.claim` (its `invitationDigest`)."""
    struct = keccak(_INVITATION_TYPEHASH + _address_word(invitation["invitee"]) + _word(int(invitation["segment"]))
                    + _address_word(invitation["issuer"]) + _word(int(invitation["nonce"]))
                    + _word(int(invitation["expiry"])))
    return keccak(b"\x19\x01" + separator + struct)


def _word(value: int) -> bytes:
    if not 0 <= value < 2**256:
        raise ValueError(f"{value} is not a uint256")
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"{address!r} is not an address")
    return bytes(12) + raw


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


def digest_of(full_message: dict[str, Any]) -> bytes:
    """The 32 bytes an EIP-712 signature signs: what a passkey's assertion takes as its challenge."""
    signable = encode_typed_data(full_message=full_message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


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
