// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Votes} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721Votes.sol";
import {Votes} from "@openzeppelin/contracts/governance/utils/Votes.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {IERC5192} from "./interfaces/IERC5192.sol";
import {Segment} from "./Segment.sol";

/**
 * @title MembershipCard
 * @notice The membership NFT of the Kanazawa co-creation DAO: one soulbound card per person, one vote per card.
 *
 * Each card carries a segment (resident, relationship population, organisation). Cards are issued by an issuer
 * (a cultural organisation holding `ISSUER_ROLE`) directly, or claimed with an EIP-712 invitation signed by an
 * issuer, so that a relayer can submit the claim and the member never needs ETH.
 *
 * This contract is also the DAO's role registry: `DEFAULT_ADMIN_ROLE` is the city, which grants and revokes
 * `ISSUER_ROLE`; `CommunityBadges` and `OutcomeRegistry` read their roles from here, so one grant covers all.
 *
 * @dev Voting: a card is always self-delegated. `delegates(account)` is `account`, so the mint itself moves the
 * vote to the holder (voting power 1 right after the mint, no second transaction, no `_delegatee` write);
 * `delegate(self)` is a no-op (ERC-5805 front ends call it) and delegating elsewhere is refused: one person, one
 * vote, counted in their own segment.
 *
 * Member number: a card's token id is assigned at an address's first card and reused if that address rejoins, so
 * a token id never belongs to two addresses. The governor records "has voted" and badges record soulbound holders
 * in bitmaps keyed by this number, which is what keeps a vote and a 100-recipient airdrop cheap.
 */
