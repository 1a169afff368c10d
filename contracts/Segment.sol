// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/**
 * @dev Member segments of the Kanazawa co-creation DAO. Stored as `uint8` in every ABI so that an out-of-range value
 * reaches the contract and is refused with a named error instead of failing inside the ABI decoder.
 *
 * 0 = none (not a member), 1 = resident (住民), 2 = relationship population (関係人口), 3 = organisation (団体).
 */
library Segment {
    uint8 internal constant NONE = 0;
    uint8 internal constant RESIDENT = 1;
    uint8 internal constant RELATIONSHIP_POPULATION = 2;
    uint8 internal constant ORGANISATION = 3;
    uint8 internal constant COUNT = 3;

    function isValid(uint8 segment) internal pure returns (bool) {
        return segment >= RESIDENT && segment <= COUNT;
    }
}
