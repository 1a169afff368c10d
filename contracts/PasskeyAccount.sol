// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {ERC721Holder} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Holder.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {WebAuthn} from "@openzeppelin/contracts/utils/cryptography/WebAuthn.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/**
 * @title PasskeyAccount
 * @notice A member's account whose signers are the passkeys of their own devices (WebAuthn, P-256): the member
 * signs with Face ID, a fingerprint or a PIN, the service relays, and anyone can check the signature on chain.
 *
 * It holds the member's card and badges (ERC-721 and ERC-1155 receiver hooks) and answers ERC-1271
 * `isValidSignature` for a WebAuthn assertion over a digest, which is all the DAO asks of a member: the governor's
 * `castVoteBySig`, the card's `leaveBySig` and sign-in (SIWE over ERC-1271) accept it as they accept an ordinary
 * key's signature. It sends no transactions of its own.
 *
 * Signature: `abi.encodePacked(x, y, abi.encode(r, s, challengeIndex, typeIndex, authenticatorData,
 * clientDataJSON))`: the public key that signed (one of the account's) and OpenZeppelin's {WebAuthn-WebAuthnAuth}
 * fields. The assertion's challenge must be the digest itself; user presence and user verification are required.
 * Origin, relying-party id and the signature counter are not visible on chain: the service checks them before
 * it relays (`backend/services/passkeys.py`).
 *
 * Devices: a member adds another device's passkey with a signature of one already on the account (`addKey`), and
 * can remove one the same way (`removeKey`), never the last. Everything is signed, so the relayer pays for it.
 *
 * @dev Deployed as an ERC-1167 clone by {PasskeyAccountFactory} at an address derived from the first key, and
 * initialised in the same transaction, so nobody can initialise it with another key. No personal data: public
 * keys only.
 */
contract PasskeyAccount is IERC1271, Initializable, EIP712, Nonces, ERC721Holder, ERC1155Holder {
    bytes32 private constant _ADD_KEY_TYPEHASH = keccak256("AddKey(bytes32 x,bytes32 y,uint256 nonce)");
    bytes32 private constant _REMOVE_KEY_TYPEHASH = keccak256("RemoveKey(bytes32 x,bytes32 y,uint256 nonce)");

    mapping(bytes32 keyId => bool) private _keys;
    uint256 private _keyCount;

    /// @notice A passkey may now sign for this account.
    event KeyAdded(bytes32 indexed keyId, bytes32 x, bytes32 y);
    /// @notice A passkey may no longer sign for this account.
    event KeyRemoved(bytes32 indexed keyId);

    error PasskeyAccountInvalidKey(bytes32 x, bytes32 y);
    error PasskeyAccountKeyExists(bytes32 keyId);
    error PasskeyAccountUnknownKey(bytes32 keyId);
    error PasskeyAccountLastKey(bytes32 keyId);
    error PasskeyAccountInvalidSignature();

    constructor() EIP712("Kanazawa DAO Passkey Account", "1") {
        _disableInitializers(); // the implementation itself never gets a key: only its clones do
    }

    /// @notice Set the first key. Called by the factory in the transaction that creates the clone.
    function initialize(bytes32 x, bytes32 y) external initializer {
        _addKey(x, y);
    }

    // ------------------------------------------------------------------ signatures

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        return _isValid(hash, signature) ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }

    /// @notice Whether `(x, y)` may sign for this account.
    function isKey(bytes32 x, bytes32 y) external view returns (bool) {
        return _keys[keyId(x, y)];
    }

    /// @notice How many passkeys may sign for this account.
    function keyCount() external view returns (uint256) {
        return _keyCount;
    }

    /// @notice The identifier of a public key: what `KeyAdded` and `KeyRemoved` are indexed by.
    function keyId(bytes32 x, bytes32 y) public pure returns (bytes32) {
        return keccak256(abi.encode(x, y));
    }

    // ------------------------------------------------------------------ devices

    /// @notice Let another passkey `(x, y)` sign for this account; `signature` by a key already on it, over the
    /// EIP-712 `AddKey(x, y, nonce)`. Anyone may submit it.
    function addKey(bytes32 x, bytes32 y, bytes calldata signature) external {
        _checkSigned(_ADD_KEY_TYPEHASH, x, y, signature);
        _addKey(x, y);
    }

    /// @notice Stop passkey `(x, y)` signing for this account (a lost device), never the last one; `signature` by
    /// a key on it (the one removed included), over the EIP-712 `RemoveKey(x, y, nonce)`. Anyone may submit it.
    function removeKey(bytes32 x, bytes32 y, bytes calldata signature) external {
        _checkSigned(_REMOVE_KEY_TYPEHASH, x, y, signature);
        bytes32 id = keyId(x, y);
        if (!_keys[id]) revert PasskeyAccountUnknownKey(id);
        if (_keyCount == 1) revert PasskeyAccountLastKey(id);
        delete _keys[id];
        --_keyCount;
        emit KeyRemoved(id);
    }

    // ------------------------------------------------------------------ internals

    function _checkSigned(bytes32 typehash, bytes32 x, bytes32 y, bytes calldata signature) private {
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(typehash, x, y, _useNonce(address(this)))));
        if (!_isValid(digest, signature)) revert PasskeyAccountInvalidSignature();
    }

    function _addKey(bytes32 x, bytes32 y) private {
        if (!P256.isValidPublicKey(x, y)) revert PasskeyAccountInvalidKey(x, y);
        bytes32 id = keyId(x, y);
        if (_keys[id]) revert PasskeyAccountKeyExists(id);
        _keys[id] = true;
        ++_keyCount;
        emit KeyAdded(id, x, y);
    }

    function _isValid(bytes32 hash, bytes calldata signature) private view returns (bool) {
        if (signature.length < 64) return false;
        bytes32 x = bytes32(signature[0:32]);
        bytes32 y = bytes32(signature[32:64]);
        if (!_keys[keyId(x, y)]) return false;
        (bool decoded, WebAuthn.WebAuthnAuth calldata auth) = WebAuthn.tryDecodeAuth(signature[64:]);
        return decoded && WebAuthn.verify(abi.encodePacked(hash), auth, x, y);
    }
}