contract MembershipCard is ERC721Votes, AccessControl, IERC5192 {
    using BitMaps for BitMaps.BitMap;
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Role of cultural organisations that issue cards, invitations and badges. Admin: the city.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");

    bytes32 private constant _INVITATION_TYPEHASH =
        keccak256("Invitation(address invitee,uint8 segment,address issuer,uint256 nonce,uint256 expiry)");
    bytes32 private constant _LEAVE_TYPEHASH = keccak256("Leave(address member,uint256 nonce,uint256 expiry)");

    /// @notice An issuer's signed offer of a card to one address.
    struct Invitation {
        address invitee;
        uint8 segment;
        address issuer;
        uint256 nonce;
        uint256 expiry;
    }

    /// @dev One slot per address: the current (or last) membership.
    struct Membership {
        uint40 tokenId;
        uint8 segment;
        uint48 since;
        address issuer;
    }

    mapping(address account => Membership) private _memberships;
    /// @dev Segments of earlier memberships keyed by their start, written only when an address rejoins.
    mapping(address account => Checkpoints.Trace208) private _earlierSegments;
    mapping(address issuer => BitMaps.BitMap) private _usedInvitations;
    uint40 private _lastTokenId;
    string private _baseTokenURI;

    /// @notice A card was issued to `member` (directly or by a claimed invitation).
    event CardIssued(uint256 indexed tokenId, address indexed member, uint8 segment, address indexed issuer);
    /// @notice `revoker` (the card's issuer or the city) revoked `member`'s card.
    event CardRevoked(uint256 indexed tokenId, address indexed member, address indexed revoker);
    /// @notice `member` gave their card back.
    event CardLeft(uint256 indexed tokenId, address indexed member);
    /// @notice `issuer` cancelled an invitation before it was claimed.
    event InvitationCancelled(address indexed issuer, uint256 nonce);

    error MembershipCardInvalidSegment(uint8 segment);
    error MembershipCardAlreadyMember(address account);
    error MembershipCardNotMember(address account);
    error MembershipCardSoulbound(uint256 tokenId);
    error MembershipCardDelegationDisabled(address account, address delegatee);
    error MembershipCardInvitationExpired(uint256 expiry, uint256 now_);
    error MembershipCardSignatureExpired(uint256 expiry, uint256 now_);
    error MembershipCardInvalidLeaveSignature(address member);
    error MembershipCardInvitationUsed(address issuer, uint256 nonce);
    error MembershipCardInvalidInvitationSignature(address issuer, address invitee);
    error MembershipCardInvalidIssuer(address issuer);
    error MembershipCardUnauthorizedRevoker(address caller, address member);
    error MembershipCardZeroAddress();

    constructor(
        address city,
        string memory baseTokenURI
    ) ERC721("Kanazawa Co-creation DAO Membership", "KZDAO") EIP712("Kanazawa DAO Membership", "1") {
        if (city == address(0)) revert MembershipCardZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, city);
        _baseTokenURI = baseTokenURI;
    }

    // ------------------------------------------------------------------ issuing

    /**
     * @notice Issue a card of `segment` to `member`. Only an issuer.
     * @return tokenId the member number of `member`.
     */
    function issue(address member, uint8 segment) external onlyRole(ISSUER_ROLE) returns (uint256 tokenId) {
        return _issue(member, segment, _msgSender());
    }

    /**
     * @notice Claim a card with an invitation signed by an issuer. Anyone may submit it (a relayer pays the gas);
     * the card always goes to `invitation.invitee`.
     * @dev The signature is checked with {SignatureChecker}, so an organisation may sign with a contract wallet
     * (ERC-1271). The issuer must still hold `ISSUER_ROLE` when the claim lands.
     */
    function claim(Invitation calldata invitation, bytes calldata signature) external returns (uint256 tokenId) {
        if (block.timestamp > invitation.expiry) {
            revert MembershipCardInvitationExpired(invitation.expiry, block.timestamp);
        }
        if (!hasRole(ISSUER_ROLE, invitation.issuer)) revert MembershipCardInvalidIssuer(invitation.issuer);
        BitMaps.BitMap storage used = _usedInvitations[invitation.issuer];
        if (used.get(invitation.nonce)) revert MembershipCardInvitationUsed(invitation.issuer, invitation.nonce);
        if (!SignatureChecker.isValidSignatureNow(invitation.issuer, invitationDigest(invitation), signature)) {
            revert MembershipCardInvalidInvitationSignature(invitation.issuer, invitation.invitee);
        }
        used.set(invitation.nonce);
        return _issue(invitation.invitee, invitation.segment, invitation.issuer);
    }

    /// @notice Cancel an invitation of the caller's that has not been claimed yet.
    function cancelInvitation(uint256 nonce) external {
        BitMaps.BitMap storage used = _usedInvitations[_msgSender()];
        if (used.get(nonce)) revert MembershipCardInvitationUsed(_msgSender(), nonce);
        used.set(nonce);
        emit InvitationCancelled(_msgSender(), nonce);
    }

    /// @notice Whether `issuer`'s invitation `nonce` has been claimed or cancelled.
    function invitationUsed(address issuer, uint256 nonce) external view returns (bool) {
        return _usedInvitations[issuer].get(nonce);
    }

    /// @notice The EIP-712 digest an issuer signs for `invitation`.
    function invitationDigest(Invitation calldata invitation) public view returns (bytes32) {
        return
            _hashTypedDataV4(
                keccak256(
                    abi.encode(
                        _INVITATION_TYPEHASH,
                        invitation.invitee,
                        invitation.segment,
                        invitation.issuer,
                        invitation.nonce,
                        invitation.expiry
                    )
                )
            );
    }

    // ------------------------------------------------------------------ leaving

    /// @notice Revoke `member`'s card. Only the issuer of that card (while still an issuer) or the city.
    function revoke(address member) external {
        Membership storage membership = _memberships[member];
        uint256 tokenId = membership.tokenId;
        if (tokenId == 0 || _ownerOf(tokenId) != member) revert MembershipCardNotMember(member);
        address caller = _msgSender();
        bool cardIssuer = caller == membership.issuer && hasRole(ISSUER_ROLE, caller);
        if (!cardIssuer && !hasRole(DEFAULT_ADMIN_ROLE, caller)) {
            revert MembershipCardUnauthorizedRevoker(caller, member);
        }
        _burn(tokenId);
        emit CardRevoked(tokenId, member, caller);
    }

    /// @notice Give your own card back. Your vote stops counting from the next snapshot on.
    function leave() external {
        _leave(_msgSender());
    }

    /**
     * @notice Leave with a signed request that anyone (the relayer) submits, so that leaving needs no ETH either.
     * @dev Uses the member's sequential {nonces} (delegation by signature is disabled, so nothing else spends them).
     */
    function leaveBySig(address member, uint256 nonce, uint256 expiry, bytes calldata signature) external {
        if (block.timestamp > expiry) revert MembershipCardSignatureExpired(expiry, block.timestamp);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(_LEAVE_TYPEHASH, member, nonce, expiry)));
        if (!SignatureChecker.isValidSignatureNow(member, digest, signature)) {
            revert MembershipCardInvalidLeaveSignature(member);
        }
        _useCheckedNonce(member, nonce);
        _leave(member);
    }

    // ------------------------------------------------------------------ views

    /**
     * @notice The membership of `account`: member number (0 if never a member), segment, issuer, start and whether
     * the card is currently held.
     */
    function membershipOf(
        address account
    ) external view returns (uint256 tokenId, uint8 segment, address issuer, uint48 since, bool active) {
        Membership memory m = _memberships[account];
        active = m.tokenId != 0 && _ownerOf(m.tokenId) == account;
        return (m.tokenId, active ? m.segment : Segment.NONE, m.issuer, m.since, active);
    }

    /// @notice The member number of `account`: stable across leaving and rejoining, 0 if never a member.
    function memberNumberOf(address account) external view returns (uint256) {
        return _memberships[account].tokenId;
    }

    /**
     * @notice `account`'s member number and segment at `timepoint` (a past moment, in seconds: see {clock}). The
     * segment is {Segment.NONE} if `account` held no card then. This is what the governor counts a vote under.
     */
    function getPastMembership(
        address account,
        uint256 timepoint
    ) external view returns (uint256 memberNumber, uint8 segment) {
        Membership memory m = _memberships[account];
        // getPastVotes validates the timepoint and says whether a card was held at that time.
        if (getPastVotes(account, timepoint) == 0) return (m.tokenId, Segment.NONE);
        if (timepoint >= m.since) return (m.tokenId, m.segment);
        return (m.tokenId, uint8(_earlierSegments[account].upperLookupRecent(uint48(timepoint))));
    }

    /// @inheritdoc IERC5192
    function locked(uint256 tokenId) external view returns (bool) {
        _requireOwned(tokenId);
        return true;
    }

    /**
     * @notice EIP-6372: the card, and so the governor, counts time in seconds (Unix time), not blocks: a voting
     * period is the same length on any chain, and a proposal's snapshot and deadline are moments a member's page
     * can show as a date and time.
     */
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp); // as OpenZeppelin's wizard writes it: uint48 seconds last 8.9 million years
    }

    /// @inheritdoc Votes
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /// @dev Votes always stay with the holder (see the contract notes).
    function delegates(address account) public pure override returns (address) {
        return account;
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return interfaceId == type(IERC5192).interfaceId || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ internals

    function _leave(address member) private {
        uint256 tokenId = _memberships[member].tokenId;
        if (tokenId == 0 || _ownerOf(tokenId) != member) revert MembershipCardNotMember(member);
        _burn(tokenId);
        emit CardLeft(tokenId, member);
    }

    function _issue(address member, uint8 segment, address issuer) private returns (uint256) {
        if (member == address(0)) revert MembershipCardZeroAddress();
        if (!Segment.isValid(segment)) revert MembershipCardInvalidSegment(segment);

        Membership memory previous = _memberships[member];
        uint40 tokenId = previous.tokenId;
        // A member number is only ever minted to its own address, so "already a member" is "that card exists".
        if (tokenId != 0 && _ownerOf(tokenId) != address(0)) revert MembershipCardAlreadyMember(member);
        if (tokenId == 0) {
            tokenId = ++_lastTokenId;
        } else {
            // Rejoining: keep the earlier segment for snapshots taken before today.
            _earlierSegments[member].push(previous.since, previous.segment);
        }
        _memberships[member] = Membership(tokenId, segment, clock(), issuer);

        _mint(member, tokenId);
        emit DelegateChanged(member, address(0), member);
        emit Locked(tokenId);
        emit CardIssued(tokenId, member, segment, issuer);
        return tokenId;
    }

    /// @dev Cards never move between holders: only mint and burn pass.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        address from = _ownerOf(tokenId);
        if (from != address(0) && to != address(0)) revert MembershipCardSoulbound(tokenId);
        return super._update(to, tokenId, auth);
    }

    /// @dev See {delegates}: a card's vote always stays with its holder. Delegating to oneself, directly or by
    /// signature, is what ERC-5805 front ends ask a new holder to do: it succeeds as a no-op and emits
    /// `DelegateChanged` as the standard requires; delegating to anyone else is refused.
    function _delegate(address account, address delegatee) internal override {
        if (delegatee != account) revert MembershipCardDelegationDisabled(account, delegatee);
        emit DelegateChanged(account, account, account);
    }

    function _baseURI() internal view override returns (string memory) {
        return _baseTokenURI;
    }
}
