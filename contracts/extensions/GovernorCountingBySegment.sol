// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {MembershipCard} from "../MembershipCard.sol";
import {Segment} from "../Segment.sol";

/**
 * @title GovernorCountingBySegment
 * @notice Governor counting, as OpenZeppelin's `GovernorCountingSimple` does it (against, for, abstain; quorum of
 * for + abstain), but kept per member segment, and with a category per proposal whose rule decides success.
 *
 * Categories and their rules:
 *   - CULTURE (0, the default of the standard `propose`): quorum of for + abstain, and more for than against.
 *   - TOWN_PLANNING (1): the same, and a majority of the resident voters too (double majority): more resident for
 *     than resident against. With no resident ballots, a town-planning proposal does not pass.
 *
 * @dev Votes are counted in the segment the voter held as of the proposal's snapshot, read from {MembershipCard}.
 * Tallies are packed one slot per (proposal, segment); "has voted" is a bitmap keyed by member number. Together
 * they keep a ballot no dearer than OpenZeppelin's simple counting even though every ballot is counted twice over.
 * The errors keep the `CityGovernor` prefix they were published with: clients and the service match on them.
 *
 * A governor using this extension calls {_categorize} from its `_propose`, right after the proposal is created.
 */
abstract contract GovernorCountingBySegment is Governor {
    using BitMaps for BitMaps.BitMap;

    uint8 public constant CATEGORY_CULTURE = 0;
    uint8 public constant CATEGORY_TOWN_PLANNING = 1;
    uint8 public constant CATEGORY_COUNT = 2;

    /// @dev Bravo vote types, as in GovernorCountingSimple.
    uint8 private constant _AGAINST = 0;
    uint8 private constant _FOR = 1;
    uint8 private constant _ABSTAIN = 2;

    /// @dev One slot per (proposal, segment). The resident slot also carries the proposal's category in its spare
    /// bits: state() reads that slot anyway, so the category rule costs no extra storage read.
    struct SegmentTally {
        uint80 againstVotes;
        uint80 forVotes;
        uint80 abstainVotes;
        uint8 category;
    }

    MembershipCard private immutable _card;

    mapping(uint256 proposalId => mapping(uint8 segment => SegmentTally)) private _tallies;
    mapping(uint256 proposalId => BitMaps.BitMap) private _voted;
    /// @dev Category handed from {proposeWithCategory} to {_propose} within one call.
    uint8 private transient _nextCategory;

    /// @notice Proposal `proposalId` was created in `category`. Emitted for every proposal, right after ProposalCreated.
    event ProposalCategorized(uint256 indexed proposalId, uint8 category);
    /// @notice `voter`'s ballot on `proposalId` was counted in `segment` (their segment as of the snapshot).
    event SegmentVoteCounted(uint256 indexed proposalId, address indexed voter, uint8 indexed segment);

    error CityGovernorInvalidCategory(uint8 category);
    error CityGovernorNotMemberAtSnapshot(address voter, uint256 snapshot);

    constructor(MembershipCard card) {
        _card = card;
    }

    // ------------------------------------------------------------------ proposals and categories

    /**
     * @notice Create a proposal in `category` (see the contract notes for the rules). The standard {propose}
     * creates a CULTURE proposal.
     */
    function proposeWithCategory(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        string memory description,
        uint8 category
    ) public returns (uint256) {
        if (category >= CATEGORY_COUNT) revert CityGovernorInvalidCategory(category);
        _nextCategory = category;
        return propose(targets, values, calldatas, description);
    }

    /// @notice The category of `proposalId`.
    function proposalCategory(uint256 proposalId) external view returns (uint8) {
        if (proposalSnapshot(proposalId) == 0) revert GovernorNonexistentProposal(proposalId);
        return _tallies[proposalId][Segment.RESIDENT].category;
    }

    /// @notice Whether proposals of `category` also need a majority among resident voters.
    function requiresResidentMajority(uint8 category) public pure returns (bool) {
        if (category >= CATEGORY_COUNT) revert CityGovernorInvalidCategory(category);
        return category == CATEGORY_TOWN_PLANNING;
    }

    // ------------------------------------------------------------------ counting

    /// @inheritdoc IGovernor
    // solhint-disable-next-line func-name-mixedcase
    function COUNTING_MODE() public pure virtual override returns (string memory) {
        return "support=bravo&quorum=for,abstain&tally=segment";
    }

    /// @inheritdoc IGovernor
    function hasVoted(uint256 proposalId, address account) public view virtual override returns (bool) {
        uint256 memberNumber = _card.memberNumberOf(account);
        return memberNumber != 0 && _voted[proposalId].get(memberNumber);
    }

    /// @notice Totals over all segments, as GovernorCountingSimple reports them.
    function proposalVotes(
        uint256 proposalId
    ) public view virtual returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes) {
        for (uint8 segment = Segment.RESIDENT; segment <= Segment.COUNT; ++segment) {
            SegmentTally memory t = _tallies[proposalId][segment];
            againstVotes += t.againstVotes;
            forVotes += t.forVotes;
            abstainVotes += t.abstainVotes;
        }
    }

    /// @notice The tally of one segment (1 resident, 2 relationship population, 3 organisation).
    function proposalVotesBySegment(
        uint256 proposalId,
        uint8 segment
    ) external view returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes) {
        if (!Segment.isValid(segment)) revert MembershipCard.MembershipCardInvalidSegment(segment);
        SegmentTally memory t = _tallies[proposalId][segment];
        return (t.againstVotes, t.forVotes, t.abstainVotes);
    }

    /// @inheritdoc Governor
    function _quorumReached(uint256 proposalId) internal view virtual override returns (bool) {
        (, uint256 forVotes, uint256 abstainVotes) = proposalVotes(proposalId);
        return quorum(proposalSnapshot(proposalId)) <= forVotes + abstainVotes;
    }

    /// @inheritdoc Governor
    function _voteSucceeded(uint256 proposalId) internal view virtual override returns (bool) {
        (uint256 againstVotes, uint256 forVotes, ) = proposalVotes(proposalId);
        if (forVotes <= againstVotes) return false;
        SegmentTally memory residents = _tallies[proposalId][Segment.RESIDENT];
        if (residents.category == CATEGORY_TOWN_PLANNING) return residents.forVotes > residents.againstVotes;
        return true;
    }

    /// @inheritdoc Governor
    function _countVote(
        uint256 proposalId,
        address account,
        uint8 support,
        uint256 totalWeight,
        bytes memory // params
    ) internal virtual override returns (uint256) {
        uint256 snapshot = proposalSnapshot(proposalId);
        (uint256 memberNumber, uint8 segment) = _card.getPastMembership(account, snapshot);
        if (segment == Segment.NONE) revert CityGovernorNotMemberAtSnapshot(account, snapshot);

        BitMaps.BitMap storage voted = _voted[proposalId];
        if (voted.get(memberNumber)) revert GovernorAlreadyCastVote(account);
        voted.set(memberNumber);

        // totalWeight is 1 (one card per address); uint80 cannot overflow with fewer than 2^80 members.
        SegmentTally storage tally = _tallies[proposalId][segment];
        uint80 weight = uint80(totalWeight);
        if (support == _AGAINST) {
            tally.againstVotes += weight;
        } else if (support == _FOR) {
            tally.forVotes += weight;
        } else if (support == _ABSTAIN) {
            tally.abstainVotes += weight;
        } else {
            revert GovernorInvalidVoteType();
        }
        emit SegmentVoteCounted(proposalId, account, segment);
        return totalWeight;
    }

    /// @dev Record the category of a new proposal (from {proposeWithCategory}, else culture) and emit
    /// {ProposalCategorized}. A governor using this extension calls it from its `_propose`, right after the
    /// proposal is created.
    function _categorize(uint256 proposalId) internal {
        uint8 category = _nextCategory;
        if (category != CATEGORY_CULTURE) {
            _tallies[proposalId][Segment.RESIDENT].category = category;
            _nextCategory = CATEGORY_CULTURE;
        }
        emit ProposalCategorized(proposalId, category);
    }
}
