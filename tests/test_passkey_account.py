"""PasskeyAccount and its factory on a real anvil: a member's account whose signers are passkeys (WebAuthn P-256),
created and given its card in one relayed transaction, voting, leaving and adding a device by signature; and every
way a signature must fail (another key, another digest, tampered client data, no user verification, a high s)."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from eth_abi import encode

from backend.chain import eip712
from backend.chain.reverts import ContractRevert
from backend.chain.webauthn import P256_N, PublicKey, account_signature
from backend.toolchain.software_passkey import SoftwarePasskey, assertion_parts, sign_digest
from backend.domain.vocabulary import BadgeKind
from tests.dao import AGAINST, FOR, RELATIONSHIP_POPULATION, RESIDENT

ERC1271_MAGIC = bytes.fromhex("1626ba7e")
INVALID = bytes.fromhex("ffffffff")


def refused(error: str):
    return pytest.raises(ContractRevert, match=rf"^{error}\(")


def _account(dao, address: str):
    from backend.chain.artifacts import load_artifacts

    return load_artifacts()["PasskeyAccount"].at(dao.w3, address)


def _valid(dao, account: str, digest: bytes, signature: bytes) -> bool:
    answer = _account(dao, account).functions.isValidSignature(digest, signature).call()
    assert answer in (ERC1271_MAGIC, INVALID)
    return answer == ERC1271_MAGIC


def test_one_transaction_creates_the_account_and_claims_its_card(dao):
    passkey = SoftwarePasskey()
    predicted = dao.passkey_account(passkey)
    assert dao.w3.eth.get_code(predicted) == b""
    _, account, receipt = dao.join_with_passkey(RESIDENT, passkey)
    assert account == predicted and receipt["from"] == dao.relayer.address
    (created,) = dao.accounts.events.AccountCreated().process_receipt(receipt)
    assert created.args.account == account and created.args.x == passkey.public_key.x
    (issued,) = dao.card.events.CardIssued().process_receipt(receipt)
    assert issued.args.member == account and issued.args.segment == RESIDENT
    assert dao.card.functions.getVotes(account).call() == 1
    wallet = _account(dao, account)
    assert wallet.functions.isKey(passkey.public_key.x, passkey.public_key.y).call()
    assert wallet.functions.keyCount().call() == 1
    # Nobody can give the account (or the implementation) another first key.
    with refused("InvalidInitialization"):
        dao.client.transact(wallet.functions.initialize(SoftwarePasskey().public_key.x, passkey.public_key.y),
                            dao.relayer)
    implementation = _account(dao, dao.accounts.functions.implementation().call())
    other = SoftwarePasskey().public_key
    with refused("InvalidInitialization"):
        dao.client.transact(implementation.functions.initialize(other.x, other.y), dao.relayer)


def test_the_invitation_must_name_the_account_and_nothing_is_half_done(dao):
    passkey = SoftwarePasskey()
    key = passkey.public_key
    stranger = SoftwarePasskey()
    invitation, signature = dao.invitation(dao.passkey_account(stranger), RESIDENT, nonce=7)
    fields = tuple(invitation[k] for k in ("invitee", "segment", "issuer", "nonce", "expiry"))
    with refused("PasskeyAccountFactoryWrongInvitee"):
        dao.client.transact(dao.accounts.functions.createAccountAndClaim(key.x, key.y, fields, signature),
                            dao.relayer)
    assert dao.w3.eth.get_code(dao.passkey_account(passkey)) == b""  # no account without its card
    # A used invitation: the second account is not created either.
    dao.join_with_passkey(RESIDENT, SoftwarePasskey(), nonce=8)
    again = SoftwarePasskey()
    invitation, signature = dao.invitation(dao.passkey_account(again), RESIDENT, nonce=8)
    fields = tuple(invitation[k] for k in ("invitee", "segment", "issuer", "nonce", "expiry"))
    with refused("MembershipCardInvitationUsed"):
        dao.client.transact(dao.accounts.functions.createAccountAndClaim(again.public_key.x, again.public_key.y,
                                                                          fields, signature), dao.relayer)
    assert dao.w3.eth.get_code(dao.passkey_account(again)) == b""


def test_an_account_created_by_someone_else_first_is_the_same_account(dao):
    """Racing the relayer to create the account only creates the very same account with the same key."""
    passkey = SoftwarePasskey()
    key = passkey.public_key
    dao.client.transact(dao.accounts.functions.createAccount(key.x, key.y), dao.issuer)
    _, account, receipt = dao.join_with_passkey(RELATIONSHIP_POPULATION, passkey)
    assert dao.accounts.events.AccountCreated().process_receipt(receipt) == ()
    assert dao.card.functions.getVotes(account).call() == 1


def test_isValidSignature_accepts_only_its_keys_over_the_digest(dao):
    passkey, account, _ = dao.join_with_passkey(RESIDENT)
    digest = bytes(range(32))
    assert _valid(dao, account, digest, sign_digest(passkey, digest))
    assert not _valid(dao, account, bytes(32), sign_digest(passkey, digest))  # another digest
    assert not _valid(dao, account, digest, sign_digest(SoftwarePasskey(), digest))  # a key not on the account
    # The right key's coordinates in front of another key's assertion.
    forged = passkey.public_key.x + passkey.public_key.y + sign_digest(SoftwarePasskey(), digest)[64:]
    assert not _valid(dao, account, digest, forged)
    assert not _valid(dao, account, digest, sign_digest(passkey, digest, user_verified=False))  # no UV
    assert not _valid(dao, account, digest, b"")
    assert not _valid(dao, account, digest, passkey.public_key.x + passkey.public_key.y + b"\x00" * 40)

    auth_data, client_data, der = assertion_parts(passkey.assertion(digest))
    tampered = client_data.replace(b'"origin":"', b'"origin":"x')  # the signature no longer matches
    assert not _valid(dao, account, digest, account_signature(passkey.public_key, authenticator_data=auth_data,
                                                              client_data_json=tampered, der_signature=der))
    # A registration's client data (webauthn.create) is not an assertion.
    created = client_data.replace(b"webauthn.get", b"webauthn.create")
    assert not _valid(dao, account, digest, _raw(passkey.public_key, auth_data, created, der))


def _raw(key: PublicKey, auth_data: bytes, client_data: bytes, der: bytes, *, keep_high_s: bool = False) -> bytes:
    """The account signature without the service's normalisation (s as the authenticator gave it) and wherever
    the fields are, for what the service itself would never send."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    if not keep_high_s and s > P256_N // 2:
        s = P256_N - s
    challenge = max(client_data.find(b'"challenge":"'), 0)
    kind = max(client_data.find(b'"type":"'), 0)
    return key.x + key.y + encode(["bytes32", "bytes32", "uint256", "uint256", "bytes", "string"],
                                  [r.to_bytes(32, "big"), s.to_bytes(32, "big"), challenge, kind, auth_data,
                                   client_data.decode()])


