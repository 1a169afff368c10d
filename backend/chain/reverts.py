"""Turn revert data into readable exceptions: `MembershipCardAlreadyMember(account=0x...)`, never bare hex.

Every custom error of every compiled contract (our own and OpenZeppelin's, which the ABIs include) is known by its
selector, plus Solidity's `Error(string)` and `Panic(uint256)`.
"""

from __future__ import annotations

from typing import Any, Iterable

from eth_abi import decode as abi_decode
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes

from backend.errors import KanazawaDaoError

_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")
PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an invalid internal function",
}


class ContractRevert(KanazawaDaoError):
    """A call or transaction was refused by a contract. `error` is the custom error's name (or `Error`, `Panic`,
    `Revert` when there was no data), `args` its named arguments."""

    def __init__(self, error: str, args: dict[str, Any], data: bytes = b"") -> None:
        self.error = error
        self.args_dict = args
        self.data = bytes(data)
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(f"{error}({shown})")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _type_string(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_string(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


class RevertDecoder:
    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, dict[str, Any]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    self._errors[function_abi_to_4byte_selector(item)] = item

    def decode(self, data: bytes | str | None) -> ContractRevert:
        raw = HexBytes(data or b"")
        if len(raw) < 4:
            return ContractRevert("Revert", {"reason": "reverted without data (out of gas, or a require without a message)"}, raw)
        selector, body = bytes(raw[:4]), bytes(raw[4:])
        if selector == _ERROR_STRING:
            (message,) = abi_decode(["string"], body)
            return ContractRevert("Error", {"message": message}, raw)
        if selector == _PANIC:
            (code,) = abi_decode(["uint256"], body)
            return ContractRevert("Panic", {"code": hex(code), "meaning": PANIC_CODES.get(code, "unknown")}, raw)
        item = self._errors.get(selector)
        if item is None:
            return ContractRevert("UnknownError", {"selector": "0x" + selector.hex(), "data": raw}, raw)
        types = [_type_string(p) for p in item["inputs"]]
        values = abi_decode(types, body)
        args = {}
        for param, value in zip(item["inputs"], values):
            if param["type"] == "address":
                value = to_checksum_address(value)
            args[param["name"] or f"arg{len(args)}"] = value
        return ContractRevert(item["name"], args, raw)
