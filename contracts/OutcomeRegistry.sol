// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";

/**
 * @title OutcomeRegistry
 * @notice Where the city publishes what became of each proposal: its status, a report (`ipfs://CID`) and the
 * report's content hash, so anyone can check the published report against the chain. Every update is kept.
 *
 * Statuses: 1 adopted (採択), 2 rejected (不採択), 3 in progress (実施中), 4 implemented (実施済), 5 abandoned (中止).
 * An outcome can only be published once voting on the proposal has ended (Pending and Active are refused).
 *
 * @dev The city is whoever holds `DEFAULT_ADMIN_ROLE` in the {MembershipCard} role registry.
 */
contract OutcomeRegistry {
    uint8 public constant STATUS_ADOPTED = 1;
    uint8 public constant STATUS_REJECTED = 2;
    uint8 public constant STATUS_IN_PROGRESS = 3;
    uint8 public constant STATUS_IMPLEMENTED = 4;
    uint8 public constant STATUS_ABANDONED = 5;

    struct Outcome {
        uint8 status;
        uint48 publishedAt;
        address publisher;
        bytes32 contentHash;
        string reportURI;
    }

    IAccessControl public immutable roles;
    IGovernor public immutable governor;

    mapping(uint256 proposalId => Outcome[]) private _outcomes;

    /// @notice Version `version` (0-based) of the outcome of `proposalId` was published.
    event OutcomePublished(
        uint256 indexed proposalId,
        uint256 indexed version,
        uint8 status,
        string reportURI,
        bytes32 contentHash,
        address indexed publisher
    );

    error OutcomeRegistryUnauthorized(address account);
    error OutcomeRegistryUnknownProposal(uint256 proposalId);
    error OutcomeRegistryVotingNotEnded(uint256 proposalId, IGovernor.ProposalState state);
    error OutcomeRegistryInvalidStatus(uint8 status);
    error OutcomeRegistryEmptyReport();
    error OutcomeRegistryNoOutcome(uint256 proposalId);

    constructor(IAccessControl roles_, IGovernor governor_) {
        roles = roles_;
        governor = governor_;
    }

    /**
     * @notice Publish (or update) the outcome of `proposalId`. Only the city.
     * @param reportURI where the report lives, usually `ipfs://CID`.
     * @param contentHash keccak-256 of the report's bytes, so a reader can check what they fetched.
     */
    function publishOutcome(uint256 proposalId, uint8 status, string calldata reportURI, bytes32 contentHash) external {
        if (!roles.hasRole(bytes32(0), msg.sender)) revert OutcomeRegistryUnauthorized(msg.sender);
        if (status < STATUS_ADOPTED || status > STATUS_ABANDONED) revert OutcomeRegistryInvalidStatus(status);
        if (bytes(reportURI).length == 0 || contentHash == bytes32(0)) revert OutcomeRegistryEmptyReport();
        if (governor.proposalSnapshot(proposalId) == 0) revert OutcomeRegistryUnknownProposal(proposalId);
        IGovernor.ProposalState state = governor.state(proposalId);
        if (state == IGovernor.ProposalState.Pending || state == IGovernor.ProposalState.Active) {
            revert OutcomeRegistryVotingNotEnded(proposalId, state);
        }

        Outcome[] storage history = _outcomes[proposalId];
        history.push(Outcome(status, uint48(block.timestamp), msg.sender, contentHash, reportURI));
        emit OutcomePublished(proposalId, history.length - 1, status, reportURI, contentHash, msg.sender);
    }

    /// @notice Number of versions published for `proposalId` (0 if none).
    function outcomeCount(uint256 proposalId) external view returns (uint256) {
        return _outcomes[proposalId].length;
    }

    /// @notice Version `version` of the outcome of `proposalId`.
    function outcomeAt(uint256 proposalId, uint256 version) public view returns (Outcome memory) {
        Outcome[] storage history = _outcomes[proposalId];
        if (version >= history.length) revert OutcomeRegistryNoOutcome(proposalId);
        return history[version];
    }

    /// @notice The current outcome of `proposalId`.
    function latestOutcome(uint256 proposalId) external view returns (Outcome memory) {
        uint256 count = _outcomes[proposalId].length;
        if (count == 0) revert OutcomeRegistryNoOutcome(proposalId);
        return outcomeAt(proposalId, count - 1);
    }
}
