"""The indexer against a real anvil, on SQLite and (when configured) PostgreSQL: every event kind in the right
rows, tallies equal to the governor's, reorgs equal to a fresh index, replays harmless."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.chain import eip712
from backend.models import chain as m
from tests.dao import ABSTAIN, AGAINST, FOR, ISSUER_ROLE, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT, TOWN_PLANNING
from tests.indexer_helpers import dump, rows, run_indexer

SEGMENTS = (RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION)


def every_event_scenario(dao):
    """One of each thing the contracts can say."""
    org = Account.create()
    dao.grant_issuer(org)                                                   # RoleGranted
    dao.client.transact(dao.card.functions.revokeRole(ISSUER_ROLE, org.address), dao.city)  # RoleRevoked
    residents = dao.members([RESIDENT] * 3)                                 # CardIssued, Transfer, Locked, Delegate*
    invitee = Account.create()
    invitation, signature = dao.invitation(invitee.address, RELATIONSHIP_POPULATION, nonce=1)
    dao.claim(invitation, signature)
    dao.client.transact(dao.card.functions.cancelInvitation(2), dao.issuer)  # InvitationCancelled
    leaver, revoked = dao.members([ORGANISATION, RESIDENT])
    dao.leave_by_sig(leaver)                                                # CardLeft
    dao.client.transact(dao.card.functions.revoke(revoked.address), dao.issuer)  # CardRevoked

    soulbound = dao.client.transact(dao.badges.functions.createBadgeType("ipfs://bafkreiattend", 0, True, 0), dao.issuer)
    soulbound_id = dao.badges.events.BadgeTypeCreated().process_receipt(soulbound)[0].args.badgeTypeId
    perk = dao.client.transact(dao.badges.functions.createBadgeType("ipfs://bafkreiperk", 10, False, 2), dao.issuer)
    perk_id = dao.badges.events.BadgeTypeCreated().process_receipt(perk)[0].args.badgeTypeId
    dao.client.transact(dao.badges.functions.mint(soulbound_id, [r.address for r in residents]), dao.issuer)
    holder = Account.create()
    dao.fund(holder)
    dao.client.transact(dao.badges.functions.mint(perk_id, [holder.address, holder.address]), dao.issuer)
    friend = Account.create()
    dao.client.transact(dao.badges.functions.safeTransferFrom(holder.address, friend.address, perk_id, 1, b""), holder)
    dao.client.transact(dao.badges.functions.setApprovalForAll(friend.address, True), holder)  # ApprovalForAll
    dao.client.transact(
        dao.badges.functions.safeBatchTransferFrom(holder.address, friend.address, [perk_id], [1], b""), holder
    )                                                                        # TransferBatch

    grant = dao.card.functions.grantRole(ISSUER_ROLE, org.address)._encode_transaction_data()
    passing = dao.propose("Register the guild\n\nipfs://bafkreidoc\ndocument-hash: 0x" + "cd" * 32, TOWN_PLANNING,
                          targets=[dao.card.address], calldatas=[grant])
    cancelled = dao.propose("Withdrawn before voting")
    dao.client.transact(dao.governor.functions.cancel(
        cancelled.targets, cancelled.values, cancelled.calldatas, cancelled.description_hash), dao.relayer)
    dao.start_voting(passing)
    for voter, support in zip(residents, (FOR, FOR, AGAINST)):
        dao.vote_by_sig(passing, voter, support)
    dao.client.transact(dao.governor.functions.castVoteWithReasonAndParamsBySig(
        passing.proposal_id, ABSTAIN, invitee.address, "みんなで決めたい", b"\x01",
        _extended_ballot(dao, invitee, passing.proposal_id, ABSTAIN, "みんなで決めたい", b"\x01")), dao.relayer)
    dao.end_voting(passing)
    dao.queue(passing)                                                       # ProposalQueued, CallScheduled
    dao.wait_seconds(dao.deployment.params.timelock_delay + 1)
    dao.execute(passing)                                                     # ProposalExecuted, CallExecuted
    dao.client.transact(dao.outcomes.functions.publishOutcome(
        passing.proposal_id, 1, "ipfs://bafkreireport", b"\x22" * 32), dao.city)
    return {"passing": passing, "cancelled": cancelled, "soulbound": soulbound_id, "perk": perk_id,
            "holder": holder, "friend": friend, "residents": residents, "org": org, "leaver": leaver,
            "revoked": revoked, "invitee": invitee}


def _extended_ballot(dao, voter, proposal_id, support, reason, params) -> bytes:
    types = {"ExtendedBallot": [
        {"name": "proposalId", "type": "uint256"}, {"name": "support", "type": "uint8"},
        {"name": "voter", "type": "address"}, {"name": "nonce", "type": "uint256"},
        {"name": "reason", "type": "string"}, {"name": "params", "type": "bytes"}]}
    message = {"proposalId": proposal_id, "support": support, "voter": voter.address,
               "nonce": dao.governor.functions.nonces(voter.address).call(), "reason": reason, "params": params}
    return eip712.sign(voter, eip712.typed_data(eip712.domain_of(dao.governor), types, message))


def test_every_event_kind_lands_in_the_right_rows(dao, anvil, database_url):
    s = every_event_scenario(dao)
    progress = run_indexer(dao, anvil.rpc_url, database_url)
    assert progress.events > 0 and progress.cursor == dao.block_number()

    cards = {c.member: c for c in rows(database_url, m.MembershipCard)}
    assert all(cards[r.address].active and cards[r.address].segment == RESIDENT for r in s["residents"])
    assert cards[s["invitee"].address].segment == RELATIONSHIP_POPULATION
    assert (cards[s["leaver"].address].active, cards[s["leaver"].address].ended_by) == (False, "left")
    assert (cards[s["revoked"].address].active, cards[s["revoked"].address].ended_by) == (False, "revoked")
    kinds = sorted(e.kind for e in rows(database_url, m.MembershipEvent))
    assert kinds.count("issued") == 6 and kinds.count("left") == 1 and kinds.count("revoked") == 1
    power = [c for c in rows(database_url, m.VotingPowerChange) if c.account == s["leaver"].address]
    assert [(c.previous_votes, c.new_votes) for c in power] == [(0, 1), (1, 0)]
    assert len(rows(database_url, m.DelegationChange)) == 6

    roles = {(r.contract, r.account) for r in rows(database_url, m.RoleMember)}
    assert ("MembershipCard", dao.issuer.address) in roles
    assert ("MembershipCard", s["org"].address) in roles  # granted again by the executed proposal
    assert ("TimelockController", dao.governor.address) in roles
    assert any(not e.granted for e in rows(database_url, m.RoleEvent))

    types = {t.badge_type_id: t for t in rows(database_url, m.BadgeType)}
    assert types[s["soulbound"]].soulbound and types[s["perk"]].max_supply == 10
    balances = {(b.badge_type_id, b.holder): b.balance for b in rows(database_url, m.BadgeBalance)}
    assert all(balances[(s["soulbound"], r.address)] == 1 for r in s["residents"])
    assert (s["perk"], s["holder"].address) not in balances  # both moved on
    assert balances[(s["perk"], s["friend"].address)] == 2
    assert any(t.log_index >= 0 and t.batch_index == 0 for t in rows(database_url, m.BadgeTransfer))

    proposals = {p.proposal_id: p for p in rows(database_url, m.Proposal)}
    passing = proposals[s["passing"].proposal_id]
    assert (passing.category, passing.lifecycle, passing.document_uri) == (TOWN_PLANNING, "executed", "ipfs://bafkreidoc")
    assert passing.document_hash == "0x" + "cd" * 32 and passing.eta is not None
    assert proposals[s["cancelled"].proposal_id].lifecycle == "canceled"
    assert sorted(e.kind for e in rows(database_url, m.ProposalEvent) if e.proposal_id == passing.proposal_id) == [
        "created", "executed", "queued"]
    votes = {v.voter: v for v in rows(database_url, m.Vote)}
    assert votes[s["invitee"].address].reason == "みんなで決めたい"
    assert votes[s["invitee"].address].segment == RELATIONSHIP_POPULATION
    (outcome,) = rows(database_url, m.Outcome)
    assert (outcome.status, outcome.version, outcome.content_hash) == (1, 0, "0x" + "22" * 32)

    kept = {(e.contract, e.event) for e in rows(database_url, m.ContractEvent)}
    for expected in [("MembershipCard", "Transfer"), ("MembershipCard", "Locked"),
                     ("MembershipCard", "InvitationCancelled"), ("CommunityBadges", "URI"),
                     ("CommunityBadges", "ApprovalForAll"), ("CommunityBadges", "Locked"),
                     ("TimelockController", "CallScheduled"), ("TimelockController", "CallExecuted")]:
        assert expected in kept, expected
    assert_tallies_equal_chain(dao, database_url)


def assert_tallies_equal_chain(dao, database_url):
    tallies = {(t.proposal_id, t.segment): (t.against_votes, t.for_votes, t.abstain_votes)
               for t in rows(database_url, m.Tally)}
    for proposal in rows(database_url, m.Proposal):
        for segment in SEGMENTS:
            on_chain = tuple(dao.governor.functions.proposalVotesBySegment(proposal.proposal_id, segment).call())
            assert tallies.get((proposal.proposal_id, segment), (0, 0, 0)) == on_chain


def test_tallies_equal_the_governor_for_every_proposal(dao, anvil, database_url):
    voters = dao.members([RESIDENT] * 4 + [RELATIONSHIP_POPULATION] * 4 + [ORGANISATION] * 2)
    proposals = [dao.propose(f"proposal {i}", i % 2) for i in range(4)]
    dao.start_voting(proposals[-1])
    for i, proposal in enumerate(proposals):
        for j, voter in enumerate(voters):
            if (i + j) % 3:
                dao.vote_by_sig(proposal, voter, (i * j) % 3)
        if i == 1:
            run_indexer(dao, anvil.rpc_url, database_url)  # index part way, then the rest
    run_indexer(dao, anvil.rpc_url, database_url)
    assert_tallies_equal_chain(dao, database_url)


def test_a_replay_changes_nothing(dao, anvil, database_url):
    every_event_scenario(dao)
    run_indexer(dao, anvil.rpc_url, database_url)
    before = dump(database_url)
    # Rewind the cursor to the deployment and index everything again.
    from sqlalchemy import update

    from backend.db import make_engine
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(update(m.IndexerCursor).values(block_number=dao.deployment.start_block - 1))
    engine.dispose()
    run_indexer(dao, anvil.rpc_url, database_url)
    assert dump(database_url) == before


@pytest.mark.parametrize("depth", [1, 2, 5, 13, 30])
def test_reorg_leaves_the_tables_of_a_fresh_index(private_chain, database_url, tmp_path, depth):
    anvil, dao = private_chain
    voters = dao.members([RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION] * 4)
    proposal = dao.propose("reorg me", TOWN_PLANNING)
    dao.start_voting(proposal)
    for voter in voters:  # 12 blocks of votes, then badge mints, so the reorg cuts through events
        dao.vote_by_sig(proposal, voter, FOR)
    badge = dao.client.transact(dao.badges.functions.createBadgeType("ipfs://bafkreireorg", 0, True, 0), dao.issuer)
    badge_id = dao.badges.events.BadgeTypeCreated().process_receipt(badge)[0].args.badgeTypeId
    for voter in voters * 2:  # the last 24 blocks each carry a mint, so any reorg of depth <= 30 drops events
        if dao.badges.functions.balanceOf(voter.address, badge_id).call() == 0:
            dao.client.transact(dao.badges.functions.mint(badge_id, [voter.address]), dao.issuer)
        else:
            dao.client.transact(dao.card.functions.cancelInvitation(dao.block_number()), dao.issuer)
    run_indexer(dao, anvil.rpc_url, database_url)

    dao.w3.provider.make_request("anvil_reorg", [depth, []])
    dao.client.mine(2)  # and the new chain grows past the old head
    progress = run_indexer(dao, anvil.rpc_url, database_url)
    assert progress.reorgs == 1

    fresh = f"sqlite:///{tmp_path}/fresh.sqlite3"
    from backend.migrate import upgrade
    upgrade(fresh)
    run_indexer(dao, anvil.rpc_url, fresh)
    assert dump(database_url) == dump(fresh)
    assert_tallies_equal_chain(dao, database_url)


def test_rollback_to_a_shorter_chain(private_chain, database_url, tmp_path):
    anvil, dao = private_chain
    voters = dao.members([RESIDENT] * 6)
    proposal = dao.propose("rollback")
    dao.start_voting(proposal)
    for voter in voters:
        dao.vote_by_sig(proposal, voter, AGAINST)
    run_indexer(dao, anvil.rpc_url, database_url)
    dao.w3.provider.make_request("anvil_rollback", [4])
    progress = run_indexer(dao, anvil.rpc_url, database_url)
    assert progress.reorgs == 1 and progress.cursor == dao.block_number()
    fresh = f"sqlite:///{tmp_path}/fresh.sqlite3"
    from backend.migrate import upgrade
    upgrade(fresh)
    run_indexer(dao, anvil.rpc_url, fresh)
    assert dump(database_url) == dump(fresh)


def test_confirmation_depth_leaves_the_newest_blocks_alone(dao, anvil, database_url):
    voters = dao.members([RESIDENT] * 5)
    proposal = dao.propose("confirmations")
    dao.start_voting(proposal)
    for voter in voters:
        dao.vote_by_sig(proposal, voter, FOR)
    head = dao.block_number()
    progress = run_indexer(dao, anvil.rpc_url, database_url, confirmations=3)
    assert progress.cursor == head - 3
    assert len(rows(database_url, m.Vote)) == 2  # the last three ballots are not final yet
    assert all(v.block_number <= head - 3 for v in rows(database_url, m.Vote))


def test_follow_mode_indexes_new_blocks_as_they_come(dao, anvil, database_url):
    import threading
    import time

    from backend.db import make_engine, session_factory
    from indexer.rpc import RpcClient
    from indexer.runner import Indexer

    engine = make_engine(database_url)
    indexer = Indexer(sessions=session_factory(engine), rpc=RpcClient(anvil.rpc_url), deployment=dao.deployment)
    follower = threading.Thread(target=indexer.run, kwargs={"poll_interval": 0.05})
    follower.start()
    try:
        voter = dao.issue(RESIDENT)
        proposal = dao.propose("followed")
        dao.start_voting(proposal)
        dao.vote_by_sig(proposal, voter, FOR)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and indexer.progress.cursor < dao.block_number():
            time.sleep(0.05)
    finally:
        indexer.request_stop()
        follower.join(timeout=20)
        engine.dispose()
    assert not follower.is_alive()
    assert [v.voter for v in rows(database_url, m.Vote)] == [voter.address]
