// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Utils} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Utils.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {IERC5192} from "./interfaces/IERC5192.sol";
import {MembershipCard} from "./MembershipCard.sol";

/**
 * @title CommunityBadges
 * @notice Badges of cultural organisations: attendance at (metaverse) events, cultural works, community perks.
 *
 * An issuer (an address holding `ISSUER_ROLE` in the {MembershipCard} role registry) creates a badge type with its
 * metadata URI, maximum supply, kind and whether it is soulbound; only that issuer mints it, to many recipients in
 * one transaction (the airdrop after an event).
 *
 * @dev Soulbound types (attendance badges, POAP lesson: they must not be farmed or traded) can only be held by DAO
 * members and are recorded as one bit per (badge type, member number), 256 members to a storage slot: a member's
 * badges stay with their address for good, even if they leave and rejoin, and an airdrop to 100 members writes a
 * handful of slots instead of 100. Transferable types use ERC-1155's ordinary balances. Either way every mint emits
 * `TransferSingle` and follows the standard's safe transfer rules (a contract recipient must accept it through
 * `onERC1155Received`), so wallets, accounts and indexers see standard ERC-1155.
 */
contract CommunityBadges is ERC1155, IERC5192 {
    using BitMaps for BitMaps.BitMap;

    uint8 public constant KIND_ATTENDANCE = 0;
    uint8 public constant KIND_CULTURAL_WORK = 1;
    uint8 public constant KIND_PERK = 2;

    /// @dev One slot per badge type. `maxSupply` 0 means unlimited.
    struct BadgeType {
        address issuer;
        uint8 kind;
        bool soulbound;
        uint40 maxSupply;
        uint40 minted;
    }

    MembershipCard public immutable membershipCard;
    bytes32 private immutable _issuerRole;

    mapping(uint256 badgeTypeId => BadgeType) private _badgeTypes;
    mapping(uint256 badgeTypeId => string) private _uris;
    /// @dev Soulbound holdings: bit `memberNumber` is set when that member holds the badge type.
    mapping(uint256 badgeTypeId => BitMaps.BitMap) private _soulboundHolders;
    uint256 private _lastBadgeTypeId;

    /// @notice `issuer` created badge type `badgeTypeId`.
    event BadgeTypeCreated(
        uint256 indexed badgeTypeId,
        address indexed issuer,
        uint8 kind,
        bool soulbound,
        uint256 maxSupply,
        string uri
    );

    error CommunityBadgesNotIssuer(address account);
    error CommunityBadgesUnauthorizedMinter(address account, uint256 badgeTypeId);
    error CommunityBadgesUnknownBadgeType(uint256 badgeTypeId);
    error CommunityBadgesInvalidKind(uint8 kind);
    error CommunityBadgesEmptyURI();
    error CommunityBadgesNoRecipients();
    error CommunityBadgesMaxSupplyExceeded(uint256 badgeTypeId, uint256 maxSupply, uint256 requested);
    error CommunityBadgesRecipientNotMember(address recipient);
    error CommunityBadgesAlreadyHeld(uint256 badgeTypeId, address recipient);
    error CommunityBadgesSoulbound(uint256 badgeTypeId);

    constructor(MembershipCard card) ERC1155("") {
        membershipCard = card;
        _issuerRole = card.ISSUER_ROLE();
    }

    /**
     * @notice Create a badge type. Only an issuer.
     * @param metadataURI metadata URI (usually `ipfs://CID`), also returned by {uri}.
     * @param maxSupply cap on the number minted, 0 for none.
     * @param soulbound whether badges of this type are locked to their holder (members only).
     * @param kind 0 attendance, 1 cultural work, 2 perk.
     */
    function createBadgeType(
        string calldata metadataURI,
        uint40 maxSupply,
        bool soulbound,
        uint8 kind
    ) external returns (uint256 badgeTypeId) {
        address issuer = _msgSender();
        if (!IAccessControl(address(membershipCard)).hasRole(_issuerRole, issuer)) {
            revert CommunityBadgesNotIssuer(issuer);
        }
        if (kind > KIND_PERK) revert CommunityBadgesInvalidKind(kind);
        if (bytes(metadataURI).length == 0) revert CommunityBadgesEmptyURI();

        badgeTypeId = ++_lastBadgeTypeId;
        _badgeTypes[badgeTypeId] = BadgeType(issuer, kind, soulbound, maxSupply, 0);
        _uris[badgeTypeId] = metadataURI;

        emit BadgeTypeCreated(badgeTypeId, issuer, kind, soulbound, maxSupply, metadataURI);
        emit URI(metadataURI, badgeTypeId);
        if (soulbound) emit Locked(badgeTypeId);
    }

    /**
     * @notice Mint one badge of `badgeTypeId` to each of `recipients`. Only the type's issuer, while it is an issuer.
     * @dev All or nothing: a recipient who already holds a soulbound type, or is not a member, or is a contract that
     * does not accept ERC-1155 tokens, refuses the batch.
     */
    function mint(uint256 badgeTypeId, address[] calldata recipients) external {
        BadgeType memory t = _requireBadgeType(badgeTypeId);
        address operator = _msgSender();
        if (
            operator != t.issuer ||
            !IAccessControl(address(membershipCard)).hasRole(_issuerRole, operator)
        ) {
            revert CommunityBadgesUnauthorizedMinter(operator, badgeTypeId);
        }
        uint256 count = recipients.length;
        if (count == 0) revert CommunityBadgesNoRecipients();
        uint256 minted = t.minted + count;
        if (t.maxSupply != 0 && minted > t.maxSupply) {
            revert CommunityBadgesMaxSupplyExceeded(badgeTypeId, t.maxSupply, minted);
        }
        _badgeTypes[badgeTypeId].minted = uint40(minted);

        if (t.soulbound) {
            BitMaps.BitMap storage holders = _soulboundHolders[badgeTypeId];
            for (uint256 i = 0; i < count; ++i) {
                address recipient = recipients[i];
                uint256 memberNumber = membershipCard.memberNumberOf(recipient);
                if (memberNumber == 0) revert CommunityBadgesRecipientNotMember(recipient);
                if (holders.get(memberNumber)) revert CommunityBadgesAlreadyHeld(badgeTypeId, recipient);
                holders.set(memberNumber);
                emit TransferSingle(operator, address(0), recipient, badgeTypeId, 1);
                // ERC-1155's safe transfer rules hold for every mint: a contract recipient (a member's passkey
                // account) must answer onERC1155Received, or the batch reverts. EOAs are skipped by the library.
                ERC1155Utils.checkOnERC1155Received(operator, address(0), recipient, badgeTypeId, 1, "");
            }
        } else {
            for (uint256 i = 0; i < count; ++i) {
                _mint(recipients[i], badgeTypeId, 1, "");
            }
        }
    }

    /// @notice The badge type `badgeTypeId`: issuer, kind, soulbound, max supply (0 = none), minted so far.
    function badgeType(
        uint256 badgeTypeId
    ) external view returns (address issuer, uint8 kind, bool soulbound, uint256 maxSupply, uint256 minted) {
        BadgeType memory t = _requireBadgeType(badgeTypeId);
        return (t.issuer, t.kind, t.soulbound, t.maxSupply, t.minted);
    }

    /// @notice Number of badge types created so far (ids run from 1).
    function badgeTypeCount() external view returns (uint256) {
        return _lastBadgeTypeId;
    }

    /// @inheritdoc ERC1155
    function uri(uint256 badgeTypeId) public view override returns (string memory) {
        _requireBadgeType(badgeTypeId);
        return _uris[badgeTypeId];
    }

    /// @inheritdoc ERC1155
    function balanceOf(address account, uint256 badgeTypeId) public view override returns (uint256) {
        if (_badgeTypes[badgeTypeId].soulbound) {
            uint256 memberNumber = membershipCard.memberNumberOf(account);
            return memberNumber != 0 && _soulboundHolders[badgeTypeId].get(memberNumber) ? 1 : 0;
        }
        return super.balanceOf(account, badgeTypeId);
    }

    /// @notice ERC-5192 for ERC-1155 ids: whether badges of this type are soulbound.
    function locked(uint256 badgeTypeId) external view returns (bool) {
        return _requireBadgeType(badgeTypeId).soulbound;
    }

    /// @inheritdoc ERC1155
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC5192).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @dev Soulbound badges never reach here (they are minted above without `_update`), so any transfer of one
    /// is refused outright.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values) internal override {
        for (uint256 i = 0; i < ids.length; ++i) {
            if (_badgeTypes[ids[i]].soulbound) revert CommunityBadgesSoulbound(ids[i]);
        }
        super._update(from, to, ids, values);
    }

    function _requireBadgeType(uint256 badgeTypeId) private view returns (BadgeType memory t) {
        t = _badgeTypes[badgeTypeId];
        if (t.issuer == address(0)) revert CommunityBadgesUnknownBadgeType(badgeTypeId);
    }
}
