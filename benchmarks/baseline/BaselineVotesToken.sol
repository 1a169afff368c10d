// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Votes} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721Votes.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/**
 * @title BaselineVotesToken
 * @notice TEST ONLY: the gas baseline for {MembershipCard}. A plain OpenZeppelin 5.x ERC721 + ERC721Votes as the
 * Contracts Wizard writes it (Ownable, counter-based mint), with nothing else: no soulbinding, no segments and no
 * automatic delegation, so a holder's vote counts only after a separate `delegate` transaction.
 * @dev `mint` uses `_mint` rather than the wizard's `_safeMint`, like {MembershipCard}, so that the comparison does
 * not charge the baseline for the ERC721Receiver check. The clock is the wizard's "timestamp" option, as ours
 * (EIP-6372 mode=timestamp). Measured by `scripts/gas_report.py`.
 */
contract BaselineVotesToken is ERC721, Ownable, EIP712, ERC721Votes {
    uint256 private _nextTokenId;

    constructor(
        address initialOwner
    ) ERC721("Baseline Votes Token", "BVT") Ownable(initialOwner) EIP712("Baseline Votes Token", "1") {}

    function mint(address to) public onlyOwner returns (uint256) {
        uint256 tokenId = _nextTokenId++;
        _mint(to, tokenId);
        return tokenId;
    }

    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    // The following functions are overrides required by Solidity.

    function _update(address to, uint256 tokenId, address auth) internal override(ERC721, ERC721Votes) returns (address) {
        return super._update(to, tokenId, auth);
    }

    function _increaseBalance(address account, uint128 value) internal override(ERC721, ERC721Votes) {
        super._increaseBalance(account, value);
    }
}
