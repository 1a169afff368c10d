"""The contracts against the standards' own words (ERC-5805 delegation, ERC-1155 safe transfer rules), as an outside
front end or a contract account meets them. Each test quotes the sentence it checks."""

from __future__ import annotations

import functools

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from backend.chain.reverts import ContractRevert
from backend.paths import REPO_ROOT
from backend.toolchain.compile import build_artifacts
from tests.dao import RESIDENT

PROBES_DIR = REPO_ROOT / "tests" / "contracts"
ACCEPT, WRONG_VALUE, REVERT = 0, 1, 2
ATTENDANCE, PERK = 0, 2


@functools.lru_cache(maxsize=1)
def probes():
    return build_artifacts(PROBES_DIR, PROBES_DIR / "build")


def refused(error: str):
    return pytest.raises(ContractRevert, match=rf"^{error}\(")


# ---------------------------------------------------------------------- ERC-5805: delegate


def test_delegate_to_oneself_succeeds_and_emits_delegate_changed(dao):
    """ERC-5805 `delegate`: "This function changes the caller's delegate, updating the vote delegation in the
    meantime. MUST emit a DelegateChanged event." Off-the-shelf governance front ends ask every holder to call
    `delegate(self)`; for a card, whose vote always stays with its holder, it must succeed as a no-op."""
    holder = dao.issue(RESIDENT)
    dao.fund(holder)
    before = dao.card.functions.getVotes(holder.address).call()
    receipt = dao.client.transact(dao.card.functions.delegate(holder.address), holder)
    (event,) = dao.card.events.DelegateChanged().process_receipt(receipt)
    assert (event.args.delegator, event.args.fromDelegate, event.args.toDelegate) == (holder.address,) * 3
    assert dao.card.functions.delegates(holder.address).call() == holder.address
    assert dao.card.functions.getVotes(holder.address).call() == before == 1
    # Twice is as harmless as once.
    dao.client.transact(dao.card.functions.delegate(holder.address), holder)
    assert dao.card.functions.getVotes(holder.address).call() == 1


def test_delegate_to_anyone_else_is_refused(dao):
    """One person, one vote: moving a card's vote to someone else stays refused, with the contract's own error."""
    holder, other = dao.issue(RESIDENT), dao.issue(RESIDENT)
    dao.fund(holder)
    with refused("MembershipCardDelegationDisabled"):
        dao.client.transact(dao.card.functions.delegate(other.address), holder)
    assert dao.card.functions.getVotes(other.address).call() == 1


def test_delegate_by_signature_to_oneself(dao):
    """ERC-5805 `delegateBySig`: "This function has the same behavior as `delegate`", authorised by an EIP-712
    `Delegation(address delegatee,uint256 nonce,uint256 expiry)` signature; it spends the signer's nonce."""
    holder = dao.issue(RESIDENT)
    _fields, name, version, chain_id, contract, _salt, _ext = dao.card.functions.eip712Domain().call()
    nonce, expiry = dao.card.functions.nonces(holder.address).call(), dao.now() + 600
    typed = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                        {"name": "chainId", "type": "uint256"},
                                        {"name": "verifyingContract", "type": "address"}],
                       "Delegation": [{"name": "delegatee", "type": "address"}, {"name": "nonce", "type": "uint256"},
                                      {"name": "expiry", "type": "uint256"}]},
             "primaryType": "Delegation",
             "domain": {"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract},
             "message": {"delegatee": holder.address, "nonce": nonce, "expiry": expiry}}
    signed = holder.sign_message(encode_typed_data(full_message=typed))
    fn = dao.card.functions.delegateBySig(holder.address, nonce, expiry, signed.v, signed.r.to_bytes(32, "big"),
                                          signed.s.to_bytes(32, "big"))
    receipt = dao.client.transact(fn, dao.relayer)
    (event,) = dao.card.events.DelegateChanged().process_receipt(receipt)
    assert event.args.toDelegate == holder.address
    assert dao.card.functions.nonces(holder.address).call() == nonce + 1


# ---------------------------------------------------------------------- ERC-1155: safe transfer rules on mints


