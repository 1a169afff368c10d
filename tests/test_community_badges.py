"""CommunityBadges: badge types, batch mints to many recipients, issuer-only minting, soulbound refusals."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.chain.reverts import ContractRevert
from tests.dao import ISSUER_ROLE, RESIDENT

ATTENDANCE, CULTURAL_WORK, PERK = 0, 1, 2
ERC1155_ID, ERC5192_ID = "0xd9b67a26", "0xb45a3c0e"


def refused(error: str):
    return pytest.raises(ContractRevert, match=rf"^{error}\(")


def create_type(dao, *, uri="ipfs://bafkreibadge", max_supply=0, soulbound=True, kind=ATTENDANCE, issuer=None):
    receipt = dao.client.transact(
        dao.badges.functions.createBadgeType(uri, max_supply, soulbound, kind), issuer or dao.issuer
    )
    (event,) = dao.badges.events.BadgeTypeCreated().process_receipt(receipt)
    return event.args.badgeTypeId


def mint(dao, badge_type_id, recipients, issuer=None):
    return dao.client.transact(
        dao.badges.functions.mint(badge_type_id, [r.address for r in recipients]), issuer or dao.issuer
    )


def test_badge_type_created_with_its_metadata(dao):
    receipt = dao.client.transact(
        dao.badges.functions.createBadgeType("ipfs://bafkreijazz", 500, False, PERK), dao.issuer
    )
    (event,) = dao.badges.events.BadgeTypeCreated().process_receipt(receipt)
    assert (event.args.issuer, event.args.kind, event.args.soulbound, event.args.maxSupply, event.args.uri) == (
        dao.issuer.address, PERK, False, 500, "ipfs://bafkreijazz"
    )
    badge_id = event.args.badgeTypeId
    assert dao.badges.functions.uri(badge_id).call() == "ipfs://bafkreijazz"
    assert dao.badges.functions.badgeType(badge_id).call() == [dao.issuer.address, PERK, False, 500, 0]
    assert dao.badges.functions.badgeTypeCount().call() == badge_id
    assert not dao.badges.functions.locked(badge_id).call()
    for interface in (ERC1155_ID, ERC5192_ID):
        assert dao.badges.functions.supportsInterface(interface).call()


def test_one_transaction_mints_to_200_members(dao):
    members = dao.members([RESIDENT] * 200)
    badge_id = create_type(dao, soulbound=True, kind=ATTENDANCE)
    receipt = mint(dao, badge_id, members)
    events = dao.badges.events.TransferSingle().process_receipt(receipt)
    assert len(events) == 200
    assert {e.args.to for e in events} == {m.address for m in members}
    assert all(e.args["from"] == "0x" + "00" * 20 and e.args.value == 1 and e.args.id == badge_id for e in events)
    balances = dao.badges.functions.balanceOfBatch([m.address for m in members], [badge_id] * 200).call()
    assert balances == [1] * 200
    assert dao.badges.functions.badgeType(badge_id).call()[4] == 200


def test_transferable_badges_to_200_recipients_who_need_not_be_members(dao):
    recipients = [Account.create() for _ in range(200)]
    badge_id = create_type(dao, soulbound=False, kind=PERK)
    mint(dao, badge_id, recipients)
    balances = dao.badges.functions.balanceOfBatch([r.address for r in recipients], [badge_id] * 200).call()
    assert balances == [1] * 200


def test_only_the_types_issuer_mints(dao):
    member = dao.issue(RESIDENT)
    badge_id = create_type(dao)
    outsider = Account.create()
    dao.fund(outsider)
    with pytest.raises(ContractRevert) as exc:
        mint(dao, badge_id, [member], issuer=outsider)
    assert exc.value.error == "CommunityBadgesUnauthorizedMinter"
    assert exc.value.args_dict == {"account": outsider.address, "badgeTypeId": badge_id}
    other_org = Account.create()
    dao.grant_issuer(other_org)
    dao.fund(other_org)
    with refused("CommunityBadgesUnauthorizedMinter"):
        mint(dao, badge_id, [member], issuer=other_org)  # an issuer, but not of this type
    dao.client.transact(dao.card.functions.revokeRole(ISSUER_ROLE, dao.issuer.address), dao.city)
    with refused("CommunityBadgesUnauthorizedMinter"):
        mint(dao, badge_id, [member])  # no longer an issuer at all
    assert dao.badges.functions.balanceOf(member.address, badge_id).call() == 0


def test_only_issuers_create_badge_types(dao):
    outsider = Account.create()
    dao.fund(outsider)
    with refused("CommunityBadgesNotIssuer"):
        create_type(dao, issuer=outsider)


def test_bad_badge_type_input(dao):
    with refused("CommunityBadgesInvalidKind"):
        create_type(dao, kind=3)
    with refused("CommunityBadgesEmptyURI"):
        create_type(dao, uri="")
    with refused("CommunityBadgesUnknownBadgeType"):
        mint(dao, 999, [dao.issue(RESIDENT)])
    with refused("CommunityBadgesUnknownBadgeType"):
        dao.client.call(dao.badges.functions.uri(999))
    badge_id = create_type(dao)
    with refused("CommunityBadgesNoRecipients"):
        mint(dao, badge_id, [])


def test_soulbound_badges_refuse_transfers_and_report_locked(dao):
    member = dao.issue(RESIDENT)
    dao.fund(member)
    badge_id = create_type(dao, soulbound=True)
    mint(dao, badge_id, [member])
    assert dao.badges.functions.locked(badge_id).call()
    other = Account.create()
    with pytest.raises(ContractRevert) as exc:
        dao.client.transact(
            dao.badges.functions.safeTransferFrom(member.address, other.address, badge_id, 1, b""), member
        )
    assert exc.value.error == "CommunityBadgesSoulbound" and exc.value.args_dict == {"badgeTypeId": badge_id}
    with refused("CommunityBadgesSoulbound"):
        dao.client.transact(
            dao.badges.functions.safeBatchTransferFrom(member.address, other.address, [badge_id], [1], b""), member
        )
    assert dao.badges.functions.balanceOf(member.address, badge_id).call() == 1
    assert dao.badges.functions.balanceOf(other.address, badge_id).call() == 0


def test_transferable_badges_move(dao):
    holder = Account.create()
    dao.fund(holder)
    badge_id = create_type(dao, soulbound=False, kind=CULTURAL_WORK)
    mint(dao, badge_id, [holder])
    other = Account.create()
    dao.client.transact(dao.badges.functions.safeTransferFrom(holder.address, other.address, badge_id, 1, b""), holder)
    assert dao.badges.functions.balanceOf(other.address, badge_id).call() == 1


def test_a_bad_recipient_refuses_the_whole_batch(dao):
    members = dao.members([RESIDENT] * 3)
    badge_id = create_type(dao, soulbound=True, max_supply=5)
    stranger = Account.create()
    with pytest.raises(ContractRevert) as exc:
        mint(dao, badge_id, [*members, stranger])
    assert exc.value.error == "CommunityBadgesRecipientNotMember"
    assert exc.value.args_dict == {"recipient": stranger.address}
    with refused("CommunityBadgesAlreadyHeld"):
        mint(dao, badge_id, [members[0], members[0]])
    # Nothing from the refused batches was kept.
    assert dao.badges.functions.badgeType(badge_id).call()[4] == 0
    assert dao.badges.functions.balanceOf(members[0].address, badge_id).call() == 0
    mint(dao, badge_id, members)
    with refused("CommunityBadgesMaxSupplyExceeded"):
        mint(dao, badge_id, dao.members([RESIDENT] * 3))


def test_soulbound_badges_stay_with_a_member_who_leaves_and_rejoins(dao):
    member = dao.issue(RESIDENT)
    badge_id = create_type(dao, soulbound=True)
    mint(dao, badge_id, [member])
    dao.leave_by_sig(member)
    assert dao.badges.functions.balanceOf(member.address, badge_id).call() == 1
    dao.issue(RESIDENT, member)
    assert dao.badges.functions.balanceOf(member.address, badge_id).call() == 1
