"""Passkey signatures as the chain reads them: a WebAuthn assertion turned into the signature a `PasskeyAccount`
answers ERC-1271 for (contracts/PasskeyAccount.sol), and a passkey's public key as the two coordinates the account
stores.

The account checks the assertion's type, its challenge (the digest, base64url), the user-present and
user-verified flags and the P-256 signature. It cannot see the origin, the relying-party id or the signature
counter: `backend/services/passkeys.py` checks those before anything is relayed.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from eth_abi import encode

#: The order of the P-256 group: OpenZeppelin's P256.verify refuses s > N/2 (malleability), and authenticators
#: return either half, so s is normalised to the low half before relaying.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_AUTH_TYPES = ["bytes32", "bytes32", "uint256", "uint256", "bytes", "string"]


class NotAPasskeySignature(ValueError):
    """The assertion cannot be a passkey account's signature (malformed signature or client data)."""


@dataclass(frozen=True)
class PublicKey:
    """A passkey's P-256 public key: the account's signer."""

    x: bytes
    y: bytes

    @classmethod
    def from_cose(cls, cose: dict) -> PublicKey:
        """From a COSE_Key (RFC 9053: kty 2 EC2, alg -7 ES256, crv 1 P-256, -2 x, -3 y), as a registration gives it."""
        if cose.get(1) != 2 or cose.get(3) != -7 or cose.get(-1) != 1:
            raise NotAPasskeySignature("the passkey is not an ES256 (P-256) key")
        x, y = cose.get(-2), cose.get(-3)
        if not (isinstance(x, bytes) and isinstance(y, bytes) and len(x) == len(y) == 32):
            raise NotAPasskeySignature("the passkey's coordinates are not 32 bytes each")
        return cls(x, y)


def low_s(r: int, s: int) -> tuple[int, int]:
    return (r, P256_N - s) if s > P256_N // 2 else (r, s)


def account_signature(key: PublicKey, *, authenticator_data: bytes, client_data_json: bytes,
                      der_signature: bytes) -> bytes:
    """The signature a PasskeyAccount checks: the key, then OpenZeppelin's WebAuthnAuth fields abi-encoded (r, s
    with s in the low half, where `"challenge":"` and `"type":"` start in the client data, the authenticator data,
    the client data)."""
    try:
        r, s = low_s(*decode_dss_signature(der_signature))
    except ValueError:
        raise NotAPasskeySignature("the assertion's signature is not a DER-encoded ECDSA signature") from None
    if not (0 < r < P256_N and 0 < s < P256_N):
        raise NotAPasskeySignature("the assertion's signature is out of range")
    challenge_index = client_data_json.find(b'"challenge":"')
    type_index = client_data_json.find(b'"type":"webauthn.get"')
    if challenge_index < 0 or type_index < 0:
        raise NotAPasskeySignature("the client data has no challenge or is not an assertion (webauthn.get)")
    try:
        text = client_data_json.decode("utf-8")
    except UnicodeDecodeError:
        raise NotAPasskeySignature("the client data is not UTF-8") from None
    auth = encode(_AUTH_TYPES, [r.to_bytes(32, "big"), s.to_bytes(32, "big"), challenge_index, type_index,
                                authenticator_data, text])
    return key.x + key.y + auth
