"""The domain's words, each defined once: the number the contracts use and the word JSON, SQL values, URLs and the
pages use. tests/test_vocabulary.py checks every number against the contracts (their public constants on a
deployed chain, or their source where a constant is internal), so Solidity, SQL, Python and JSON cannot drift.

    Segment.RESIDENT == 1, Segment.RESIDENT.word == "resident", Segment.of_word("resident") is Segment.RESIDENT
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import TypeVar

from eth_utils import keccak

T = TypeVar("T", bound="Term")


class Term(IntEnum):
    """A number on chain with its word off chain (lower case, hyphens: `relationship-population`)."""

    @property
    def word(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def words(cls) -> tuple[str, ...]:
        return tuple(member.word for member in cls)

    @classmethod
    def of_word(cls: type[T], word: str) -> T:
        """The term for `word`; ValueError naming the words there are."""
        for member in cls:
            if member.word == word:
                return member
        raise ValueError(f"{word!r} is not one of {', '.join(cls.words())}")

    @classmethod
    def word_of(cls, number: int) -> str:
        """The word of a number read from the chain or the database (the number itself, as text, if unknown)."""
        try:
            return cls(number).word
        except ValueError:
            return str(number)


class Segment(Term):
    """contracts/Segment.sol: a member's segment (0 = none, not a member)."""

    RESIDENT = 1
    RELATIONSHIP_POPULATION = 2
    ORGANISATION = 3


class Category(Term):
    """CityGovernor CATEGORY_*: the rule a proposal is decided by. Town planning also needs a resident majority."""

    CULTURE = 0
    TOWN_PLANNING = 1


class Support(Term):
    """Governor Bravo vote types (GovernorCountingSimple `VoteType`, CityGovernor `_AGAINST` ...)."""

    AGAINST = 0
    FOR = 1
    ABSTAIN = 2


class OutcomeStatus(Term):
    """OutcomeRegistry STATUS_*: what became of a proposal."""

    ADOPTED = 1
    REJECTED = 2
    IN_PROGRESS = 3
    IMPLEMENTED = 4
    ABANDONED = 5


class BadgeKind(Term):
    """CommunityBadges KIND_*."""

    ATTENDANCE = 0
    CULTURAL_WORK = 1
    PERK = 2


#: The issues board's words (off chain only): what an issue is about, and where it stands.
ISSUE_CATEGORIES = ("culture", "town-planning", "tourism", "environment", "welfare", "education", "disaster-prevention",
                    "other")
ISSUE_STATUSES = ("open", "in-progress", "resolved", "closed")


class ProposalState(Term):
    """OpenZeppelin IGovernor.ProposalState, in its order. Its words are the governor's own names ("Pending")."""

    PENDING = 0
    ACTIVE = 1
    CANCELED = 2
    DEFEATED = 3
    SUCCEEDED = 4
    QUEUED = 5
    EXPIRED = 6
    EXECUTED = 7

    @property
    def word(self) -> str:
        return self.name.capitalize()


class Role(StrEnum):
    """Roles of a signed-in principal, as the API names them (backend/services/roles.py derives them from the
    chain as indexed)."""

    CITY = "city"
    ORGANISATION = "organisation"
    MEMBER = "member"


def _role_id(name: str) -> str:
    return "0x" + keccak(text=name).hex()


class ChainRole(StrEnum):
    """AccessControl role ids (bytes32, 0x hex) of MembershipCard and the TimelockController."""

    DEFAULT_ADMIN_ROLE = "0x" + "00" * 32
    ISSUER_ROLE = _role_id("ISSUER_ROLE")
    PROPOSER_ROLE = _role_id("PROPOSER_ROLE")
    EXECUTOR_ROLE = _role_id("EXECUTOR_ROLE")
    CANCELLER_ROLE = _role_id("CANCELLER_ROLE")

    @property
    def id_bytes(self) -> bytes:
        return bytes.fromhex(self.value[2:])


class JobStatus(StrEnum):
    """A relayed job: pending -> submitted (signed, sent) -> included (mined, fewer than `confirmations` blocks on
    top) -> confirmed (final) | failed (refused for good). A reorg sends an included job back to submitted."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    INCLUDED = "included"
    CONFIRMED = "confirmed"
    FAILED = "failed"


#: Statuses of a job the worker still works on, and final ones.
OPEN_JOB_STATUSES = (JobStatus.PENDING.value, JobStatus.SUBMITTED.value, JobStatus.INCLUDED.value)
FINAL_JOB_STATUSES = (JobStatus.CONFIRMED.value, JobStatus.FAILED.value)
#: Not on chain yet: a voter's later ballot waits for these (an included one is in a block already).
IN_FLIGHT_JOB_STATUSES = (JobStatus.PENDING.value, JobStatus.SUBMITTED.value)


class JobKind(StrEnum):
    """What a relayed job does; each kind's call and result are registered in backend/services/relay.py."""

    BALLOT = "ballot"
    CLAIM = "claim"
    PROPOSE = "propose"
    QUEUE_PROPOSAL = "queue-proposal"
    EXECUTE_PROPOSAL = "execute-proposal"
    GRANT_ISSUER = "grant-issuer"
    CREATE_BADGE_TYPE = "create-badge-type"
    MINT_BADGES = "mint-badges"
    PUBLISH_OUTCOME = "publish-outcome"
