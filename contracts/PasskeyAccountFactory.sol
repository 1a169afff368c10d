// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {MembershipCard} from "./MembershipCard.sol";
import {PasskeyAccount} from "./PasskeyAccount.sol";

/**
 * @title PasskeyAccountFactory
 * @notice Creates members' {PasskeyAccount}s at addresses derived from their first passkey, and lets the relayer
 * create a new member's account and claim their card into it in one transaction.
 *
 * The address is known before the account exists (`accountAddress`), so an organisation's invitation can name it:
 * the member's device makes a passkey, the service derives the address, the invitation is signed for that address,
 * and `createAccountAndClaim` lands both or neither (no account without its card).
 *
 * @dev Accounts are ERC-1167 clones of one implementation (CREATE2, salt = the key's id): a clone costs a fraction
 * of a full deployment. Creating an account that exists is a no-op, so anyone racing the relayer to create it
 * only creates the very same account with the very same key.
 */
contract PasskeyAccountFactory {
    /// @notice The account code every clone runs.
    PasskeyAccount public immutable implementation;
    /// @notice The card that `createAccountAndClaim` claims from.
    MembershipCard public immutable card;

    /// @notice An account for the passkey `(x, y)` was created at `account`.
    event AccountCreated(address indexed account, bytes32 x, bytes32 y);

    error PasskeyAccountFactoryWrongInvitee(address invitee, address account);

    constructor(MembershipCard card_) {
        implementation = new PasskeyAccount();
        card = card_;
    }

    /// @notice Where the account whose first passkey is `(x, y)` lives (whether it exists yet or not).
    function accountAddress(bytes32 x, bytes32 y) public view returns (address) {
        return Clones.predictDeterministicAddress(address(implementation), _salt(x, y));
    }

    /// @notice The account whose first passkey is `(x, y)`, created if it does not exist yet.
    function createAccount(bytes32 x, bytes32 y) public returns (address account) {
        account = accountAddress(x, y);
        if (account.code.length == 0) {
            Clones.cloneDeterministic(address(implementation), _salt(x, y));
            PasskeyAccount(account).initialize(x, y);
            emit AccountCreated(account, x, y);
        }
    }

    /**
     * @notice Create the account of passkey `(x, y)` and claim the card `invitation` offers into it: what the
     * relayer sends when a new member accepts an invitation with a passkey. The invitation must name the account.
     */
    function createAccountAndClaim(
        bytes32 x,
        bytes32 y,
        MembershipCard.Invitation calldata invitation,
        bytes calldata signature
    ) external returns (address account, uint256 tokenId) {
        account = createAccount(x, y);
        if (invitation.invitee != account) revert PasskeyAccountFactoryWrongInvitee(invitation.invitee, account);
        tokenId = card.claim(invitation, signature);
    }

    function _salt(bytes32 x, bytes32 y) private pure returns (bytes32) {
        return keccak256(abi.encode(x, y));
    }
}
