// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {GovernorVotesQuorumFraction} from "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {MembershipCard} from "./MembershipCard.sol";
import {GovernorCountingBySegment} from "./extensions/GovernorCountingBySegment.sol";

/**
 * @title CityGovernor
 * @notice The Kanazawa co-creation DAO's governor: one vote per membership card, ballots counted per member
 * segment with a category rule per proposal ({GovernorCountingBySegment}), and a timelock that executes.
 *
 * Proposal states (OpenZeppelin Governor with timelock):
 *
 *     propose ──► Pending ──(voting delay)──► Active ──(deadline)──┬──► Defeated (no quorum, or the category rule fails)
 *                    │                           │                 └──► Succeeded ──queue──► Queued ──(timelock delay)──execute──► Executed
 *                    └──────────── cancel (proposer, while Pending) ──► Canceled            └──(timelock operation cancelled)──► Canceled
 *
 * @dev The usual OpenZeppelin composition, and nothing else: settings, votes from {MembershipCard}, quorum
 * fraction, timelock control, and the segment counting (whose `_categorize` hook `_propose` calls).
 */
contract CityGovernor is GovernorSettings, GovernorCountingBySegment, GovernorVotesQuorumFraction, GovernorTimelockControl {
    constructor(
        MembershipCard card,
        TimelockController timelock,
        uint48 votingDelay_,
        uint32 votingPeriod_,
        uint256 proposalThreshold_,
        uint256 quorumPercent
    )
        Governor("Kanazawa DAO Governor")
        GovernorSettings(votingDelay_, votingPeriod_, proposalThreshold_)
        GovernorCountingBySegment(card)
        GovernorVotes(card)
        GovernorVotesQuorumFraction(quorumPercent)
        GovernorTimelockControl(timelock)
    {}

    // ------------------------------------------------------------------ OpenZeppelin boilerplate

    /// @dev The one hook the segment counting needs: each new proposal gets its category. (An override of
    /// `_propose` in the extension itself would need this override anyway, and cost another internal call.)
    function _propose(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        string memory description,
        address proposer
    ) internal override returns (uint256 proposalId) {
        proposalId = super._propose(targets, values, calldatas, description, proposer);
        _categorize(proposalId);
    }

    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function state(uint256 proposalId) public view override(Governor, GovernorTimelockControl) returns (ProposalState) {
        return super.state(proposalId);
    }

    function proposalNeedsQueuing(
        uint256 proposalId
    ) public view override(Governor, GovernorTimelockControl) returns (bool) {
        return super.proposalNeedsQueuing(proposalId);
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}