def test_a_high_s_is_refused_on_chain_and_normalised_by_the_service(dao):
    passkey, account, _ = dao.join_with_passkey(RESIDENT)
    digest = bytes([7]) * 32
    auth_data, client_data, der = assertion_parts(passkey.assertion(digest, high_s=True))
    assert not _valid(dao, account, digest, _raw(passkey.public_key, auth_data, client_data, der, keep_high_s=True))
    normalised = account_signature(passkey.public_key, authenticator_data=auth_data, client_data_json=client_data,
                                   der_signature=der)
    assert _valid(dao, account, digest, normalised)


def test_a_challenge_anywhere_in_the_client_data_but_not_another_one(dao):
    """Browsers put the keys in any order: the account finds them by index; a second, different challenge after
    the real one does not help a forger."""
    passkey, account, _ = dao.join_with_passkey(RESIDENT)
    digest = bytes([9]) * 32
    auth_data, client_data, _ = assertion_parts(passkey.assertion(digest))
    reordered = json.dumps(dict(reversed(list(json.loads(client_data).items()))), separators=(",", ":")).encode()
    signed = passkey.private_key.sign(auth_data + hashlib.sha256(reordered).digest(), ec.ECDSA(hashes.SHA256()))
    assert _valid(dao, account, digest, account_signature(passkey.public_key, authenticator_data=auth_data,
                                                          client_data_json=reordered, der_signature=signed))
    assert not _valid(dao, account, bytes(32), account_signature(passkey.public_key, authenticator_data=auth_data,
                                                                 client_data_json=reordered, der_signature=signed))