def _probe(dao, mode: int):
    dao.client.add_abis([a.abi for a in probes().values()])  # so that the probe's own error is decoded by name
    probe, _ = probes()["ERC1155ReceiverProbe"].deploy(dao.client, dao.city, mode)
    return probe


def _member_contract(dao, contract):
    """A contract account holding a card (a member's passkey account will be one)."""
    dao.client.transact(dao.card.functions.issue(contract.address, RESIDENT), dao.issuer)
    return contract


def _badge_type(dao, *, soulbound: bool) -> int:
    receipt = dao.client.transact(dao.badges.functions.createBadgeType(
        "ipfs://bafkreiconformance", 0, soulbound, ATTENDANCE if soulbound else PERK), dao.issuer)
    return dao.badges.events.BadgeTypeCreated().process_receipt(receipt)[0].args.badgeTypeId


@pytest.mark.parametrize("soulbound", [True, False], ids=["soulbound", "transferable"])
def test_a_receiver_contract_is_called_and_accepts(dao, soulbound):
    """ERC-1155: "If the destination is a contract that implements ERC1155TokenReceiver, onERC1155Received MUST be
    called" — and the balance is updated before it ("balances and events MUST reflect the transfer before the
    hook")."""
    probe = _member_contract(dao, _probe(dao, ACCEPT))
    badge = _badge_type(dao, soulbound=soulbound)
    receipt = dao.client.transact(dao.badges.functions.mint(badge, [probe.address]), dao.issuer)
    assert probe.functions.received().call() == 1
    assert dao.badges.functions.balanceOf(probe.address, badge).call() == 1
    (event,) = dao.badges.events.TransferSingle().process_receipt(receipt)
    assert (event.args.to, event.args.id, event.args.value) == (probe.address, badge, 1)


@pytest.mark.parametrize("soulbound", [True, False], ids=["soulbound", "transferable"])
@pytest.mark.parametrize("mode, error", [(WRONG_VALUE, "ERC1155InvalidReceiver"),
                                         (REVERT, "ERC1155ReceiverProbeRefused")], ids=["wrong-value", "reverts"])
def test_a_receiver_that_does_not_accept_refuses_the_mint(dao, soulbound, mode, error):
    """ERC-1155: "If the return value is not `bytes4(keccak256("onERC1155Received(address,address,uint256,uint256,
    bytes)"))` the transfer MUST be reverted" and "If the destination ... rejects the transfer the transfer MUST be
    reverted". A badge airdrop is all or nothing: the ordinary member beside it gets nothing either."""
    probe = _member_contract(dao, _probe(dao, mode))
    member = dao.issue(RESIDENT)
    badge = _badge_type(dao, soulbound=soulbound)
    with refused(error):
        dao.client.transact(dao.badges.functions.mint(badge, [member.address, probe.address]), dao.issuer)
    assert dao.badges.functions.balanceOfBatch([member.address, probe.address], [badge, badge]).call() == [0, 0]
    assert dao.badges.functions.badgeType(badge).call()[4] == 0  # nothing minted


@pytest.mark.parametrize("soulbound", [True, False], ids=["soulbound", "transferable"])
def test_a_contract_without_the_receiver_interface_refuses_the_mint(dao, soulbound):
    """ERC-1155: "If the destination is a contract that does not implement ERC1155TokenReceiver ... the transfer
    MUST be reverted" (a contract with code and no hook)."""
    plain, _ = probes()["PlainContract"].deploy(dao.client, dao.city)
    _member_contract(dao, plain)
    badge = _badge_type(dao, soulbound=soulbound)
    with refused("ERC1155InvalidReceiver"):
        dao.client.transact(dao.badges.functions.mint(badge, [plain.address]), dao.issuer)


def test_accounts_without_code_are_not_called(dao):
    """ERC-1155's rules apply to contracts; an account without code (an EOA) receives as before."""
    members = dao.members([RESIDENT] * 3) + [Account.create()]
    for m in members[3:]:
        dao.issue(RESIDENT, member=m)
    badge = _badge_type(dao, soulbound=True)
    dao.client.transact(dao.badges.functions.mint(badge, [m.address for m in members]), dao.issuer)
    assert dao.badges.functions.balanceOfBatch([m.address for m in members], [badge] * 4).call() == [1] * 4
