"""backend/chain/eip712.py's fast ballot check (what the API runs for every ballot) against eth_account's general
EIP-712 path, and against the governor itself: the same digest, the same signer, and the signatures OpenZeppelin
refuses refused here too."""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.chain import eip712
from backend.chain.reverts import ContractRevert
from tests.dao import FOR, RESIDENT

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
DOMAIN = {"name": "CityGovernor", "version": "1", "chainId": 31337,
          "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
ACCOUNTS = [Account.from_key(random.Random(i).randbytes(32)) for i in range(8)]


def _general(domain: dict, **message) -> tuple[bytes, dict]:
    full = eip712.typed_data(domain, eip712.BALLOT_TYPES, eip712.ballot_message(**message))
    return _hash_eip191_message(encode_typed_data(full_message=full)), full


@settings(max_examples=60, deadline=None)
@given(proposal_id=st.integers(0, 2**256 - 1), support=st.integers(0, 2), nonce=st.integers(0, 2**256 - 1),
       account=st.sampled_from(ACCOUNTS), chain_id=st.integers(1, 2**64))
def test_digest_and_signer_equal_eth_accounts(proposal_id, support, nonce, account, chain_id):
    domain = {**DOMAIN, "chainId": chain_id}
    expected, full = _general(domain, proposal_id=proposal_id, support=support, voter=account.address, nonce=nonce)
    digest = eip712.ballot_digest(eip712.domain_separator(domain), proposal_id=proposal_id, support=support,
                                  voter=account.address, nonce=nonce)
    assert digest == expected
    signature = bytes(account.sign_message(encode_typed_data(full_message=full)).signature)
    assert eip712.recover_signer(digest, signature) == account.address
    assert eip712.recover_signer(digest, signature[:64] + bytes([signature[64] - 27])) == account.address  # v 0/1


def test_refused_like_the_governor_refuses(dao):
    """On the real governor: the digest is the one `castVoteBySig` checks (a vote signed over it counts), and the
    malleable twin of a valid signature, which the governor refuses, is refused here as well."""
    voter = dao.issue(RESIDENT)
    proposal = dao.propose("fast ballot check")
    dao.start_voting(proposal)
    gov = dao.governor
    nonce = gov.functions.nonces(voter.address).call()
    digest = eip712.ballot_digest(eip712.domain_separator(eip712.domain_of(gov)), proposal_id=proposal.proposal_id,
                                  support=FOR, voter=voter.address, nonce=nonce)
    signature = bytes(voter.unsafe_sign_hash(digest).signature)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    twin = r + (N - s).to_bytes(32, "big") + bytes([55 - v])  # the same key's other valid ECDSA signature
    with pytest.raises(ValueError, match="upper half"):
        eip712.recover_signer(digest, twin)
    with pytest.raises(ContractRevert, match=r"^GovernorInvalidSignature\("):
        dao.client.transact(gov.functions.castVoteBySig(proposal.proposal_id, FOR, voter.address, twin), dao.relayer)
    assert eip712.recover_signer(digest, signature) == voter.address
    dao.client.transact(gov.functions.castVoteBySig(proposal.proposal_id, FOR, voter.address, signature), dao.relayer)
    assert gov.functions.hasVoted(proposal.proposal_id, voter.address).call()


@pytest.mark.parametrize("signature, why", [
    (b"\x01" * 64, "65 bytes"),
    (b"\x01" * 66, "65 bytes"),
    (b"\x01" * 64 + b"\x1d", "out of range"),  # v 29
    (bytes(32) + b"\x01" * 32 + b"\x1b", "out of range"),  # r 0
    (b"\x01" * 32 + N.to_bytes(32, "big") + b"\x1b", "out of range"),  # s = N
])
def test_malformed_signatures(signature, why):
    with pytest.raises(ValueError, match=why):
        eip712.recover_signer(b"\x00" * 32, signature)


@pytest.mark.parametrize("field, value", [("proposal_id", 2**256), ("nonce", -1), ("support", 256)])
def test_numbers_that_do_not_fit(field, value):
    message = {"proposal_id": 1, "support": 1, "voter": ACCOUNTS[0].address, "nonce": 0, field: value}
    with pytest.raises(ValueError):
        eip712.ballot_digest(eip712.domain_separator(DOMAIN), **message)
