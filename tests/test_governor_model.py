"""Property: for random voters, segments, ballots and categories, the governor's tallies and final state equal a
plain Python model of the rules (quorum of for + abstain; majority; double majority for town planning)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.chain.reverts import ContractRevert
from tests.dao import CULTURE, FOR, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT, TOWN_PLANNING

SEGMENTS = (RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION)


@dataclass(frozen=True)
class Outcome:
    tallies: dict[int, tuple[int, int, int]]  # segment -> (against, for, abstain)
    state: str


def model(category: int, members: list[tuple[int, int | None]], quorum_percent: int) -> Outcome:
    """The rules as a city official would state them, with no reference to the contract."""
    tallies = {s: [0, 0, 0] for s in SEGMENTS}
    for segment, support in members:
        if support is not None:
            tallies[segment][support] += 1
    against = sum(t[0] for t in tallies.values())
    in_favour = sum(t[1] for t in tallies.values())
    abstain = sum(t[2] for t in tallies.values())
    quorum = len(members) * quorum_percent // 100
    passed = quorum <= in_favour + abstain and in_favour > against
    if category == TOWN_PLANNING:
        passed = passed and tallies[RESIDENT][1] > tallies[RESIDENT][0]
    return Outcome({s: tuple(t) for s, t in tallies.items()}, "Succeeded" if passed else "Defeated")


members_strategy = st.lists(
    st.tuples(st.sampled_from(SEGMENTS), st.one_of(st.none(), st.integers(0, 2))), min_size=1, max_size=10
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    category=st.sampled_from([CULTURE, TOWN_PLANNING]),
    members=members_strategy,
    late_joiners=st.integers(0, 2),
)
def test_chain_equals_model(session_dao, category, members, late_joiners):
    dao = session_dao
    snapshot = dao.client.snapshot()
    try:
        accounts = dao.members([segment for segment, _ in members])
        proposal = dao.propose(f"property {category} {members}", category)
        dao.start_voting(proposal)
        for late in dao.members([RESIDENT] * late_joiners):  # joined after the snapshot: refused, not counted
            try:
                dao.vote_by_sig(proposal, late, FOR)
            except ContractRevert as exc:
                assert exc.error == "CityGovernorNotMemberAtSnapshot"
            else:
                raise AssertionError("a member who joined after the snapshot could vote")
        for account, (_segment, support) in zip(accounts, members):
            if support is not None:
                dao.vote_by_sig(proposal, account, support)
        dao.end_voting(proposal)

        expected = model(category, members, dao.deployment.params.quorum_percent)
        assert dao.tallies(proposal) == expected.tallies
        overall = dao.governor.functions.proposalVotes(proposal.proposal_id).call()
        assert overall == [sum(t[i] for t in expected.tallies.values()) for i in range(3)]
        assert dao.state(proposal) == expected.state
    finally:
        dao.client.revert(snapshot)


def test_model_knows_the_double_majority():
    """The model itself, on the case the city cares most about."""
    members = [(RESIDENT, 0), (RESIDENT, 0), (RELATIONSHIP_POPULATION, 1), (RELATIONSHIP_POPULATION, 1),
               (ORGANISATION, 1)]
    assert model(CULTURE, members, 10).state == "Succeeded"
    assert model(TOWN_PLANNING, members, 10).state == "Defeated"
