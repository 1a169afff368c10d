"""The domain's vocabulary (backend/domain/vocabulary.py) against the contracts it names: every number checked
against the deployed contracts' public constants, or against their source where a constant is internal, so that
Solidity, SQL, Python and JSON cannot drift; and every word the pages show has its Japanese and English text."""

from __future__ import annotations

import re

import pytest

from backend.chain.reverts import ContractRevert
from backend.domain.vocabulary import (
    ISSUE_CATEGORIES,
    ISSUE_STATUSES,
    BadgeKind,
    Category,
    ChainRole,
    JobKind,
    JobStatus,
    OutcomeStatus,
    ProposalState,
    Segment,
    Support,
)
from backend.paths import CONTRACTS_DIR, NODE_MODULES

OZ = NODE_MODULES / "@openzeppelin" / "contracts"


def _constants(path, prefix: str = "") -> dict[str, int]:
    """`uint8 [public|internal] constant NAME = N;` in a Solidity source."""
    text = path.read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        rf"uint8 (?:public|internal|private) constant {prefix}([A-Z_]+) = (\d+);", text)}


def _enum(path, name: str) -> list[str]:
    body = re.search(rf"enum {name} \{{([^}}]*)\}}", path.read_text()).group(1)
    return [member.strip() for member in body.split(",") if member.strip()]


def test_segments_are_the_cards():
    constants = _constants(CONTRACTS_DIR / "Segment.sol")
    assert {s.name: s.value for s in Segment} == {k: v for k, v in constants.items() if k not in ("NONE", "COUNT")}
    assert constants["COUNT"] == len(Segment) and constants["NONE"] == 0


def test_segments_are_refused_outside_the_vocabulary(dao):
    for segment in Segment:
        assert dao.client.call(dao.governor.functions.proposalVotesBySegment(1, segment)) == [0, 0, 0]
    for outside in (0, max(Segment) + 1):
        with pytest.raises(ContractRevert, match="MembershipCardInvalidSegment"):
            dao.client.call(dao.governor.functions.proposalVotesBySegment(1, outside))


def test_categories_outcome_statuses_and_badge_kinds_are_the_contracts_constants(dao):
    assert {c.name: c.value for c in Category} == {
        name.removeprefix("CATEGORY_"): getattr(dao.governor.functions, name)().call()
        for name in ("CATEGORY_CULTURE", "CATEGORY_TOWN_PLANNING")}
    assert dao.governor.functions.CATEGORY_COUNT().call() == len(Category)
    assert dao.governor.functions.requiresResidentMajority(Category.TOWN_PLANNING).call()
    assert {s.name: s.value for s in OutcomeStatus} == {
        name: getattr(dao.outcomes.functions, f"STATUS_{name}")().call()
        for name in ("ADOPTED", "REJECTED", "IN_PROGRESS", "IMPLEMENTED", "ABANDONED")}
    assert {k.name: k.value for k in BadgeKind} == {
        name: getattr(dao.badges.functions, f"KIND_{name}")().call() for name in ("ATTENDANCE", "CULTURAL_WORK", "PERK")}


def test_proposal_states_and_support_are_openzeppelins():
    assert [s.name.capitalize() for s in ProposalState] == _enum(OZ / "governance" / "IGovernor.sol", "ProposalState")
    assert [s.word for s in ProposalState] == _enum(OZ / "governance" / "IGovernor.sol", "ProposalState")
    vote_types = _enum(OZ / "governance" / "extensions" / "GovernorCountingSimple.sol", "VoteType")
    assert [s.name.capitalize() for s in Support] == vote_types
    counting = _constants(CONTRACTS_DIR / "extensions" / "GovernorCountingBySegment.sol", prefix="_")
    assert {s.name: s.value for s in Support} == {k: v for k, v in counting.items() if k in ("AGAINST", "FOR", "ABSTAIN")}


def test_chain_roles_are_the_contracts_role_ids(dao):
    assert "0x" + dao.card.functions.ISSUER_ROLE().call().hex() == ChainRole.ISSUER_ROLE
    assert "0x" + dao.card.functions.DEFAULT_ADMIN_ROLE().call().hex() == ChainRole.DEFAULT_ADMIN_ROLE
    for name in ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE"):
        assert "0x" + getattr(dao.timelock.functions, name)().call().hex() == ChainRole[name]


def test_every_job_kind_has_its_payload_and_every_status_fits_the_column():
    from backend.models.relay import RelayJob
    from backend.services import relay

    for kind in JobKind:
        relay.payload_of(RelayJob(kind=kind.value, payload=_example_payload(kind)))
    assert set(relay.JOB_KINDS) == {k.value for k in JobKind}
    assert max(len(s.value) for s in JobStatus) <= RelayJob.__table__.c.status.type.length
    assert max(len(k.value) for k in JobKind) <= RelayJob.__table__.c.kind.type.length


def _example_payload(kind: JobKind) -> dict:
    address, h = "0x" + "11" * 20, "0x" + "22" * 32
    return {
        JobKind.BALLOT: {"proposal_id": "1", "support": 1, "voter": address, "nonce": "0", "signature": h},
        JobKind.CLAIM: {"invitation": {"invitee": address, "segment": 1, "issuer": address, "nonce": "1",
                                       "expiry": "2"}, "signature": h},
        JobKind.PROPOSE: {"proposal_id": "1", "description": "d", "category": 0,
                          "actions": {"targets": [address], "values": ["0"], "calldatas": ["0x"]}},
        JobKind.QUEUE_PROPOSAL: {"proposal_id": "1", "targets": [address], "values": ["0"], "calldatas": ["0x"],
                                 "description_hash": h},
        JobKind.EXECUTE_PROPOSAL: {"proposal_id": "1", "targets": [address], "values": ["0"], "calldatas": ["0x"],
                                   "description_hash": h},
        JobKind.GRANT_ISSUER: {"account": address, "organisation_id": 1},
        JobKind.CREATE_BADGE_TYPE: {"uri": "ipfs://x", "max_supply": 0, "soulbound": True, "kind": 0,
                                    "organisation_id": 1},
        JobKind.MINT_BADGES: {"badge_type_id": 1, "recipients": [address], "event_id": 1},
        JobKind.PUBLISH_OUTCOME: {"proposal_id": "1", "status": 1, "report_uri": "ipfs://x", "content_hash": h},
    }[kind]


def test_every_word_on_the_pages_has_its_text_in_both_languages():
    from frontend_api.pages.results.messages import MESSAGES

    words = [*ProposalState.words(), *Category.words(), *OutcomeStatus.words(), *Segment.words(),
             *BadgeKind.words(), *ISSUE_CATEGORIES, *ISSUE_STATUSES]
    missing = [w for w in words if w not in MESSAGES]
    assert not missing, missing
    assert all(ja and en for ja, en in (MESSAGES[w] for w in words))
