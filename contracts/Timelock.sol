// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// OpenZeppelin's TimelockController, unmodified: imported here so the compile step emits its artifact.
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
