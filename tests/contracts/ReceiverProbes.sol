// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/**
 * @title ERC1155ReceiverProbe
 * @notice Test-only recipient for ERC-1155's safe transfer rules (tests/test_conformance_contracts.py): it accepts,
 * answers a wrong value, or reverts, as told at deployment, and counts what it accepted.
 */
contract ERC1155ReceiverProbe is IERC1155Receiver {
    uint8 public constant ACCEPT = 0;
    uint8 public constant WRONG_VALUE = 1;
    uint8 public constant REVERT = 2;

    uint8 public immutable mode;
    uint256 public received;

    error ERC1155ReceiverProbeRefused(uint256 id);

    constructor(uint8 mode_) {
        mode = mode_;
    }

    function onERC1155Received(address, address, uint256 id, uint256, bytes calldata) external returns (bytes4) {
        if (mode == REVERT) revert ERC1155ReceiverProbeRefused(id);
        ++received;
        return mode == ACCEPT ? this.onERC1155Received.selector : bytes4(0xdeadbeef);
    }

    function onERC1155BatchReceived(
        address,
        address,
        uint256[] calldata ids,
        uint256[] calldata,
        bytes calldata
    ) external returns (bytes4) {
        if (mode == REVERT) revert ERC1155ReceiverProbeRefused(ids[0]);
        received += ids.length;
        return mode == ACCEPT ? this.onERC1155BatchReceived.selector : bytes4(0xdeadbeef);
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }
}

/// @notice Test-only contract with code but no receiver hooks at all.
contract PlainContract {
    uint256 public touched;

    function touch() external {
        ++touched;
    }
}
