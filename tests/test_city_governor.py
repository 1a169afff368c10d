"""CityGovernor: ballots refused outside the rules, categories, quorum; OutcomeRegistry refusals and history."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.chain import eip712
from backend.chain.reverts import ContractRevert
from tests.dao import ABSTAIN, AGAINST, CULTURE, FOR, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT, TOWN_PLANNING

ADOPTED, ABANDONED = 1, 5


def refused(error: str):
    return pytest.raises(ContractRevert, match=rf"^{error}\(")


class TestBallots:
    def test_vote_before_the_voting_period(self, dao):
        voter = dao.issue(RESIDENT)
        proposal = dao.propose("early")
        with pytest.raises(ContractRevert) as exc:
            dao.vote_by_sig(proposal, voter, FOR)
        assert exc.value.error == "GovernorUnexpectedProposalState" and exc.value.args_dict["current"] == 0

    def test_vote_after_the_voting_period(self, dao):
        voter = dao.issue(RESIDENT)
        proposal = dao.propose("late")
        dao.end_voting(proposal)
        with refused("GovernorUnexpectedProposalState"):
            dao.vote_by_sig(proposal, voter, FOR)

    def test_second_vote_refused(self, dao):
        voter = dao.issue(RESIDENT)
        dao.fund(voter)
        proposal = dao.propose("twice")
        dao.start_voting(proposal)
        dao.vote_by_sig(proposal, voter, FOR)
        with pytest.raises(ContractRevert) as exc:
            dao.client.transact(dao.governor.functions.castVote(proposal.proposal_id, AGAINST), voter)
        assert exc.value.error == "GovernorAlreadyCastVote" and exc.value.args_dict == {"voter": voter.address}
        assert dao.tallies(proposal)[RESIDENT] == (0, 1, 0)

    def test_replayed_or_forged_ballot_signatures(self, dao):
        voter = dao.issue(RESIDENT)
        proposal = dao.propose("signatures")
        dao.start_voting(proposal)
        msg, signature = eip712.sign_ballot(dao.governor, voter, proposal_id=proposal.proposal_id, support=FOR)
        fn = dao.governor.functions.castVoteBySig(proposal.proposal_id, FOR, voter.address, signature)
        dao.client.transact(fn, dao.relayer)
        with refused("GovernorInvalidSignature"):  # the nonce moved on: a replay does not verify
            dao.client.transact(fn, dao.relayer)
        other = dao.issue(RESIDENT)
        forged = dao.governor.functions.castVoteBySig(proposal.proposal_id, AGAINST, other.address, signature)
        with refused("GovernorInvalidSignature"):
            dao.client.transact(forged, dao.relayer)

    def test_non_member_and_invalid_support(self, dao):
        member = dao.issue(RESIDENT)
        proposal = dao.propose("who votes")
        dao.start_voting(proposal)
        with pytest.raises(ContractRevert) as exc:
            dao.vote_by_sig(proposal, Account.create(), FOR)
        assert exc.value.error == "CityGovernorNotMemberAtSnapshot"
        with refused("GovernorInvalidVoteType"):
            dao.vote_by_sig(proposal, member, 3)

    def test_member_who_joined_after_the_snapshot_cannot_vote(self, dao):
        dao.issue(RESIDENT)
        proposal = dao.propose("snapshot")
        dao.start_voting(proposal)
        late = dao.issue(RESIDENT)
        with refused("CityGovernorNotMemberAtSnapshot"):
            dao.vote_by_sig(proposal, late, FOR)


class TestCategories:
    def test_invalid_category_refused(self, dao):
        dao.issue(RESIDENT)
        with pytest.raises(ContractRevert) as exc:
            dao.propose("bad", category=2)
        assert exc.value.args_dict == {"category": 2}
        assert dao.governor.functions.requiresResidentMajority(TOWN_PLANNING).call()
        assert not dao.governor.functions.requiresResidentMajority(CULTURE).call()

    def test_culture_needs_no_resident_majority(self, dao):
        residents = dao.members([RESIDENT] * 2)
        others = dao.members([RELATIONSHIP_POPULATION] * 3)
        proposal = dao.propose("Kanazawa Jazz Street stage in the metaverse", CULTURE)
        dao.start_voting(proposal)
        for r in residents:
            dao.vote_by_sig(proposal, r, AGAINST)
        for o in others:
            dao.vote_by_sig(proposal, o, FOR)
        dao.end_voting(proposal)
        assert dao.state(proposal) == "Succeeded"

    def test_town_planning_without_resident_ballots_fails(self, dao):
        dao.issue(RESIDENT)
        others = dao.members([RELATIONSHIP_POPULATION, ORGANISATION])
        proposal = dao.propose("New bus lane", TOWN_PLANNING)
        dao.start_voting(proposal)
        for o in others:
            dao.vote_by_sig(proposal, o, FOR)
        dao.end_voting(proposal)
        assert dao.state(proposal) == "Defeated"

    def test_standard_propose_is_culture(self, dao):
        dao.issue(RESIDENT)
        receipt = dao.client.transact(
            dao.governor.functions.propose([dao.outcomes.address], [0], [b""], "plain propose"), dao.relayer
        )
        (event,) = dao.governor.events.ProposalCategorized().process_receipt(receipt)
        assert event.args.category == CULTURE
        assert dao.governor.functions.proposalCategory(event.args.proposalId).call() == CULTURE

    def test_quorum_counts_for_and_abstain(self, dao):
        # 20 cards, quorum 10% = 2 votes of for + abstain.
        voters = dao.members([RESIDENT] * 20)
        proposal = dao.propose("quorum")
        dao.start_voting(proposal)
        dao.vote_by_sig(proposal, voters[0], FOR)
        dao.end_voting(proposal)
        assert dao.governor.functions.quorum(dao.governor.functions.proposalSnapshot(proposal.proposal_id).call()).call() == 2
        assert dao.state(proposal) == "Defeated"
        second = dao.propose("quorum reached")
        dao.start_voting(second)
        dao.vote_by_sig(second, voters[0], FOR)
        dao.vote_by_sig(second, voters[1], ABSTAIN)
        dao.end_voting(second)
        assert dao.state(second) == "Succeeded"


class TestOutcomes:
    def decided(self, dao):
        voter = dao.issue(RESIDENT)
        proposal = dao.propose("Restore the Nagamachi earthen walls")
        dao.start_voting(proposal)
        dao.vote_by_sig(proposal, voter, FOR)
        dao.end_voting(proposal)
        return proposal

    def publish(self, dao, proposal_id, status=ADOPTED, uri="ipfs://bafkreireport", digest=b"\x11" * 32, sender=None):
        return dao.client.transact(
            dao.outcomes.functions.publishOutcome(proposal_id, status, uri, digest), sender or dao.city
        )

    def test_unknown_proposal_refused(self, dao):
        with pytest.raises(ContractRevert) as exc:
            self.publish(dao, 12345)
        assert exc.value.error == "OutcomeRegistryUnknownProposal" and exc.value.args_dict == {"proposalId": 12345}

    def test_only_the_city_publishes(self, dao):
        proposal = self.decided(dao)
        with refused("OutcomeRegistryUnauthorized"):
            self.publish(dao, proposal.proposal_id, sender=dao.relayer)

    def test_not_while_voting(self, dao):
        dao.issue(RESIDENT)
        proposal = dao.propose("still voting")
        dao.start_voting(proposal)
        with refused("OutcomeRegistryVotingNotEnded"):
            self.publish(dao, proposal.proposal_id)

    @pytest.mark.parametrize("status", [0, 6])
    def test_invalid_status(self, dao, status):
        proposal = self.decided(dao)
        with refused("OutcomeRegistryInvalidStatus"):
            self.publish(dao, proposal.proposal_id, status=status)

    def test_empty_report(self, dao):
        proposal = self.decided(dao)
        with refused("OutcomeRegistryEmptyReport"):
            self.publish(dao, proposal.proposal_id, uri="")
        with refused("OutcomeRegistryEmptyReport"):
            self.publish(dao, proposal.proposal_id, digest=b"\x00" * 32)
        with refused("OutcomeRegistryNoOutcome"):
            dao.client.call(dao.outcomes.functions.latestOutcome(proposal.proposal_id))

    def test_history_kept(self, dao):
        proposal = self.decided(dao)
        for version, status in enumerate([ADOPTED, 3, 4, ABANDONED]):
            receipt = self.publish(dao, proposal.proposal_id, status=status, uri=f"ipfs://report-{version}")
            (event,) = dao.outcomes.events.OutcomePublished().process_receipt(receipt)
            assert (event.args.version, event.args.status, event.args.publisher) == (version, status, dao.city.address)
        assert dao.outcomes.functions.outcomeCount(proposal.proposal_id).call() == 4
        assert dao.outcomes.functions.outcomeAt(proposal.proposal_id, 1).call()[0] == 3
        assert dao.outcomes.functions.latestOutcome(proposal.proposal_id).call()[4] == "ipfs://report-3"
