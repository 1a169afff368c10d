"""A passkey in software: what a phone's authenticator does, for the tests, the gas report and the demo's members.

It makes a P-256 key, answers a registration (attestation "none", as most platform authenticators give it) and
assertions in the JSON form browsers hand to the page (`PublicKeyCredential.toJSON()`), so the server checks them
with the same code as a real device's. Never for real members: the key lives in this process.

The browser tests use chromium's own virtual authenticator (CDP WebAuthn) instead, so that the page's JavaScript
is exercised too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from backend.chain.webauthn import P256_N, PublicKey, account_signature

FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SoftwarePasskey:
    rp_id: str = "localhost"
    origin: str = "http://localhost:8000"
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = b""
    sign_count: int = 0
    backed_up: bool = False

    def __post_init__(self) -> None:
        if not self.credential_id:
            self.credential_id = hashlib.sha256(self.public_key.x + self.public_key.y).digest()[:16]

    @classmethod
    def from_label(cls, label: str, **kwargs) -> SoftwarePasskey:
        """The same key for the same label: the demo's members keep their passkeys across runs."""
        scalar = int.from_bytes(hashlib.sha256(f"kanazawa-dao software passkey: {label}".encode()).digest()) % (P256_N - 1) + 1
        return cls(private_key=ec.derive_private_key(scalar, ec.SECP256R1()), **kwargs)

    @property
    def public_key(self) -> PublicKey:
        numbers = self.private_key.public_key().public_numbers()
        return PublicKey(numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big"))

    def _auth_data(self, flags: int, rp_id: str | None, extra: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        if self.backed_up:
            flags |= FLAG_BE | FLAG_BS
        return rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + extra

    def _client_data(self, kind: str, challenge: bytes, origin: str | None) -> bytes:
        # The key order browsers use; the account finds "challenge" and "type" wherever they are.
        return json.dumps({"type": kind, "challenge": b64url(challenge), "origin": origin or self.origin,
                           "crossOrigin": False}, separators=(",", ":")).encode()

    def registration(self, challenge: bytes, *, origin: str | None = None, rp_id: str | None = None,
                     user_verified: bool = True) -> dict:
        """`navigator.credentials.create()`'s answer, as JSON."""
        key = self.public_key
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: key.x, -3: key.y})
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + cose
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if user_verified else 0)
        auth_data = self._auth_data(flags, rp_id, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", challenge, origin)
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                             "transports": ["internal"]},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}

    def assertion(self, challenge: bytes, *, origin: str | None = None, rp_id: str | None = None,
                  user_verified: bool = True, high_s: bool | None = None, count: bool = True) -> dict:
        """`navigator.credentials.get()`'s answer over `challenge`, as JSON. `high_s` forces the signature's s into
        the upper half (as many real authenticators return it) or the lower one."""
        if count:
            self.sign_count += 1
        auth_data = self._auth_data(FLAG_UP | (FLAG_UV if user_verified else 0), rp_id)
        client_data = self._client_data("webauthn.get", challenge, origin)
        # Deterministic (RFC 6979): the same assertion for the same challenge, so the gas report is reproducible.
        der = self.private_key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                    ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        if high_s is not None:
            r, s = decode_dss_signature(der)
            if (s > P256_N // 2) != high_s:
                der = encode_dss_signature(r, P256_N - s)
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                             "signature": b64url(der), "userHandle": None},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}


def sign_digest(passkey: SoftwarePasskey, digest: bytes, **assertion_options) -> bytes:
    """What a PasskeyAccount accepts as the passkey's signature of `digest` (ERC-1271)."""
    auth_data, client_data, der = assertion_parts(passkey.assertion(digest, **assertion_options))
    return account_signature(passkey.public_key, authenticator_data=auth_data, client_data_json=client_data,
                             der_signature=der)


def assertion_parts(assertion: dict) -> tuple[bytes, bytes, bytes]:
    """(authenticator data, client data JSON, DER signature) of an assertion in its JSON form."""
    response = assertion["response"]
    return tuple(base64.urlsafe_b64decode(response[k] + "=" * (-len(response[k]) % 4))
                 for k in ("authenticatorData", "clientDataJSON", "signature"))
