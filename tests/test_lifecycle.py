"""The whole life cycle on a real anvil: invitation -> relayed claim -> voting power -> town-planning proposals ->
relayed ballots from several segments -> tallies by segment -> double majority -> timelock -> outcome."""

from __future__ import annotations

from eth_account import Account

from tests.dao import ABSTAIN, AGAINST, FOR, ISSUER_ROLE, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT, TOWN_PLANNING

ADOPTED = 1


def test_full_life_cycle(dao):
    w3 = dao.w3

    # A relationship-population member joins by invitation; the relayer submits the claim and pays the gas.
    newcomer = Account.create()
    invitation, signature = dao.invitation(newcomer.address, RELATIONSHIP_POPULATION, nonce=7)
    receipt = dao.claim(invitation, signature)
    assert receipt["from"] == dao.relayer.address
    assert w3.eth.get_balance(newcomer.address) == 0
    assert dao.card.functions.balanceOf(newcomer.address).call() == 1
    assert dao.card.functions.getVotes(newcomer.address).call() == 1  # self-delegated by the mint itself
    token_id, segment, issuer, _since, active = dao.card.functions.membershipOf(newcomer.address).call()
    assert (segment, issuer, active) == (RELATIONSHIP_POPULATION, dao.issuer.address, True)
    assert dao.card.functions.locked(token_id).call() is True

    residents = dao.members([RESIDENT] * 4)
    relationship = [newcomer, *dao.members([RELATIONSHIP_POPULATION] * 4)]
    organisations = dao.members([ORGANISATION] * 2)

    # The DAO decides to register a new cultural organisation as issuer: the timelock executes the grant.
    new_org = Account.create()
    grant = dao.card.functions.grantRole(ISSUER_ROLE, new_org.address)._encode_transaction_data()
    passing = dao.propose("Register the Higashi Chaya crafts guild as issuer", TOWN_PLANNING,
                          targets=[dao.card.address], calldatas=[grant])
    failing = dao.propose("Pedestrianise Hyakumangoku-dori on Sundays", TOWN_PLANNING)
    assert dao.governor.functions.proposalCategory(passing.proposal_id).call() == TOWN_PLANNING
    assert dao.state(passing) == "Pending"
    dao.start_voting(passing)
    assert dao.state(passing) == "Active"

    # Passing: residents 3 for / 1 against; relationship 2 for / 3 against; organisations 1 for / 1 abstain.
    plan = {
        passing: [(r, s) for r, s in zip(residents, [FOR, FOR, FOR, AGAINST])]
        + [(r, s) for r, s in zip(relationship, [FOR, FOR, AGAINST, AGAINST, AGAINST])]
        + [(organisations[0], FOR), (organisations[1], ABSTAIN)],
        # Failing: overall 8 for / 3 against, but residents 1 for / 3 against.
        failing: [(r, s) for r, s in zip(residents, [FOR, AGAINST, AGAINST, AGAINST])]
        + [(r, FOR) for r in relationship]
        + [(o, FOR) for o in organisations],
    }
    for proposal, ballots in plan.items():
        for voter, support in ballots:
            receipt = dao.vote_by_sig(proposal, voter, support)
            assert receipt["from"] == dao.relayer.address
            assert dao.governor.functions.hasVoted(proposal.proposal_id, voter.address).call()

    assert dao.tallies(passing) == {RESIDENT: (1, 3, 0), RELATIONSHIP_POPULATION: (3, 2, 0), ORGANISATION: (0, 1, 1)}
    assert dao.tallies(failing) == {RESIDENT: (3, 1, 0), RELATIONSHIP_POPULATION: (0, 5, 0), ORGANISATION: (0, 2, 0)}
    assert dao.governor.functions.proposalVotes(passing.proposal_id).call() == [4, 6, 1]
    assert dao.governor.functions.proposalVotes(failing.proposal_id).call() == [3, 8, 0]

    dao.end_voting(passing)
    dao.end_voting(failing)
    assert dao.state(passing) == "Succeeded"
    assert dao.state(failing) == "Defeated"  # overall majority, but no resident majority

    dao.queue(passing)
    assert dao.state(passing) == "Queued"
    dao.wait_seconds(dao.deployment.params.timelock_delay + 1)
    dao.execute(passing)
    assert dao.state(passing) == "Executed"
    assert dao.card.functions.hasRole(ISSUER_ROLE, new_org.address).call()

    # The city publishes the outcome, with the report's content hash anchored on chain.
    report = "採択: 東茶屋街工芸組合を発行者として登録しました。".encode()
    content_hash = w3.keccak(report)
    uri = "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    receipt = dao.client.transact(
        dao.outcomes.functions.publishOutcome(passing.proposal_id, ADOPTED, uri, content_hash), dao.city
    )
    (event,) = dao.outcomes.events.OutcomePublished().process_receipt(receipt)
    assert event.args.proposalId == passing.proposal_id and event.args.version == 0
    latest = dao.outcomes.functions.latestOutcome(passing.proposal_id).call()
    assert latest[0] == ADOPTED and latest[3] == content_hash and latest[4] == uri
