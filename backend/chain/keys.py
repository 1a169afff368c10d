"""The service's signing keys (README "Who signs what").

- relayer: pays gas for members' claims and ballots and submits proposals; holds no role.
- city: the city's operator key, holding DEFAULT_ADMIN_ROLE (registers organisations, publishes outcomes).
- one issuer key per organisation, derived from `organisation_key_secret` and the organisation's id, granted
  ISSUER_ROLE by the city: the service signs invitations, creates badge types and mints for the organisation,
  whose staff instruct it by signing in with their own wallet. Members and organisations never need ETH.

Unset keys fall back to the public devnet keys, which are refused on any chain but the devnet's (31337).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from pydantic import SecretStr

from backend.chain.accounts import dev_account
from backend.errors import KanazawaDaoError

DEVNET_CHAIN_ID = 31337
_DEV_ORGANISATION_SECRET = "kanazawa-dao devnet organisation keys (public, devnet only)"
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class KeyConfigurationError(KanazawaDaoError):
    """A service key is missing or unusable for this chain."""


@dataclass(frozen=True)
class ServiceKeys:
    relayer: LocalAccount
    city: LocalAccount
    organisation_secret: bytes

    @classmethod
    def from_settings(cls, chain_id: int, *, relayer_key: SecretStr | None, city_key: SecretStr | None,
                      organisation_key_secret: SecretStr | None) -> ServiceKeys:
        missing = [name for name, v in (("KANAZAWA_DAO_RELAYER_KEY", relayer_key), ("KANAZAWA_DAO_CITY_KEY", city_key),
                                        ("KANAZAWA_DAO_ORGANISATION_KEY_SECRET", organisation_key_secret)) if v is None]
        if missing and chain_id != DEVNET_CHAIN_ID:
            raise KeyConfigurationError(
                f"chain {chain_id} is not the devnet: set {', '.join(missing)} (the public devnet keys are only "
                f"accepted on chain {DEVNET_CHAIN_ID})")
        try:
            relayer = Account.from_key(relayer_key.get_secret_value()) if relayer_key else dev_account(1)
            city = Account.from_key(city_key.get_secret_value()) if city_key else dev_account(0)
        except ValueError as exc:
            raise KeyConfigurationError(f"a service key is not a valid secp256k1 private key: {exc}") from None
        secret = (organisation_key_secret.get_secret_value() if organisation_key_secret else _DEV_ORGANISATION_SECRET)
        return cls(relayer=relayer, city=city, organisation_secret=secret.encode())

    def organisation(self, organisation_id: int) -> LocalAccount:
        """The issuer key of an organisation: keccak(secret, id), stable across restarts, never stored."""
        counter = 0
        while True:
            key = int.from_bytes(keccak(self.organisation_secret + f":organisation:{organisation_id}:{counter}".encode()))
            if 0 < key < _SECP256K1_N:
                return Account.from_key(key.to_bytes(32, "big"))
            counter += 1  # pragma: no cover - probability 2^-128