def test_a_passkey_member_votes_by_signature_and_the_governor_counts_the_account(dao):
    passkey, account, _ = dao.join_with_passkey(RESIDENT)
    other = dao.issue(RESIDENT)
    proposal = dao.propose("passkey ballots")
    dao.start_voting(proposal)
    receipt = dao.vote_by_passkey(proposal, passkey, account, FOR)
    (cast,) = dao.governor.events.VoteCast().process_receipt(receipt)
    assert cast.args.voter == account and cast.args.support == FOR
    dao.vote_by_sig(proposal, other, AGAINST)
    assert dao.tallies(proposal)[RESIDENT] == (1, 1, 0)
    with pytest.raises(ContractRevert):  # a second ballot: the nonce moved, and the account has voted
        dao.vote_by_passkey(proposal, passkey, account, AGAINST)


def test_leaving_by_a_passkey_signature(dao):
    passkey, account, _ = dao.join_with_passkey(RESIDENT)
    expiry = dao.now() + 600
    message = {"member": account, "nonce": dao.card.functions.nonces(account).call(), "expiry": expiry}
    digest = eip712.digest_of(eip712.typed_data(eip712.domain_of(dao.card), eip712.LEAVE_TYPES, message))
    impostor = sign_digest(SoftwarePasskey(), digest)
    with refused("MembershipCardInvalidLeaveSignature"):
        dao.client.transact(dao.card.functions.leaveBySig(account, message["nonce"], expiry, impostor), dao.relayer)
    receipt = dao.client.transact(dao.card.functions.leaveBySig(account, message["nonce"], expiry,
                                                                sign_digest(passkey, digest)), dao.relayer)
    assert dao.card.events.CardLeft().process_receipt(receipt)[0].args.member == account
    assert dao.card.functions.getVotes(account).call() == 0


def _device_signature(dao, account: str, types: dict, key: PublicKey, signer: SoftwarePasskey) -> bytes:
    wallet = _account(dao, account)
    message = {"x": key.x, "y": key.y, "nonce": wallet.functions.nonces(account).call()}
    return sign_digest(signer, eip712.digest_of(eip712.typed_data(eip712.domain_of(wallet), types, message)))


def test_a_second_device_signed_for_by_the_first_then_the_first_removed(dao):
    phone, account, _ = dao.join_with_passkey(RESIDENT)
    wallet = _account(dao, account)
    laptop = SoftwarePasskey()
    new = laptop.public_key
    # Signed by a key that is not on the account: refused.
    with refused("PasskeyAccountInvalidSignature"):
        dao.client.transact(wallet.functions.addKey(new.x, new.y, _device_signature(
            dao, account, eip712.ADD_KEY_TYPES, new, laptop)), dao.relayer)
    signature = _device_signature(dao, account, eip712.ADD_KEY_TYPES, new, phone)
    dao.client.transact(wallet.functions.addKey(new.x, new.y, signature), dao.relayer)
    assert wallet.functions.isKey(new.x, new.y).call() and wallet.functions.keyCount().call() == 2
    with refused("PasskeyAccountInvalidSignature"):  # the same signature again: its nonce is used
        dao.client.transact(wallet.functions.addKey(new.x, new.y, signature), dao.relayer)
    digest = bytes([3]) * 32
    assert _valid(dao, account, digest, sign_digest(laptop, digest))
    # The phone is lost: the laptop removes it; the last key stays.
    old = phone.public_key
    dao.client.transact(wallet.functions.removeKey(old.x, old.y, _device_signature(
        dao, account, eip712.REMOVE_KEY_TYPES, old, laptop)), dao.relayer)
    assert not _valid(dao, account, digest, sign_digest(phone, digest))
    with refused("PasskeyAccountLastKey"):
        dao.client.transact(wallet.functions.removeKey(new.x, new.y, _device_signature(
            dao, account, eip712.REMOVE_KEY_TYPES, new, laptop)), dao.relayer)
    # An invalid point is not a key.
    with refused("PasskeyAccountInvalidKey"):
        dao.client.transact(wallet.functions.addKey(bytes(32), bytes(32), _device_signature(
            dao, account, eip712.ADD_KEY_TYPES, PublicKey(bytes(32), bytes(32)), laptop)), dao.relayer)


def test_an_account_receives_soulbound_badges(dao):
    _, account, _ = dao.join_with_passkey(RESIDENT)
    receipt = dao.client.transact(dao.badges.functions.createBadgeType("ipfs://bafkreibadge", 0, True,
                                                                      BadgeKind.ATTENDANCE),
                                  dao.issuer)
    (created,) = dao.badges.events.BadgeTypeCreated().process_receipt(receipt)
    badge = created.args.badgeTypeId
    dao.client.transact(dao.badges.functions.mint(badge, [account]), dao.issuer)
    assert dao.badges.functions.balanceOf(account, badge).call() == 1
