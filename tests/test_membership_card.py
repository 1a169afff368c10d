"""MembershipCard: issuing, invitations, one card per address, soulbound, revocation, leaving, snapshots."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.chain.reverts import ContractRevert
from tests.dao import ISSUER_ROLE, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT

ERC721_ID, ERC5192_ID, ERC5805_ID = "0x80ac58cd", "0xb45a3c0e", "0xe90fb3f6"


def refused(error: str):
    """Expect a ContractRevert naming `error` (the custom error's name, decoded from the revert data)."""
    return pytest.raises(ContractRevert, match=rf"^{error}\(")


def test_issue_gives_one_vote_at_once_and_a_locked_card(dao):
    member = Account.create()
    receipt = dao.client.transact(dao.card.functions.issue(member.address, RESIDENT), dao.issuer)
    (issued,) = dao.card.events.CardIssued().process_receipt(receipt)
    assert issued.args.member == member.address and issued.args.segment == RESIDENT
    assert issued.args.issuer == dao.issuer.address
    (delegated,) = dao.card.events.DelegateChanged().process_receipt(receipt)
    assert delegated.args.toDelegate == member.address
    (locked,) = dao.card.events.Locked().process_receipt(receipt)
    assert locked.args.tokenId == issued.args.tokenId
    assert dao.card.functions.getVotes(member.address).call() == 1
    assert dao.card.functions.delegates(member.address).call() == member.address
    issued_at = dao.time_of(receipt)  # the card counts seconds (EIP-6372 mode=timestamp)
    assert dao.card.functions.clock().call() == issued_at
    assert dao.card.functions.CLOCK_MODE().call() == "mode=timestamp"
    dao.wait_seconds(1)
    assert dao.card.functions.getPastVotes(member.address, issued_at).call() == 1
    assert dao.card.functions.getPastTotalSupply(issued_at).call() == 1
    assert dao.card.functions.getPastVotes(member.address, issued_at - 1).call() == 0
    for interface in (ERC721_ID, ERC5192_ID):
        assert dao.card.functions.supportsInterface(interface).call()


def test_second_card_refused(dao):
    member = dao.issue(RESIDENT)
    with refused("MembershipCardAlreadyMember"):
        dao.issue(RELATIONSHIP_POPULATION, member)
    invitation, signature = dao.invitation(member.address, ORGANISATION, nonce=1)
    with refused("MembershipCardAlreadyMember"):
        dao.claim(invitation, signature)
    assert dao.card.functions.balanceOf(member.address).call() == 1
    assert not dao.card.functions.invitationUsed(dao.issuer.address, 1).call()  # nothing half-written


@pytest.mark.parametrize("segment", [0, 4, 255])
def test_invalid_segment_refused(dao, segment):
    with pytest.raises(ContractRevert) as exc:
        dao.issue(segment)
    assert exc.value.error == "MembershipCardInvalidSegment" and exc.value.args_dict == {"segment": segment}


def test_only_issuers_issue(dao):
    outsider = Account.create()
    dao.fund(outsider)
    with refused("AccessControlUnauthorizedAccount"):
        dao.issue(RESIDENT, issuer=outsider)


def test_soulbound_transfers_refused(dao):
    member = dao.issue(RESIDENT)
    dao.fund(member)
    token_id = dao.card.functions.memberNumberOf(member.address).call()
    other = Account.create()
    assert dao.card.functions.locked(token_id).call()
    with refused("MembershipCardSoulbound"):
        dao.client.transact(dao.card.functions.transferFrom(member.address, other.address, token_id), member)
    with refused("MembershipCardSoulbound"):
        dao.client.transact(
            dao.card.functions.safeTransferFrom(member.address, other.address, token_id), member
        )
    assert dao.card.functions.ownerOf(token_id).call() == member.address


def test_delegation_refused(dao):
    member = dao.issue(RESIDENT)
    dao.fund(member)
    with refused("MembershipCardDelegationDisabled"):
        dao.client.transact(dao.card.functions.delegate(Account.create().address), member)


class TestInvitations:
    def test_relayed_claim_goes_to_the_invitee(self, dao):
        invitee = Account.create()
        invitation, signature = dao.invitation(invitee.address, RESIDENT, nonce=42)
        dao.claim(invitation, signature)
        assert dao.card.functions.balanceOf(invitee.address).call() == 1
        assert dao.card.functions.balanceOf(dao.relayer.address).call() == 0
        assert dao.card.functions.invitationUsed(dao.issuer.address, 42).call()

    def test_expired(self, dao):
        invitee = Account.create()
        invitation, signature = dao.invitation(invitee.address, RESIDENT, nonce=1, expiry=dao.now() - 1)
        with refused("MembershipCardInvitationExpired"):
            dao.claim(invitation, signature)

    def test_reused(self, dao):
        invitee = Account.create()
        invitation, signature = dao.invitation(invitee.address, RESIDENT, nonce=5)
        dao.claim(invitation, signature)
        dao.leave_by_sig(invitee)  # even after leaving, the same invitation cannot bring the card back
        with pytest.raises(ContractRevert) as exc:
            dao.claim(invitation, signature)
        assert exc.value.error == "MembershipCardInvitationUsed"
        assert exc.value.args_dict == {"issuer": dao.issuer.address, "nonce": 5}

    def test_forged_by_a_non_issuer(self, dao):
        forger = Account.create()
        invitee = Account.create()
        invitation, signature = dao.invitation(invitee.address, RESIDENT, nonce=1, issuer=forger)
        with refused("MembershipCardInvalidIssuer"):
            dao.claim(invitation, signature)

    def test_signature_not_from_the_named_issuer(self, dao):
        invitee = Account.create()
        invitation, signature = dao.invitation(invitee.address, RESIDENT, nonce=1, issuer=Account.create())
        invitation["issuer"] = dao.issuer.address  # claims to come from a real issuer
        with refused("MembershipCardInvalidInvitationSignature"):
            dao.claim(invitation, signature)

    def test_tampered_segment_or_invitee(self, dao):
        invitee = Account.create()
        invitation, signature = dao.invitation(invitee.address, RELATIONSHIP_POPULATION, nonce=1)
        with refused("MembershipCardInvalidInvitationSignature"):
            dao.claim({**invitation, "segment": RESIDENT}, signature)
        with refused("MembershipCardInvalidInvitationSignature"):
            dao.claim({**invitation, "invitee": Account.create().address}, signature)
        dao.claim(invitation, signature)  # the untouched invitation still works: nothing was used up

    def test_cancelled(self, dao):
        invitee = Account.create()
        invitation, signature = dao.invitation(invitee.address, RESIDENT, nonce=9)
        receipt = dao.client.transact(dao.card.functions.cancelInvitation(9), dao.issuer)
        assert dao.card.events.InvitationCancelled().process_receipt(receipt)[0].args.nonce == 9
        with refused("MembershipCardInvitationUsed"):
            dao.claim(invitation, signature)

    def test_issuer_whose_role_was_revoked(self, dao):
        invitee = Account.create()
        invitation, signature = dao.invitation(invitee.address, RESIDENT, nonce=1)
        dao.client.transact(dao.card.functions.revokeRole(ISSUER_ROLE, dao.issuer.address), dao.city)
        with refused("MembershipCardInvalidIssuer"):
            dao.claim(invitation, signature)


class TestLeavingAndRevocation:
    def test_revoked_card_no_longer_counts_in_later_snapshots(self, dao):
        member, other = dao.members([RESIDENT, RESIDENT])
        before = dao.propose("before the revocation")
        dao.start_voting(before)
        receipt = dao.client.transact(dao.card.functions.revoke(member.address), dao.issuer)
        assert dao.card.events.CardRevoked().process_receipt(receipt)[0].args.revoker == dao.issuer.address
        after = dao.propose("after the revocation")
        dao.start_voting(after)

        assert dao.card.functions.getVotes(member.address).call() == 0
        snapshot_after = dao.governor.functions.proposalSnapshot(after.proposal_id).call()
        assert dao.card.functions.getPastTotalSupply(snapshot_after).call() == 1
        with refused("CityGovernorNotMemberAtSnapshot"):
            dao.vote_by_sig(after, member, 1)
        dao.vote_by_sig(after, other, 1)
        # The earlier snapshot still holds the card: the governor counts what was true at the snapshot.
        dao.vote_by_sig(before, member, 1)
        assert dao.tallies(before)[RESIDENT] == (0, 1, 0)

    def test_revoke_permissions(self, dao):
        member = dao.issue(RESIDENT)
        other_org = Account.create()
        dao.grant_issuer(other_org)
        dao.fund(other_org)
        with pytest.raises(ContractRevert) as exc:
            dao.client.transact(dao.card.functions.revoke(member.address), other_org)
        assert exc.value.error == "MembershipCardUnauthorizedRevoker"
        assert exc.value.args_dict == {"caller": other_org.address, "member": member.address}
        dao.client.transact(dao.card.functions.revoke(member.address), dao.city)  # the city may
        with refused("MembershipCardNotMember"):
            dao.client.transact(dao.card.functions.revoke(member.address), dao.city)

    def test_leave_by_signature_is_gasless(self, dao):
        member = dao.issue(ORGANISATION)
        receipt = dao.leave_by_sig(member)
        assert receipt["from"] == dao.relayer.address
        assert dao.card.events.CardLeft().process_receipt(receipt)[0].args.member == member.address
        assert dao.card.functions.balanceOf(member.address).call() == 0
        assert dao.card.functions.getVotes(member.address).call() == 0
        assert dao.w3.eth.get_balance(member.address) == 0

    def test_leave_signature_refusals(self, dao):
        member = dao.issue(RESIDENT)
        with refused("MembershipCardSignatureExpired"):
            dao.leave_by_sig(member, expiry=dao.now() - 1)
        impostor = Account.create()
        from backend.chain import eip712
        msg, signature = eip712.sign_leave(dao.card, impostor, expiry=dao.now() + 600)
        with refused("MembershipCardInvalidLeaveSignature"):
            dao.client.transact(
                dao.card.functions.leaveBySig(member.address, msg["nonce"], msg["expiry"], signature), dao.relayer
            )
        msg, signature = eip712.sign_leave(dao.card, member, expiry=dao.now() + 600)
        fn = dao.card.functions.leaveBySig(member.address, msg["nonce"], msg["expiry"], signature)
        dao.client.transact(fn, dao.relayer)
        with refused("InvalidAccountNonce"):  # a replayed leave request
            dao.client.transact(fn, dao.relayer)

    def test_leave_directly_and_rejoin_keeps_member_number_and_segment_history(self, dao):
        member = dao.issue(RESIDENT)
        number = dao.card.functions.memberNumberOf(member.address).call()
        resident_time = dao.now()
        dao.fund(member)
        dao.wait_seconds(1)  # the card counts seconds: each change a second apart, so each has its own moment
        dao.client.transact(dao.card.functions.leave(), member)
        gap_time = dao.now()
        dao.wait_seconds(1)
        dao.issue(RELATIONSHIP_POPULATION, member)  # moved away from Kanazawa, rejoins as 関係人口
        rejoined_time = dao.now()
        dao.wait_seconds(1)
        assert dao.card.functions.memberNumberOf(member.address).call() == number
        past = dao.card.functions.getPastMembership
        assert past(member.address, resident_time).call() == [number, RESIDENT]
        assert past(member.address, gap_time).call() == [number, 0]
        assert past(member.address, rejoined_time).call() == [number, RELATIONSHIP_POPULATION]
        with refused("ERC5805FutureLookup"):
            dao.client.call(past(member.address, dao.now() + 5))

    def test_non_member_cannot_leave(self, dao):
        outsider = Account.create()
        dao.fund(outsider)
        with refused("MembershipCardNotMember"):
            dao.client.transact(dao.card.functions.leave(), outsider)
