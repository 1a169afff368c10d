"""Read the chain for checks the API makes before accepting a request, turning transport failures into
`Unavailable` (503) and contract refusals into `RefusedByChain` (409) naming the contract's error. Messages never
name the node's URL (it may carry an API key, and callers have no use for it)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector
from eth_utils.abi import get_abi_output_types

from backend.chain.jsonrpc import JsonRpcUnavailable
from backend.chain.reverts import ContractRevert
from backend.domain.json_values import jsonable
from backend.services.context import Services
from backend.services.errors import RefusedByChain, Unavailable


def call(services: Services, fn: Any) -> Any:
    try:
        return services.chain.call(fn)
    except ContractRevert as exc:
        raise RefusedByChain(f"the contract refuses: {exc}", error=exc.error, arguments=jsonable(exc.args_dict)) from None
    except Exception as exc:  # noqa: BLE001 - connection refused, timeouts, ...
        raise Unavailable(f"the chain does not answer ({type(exc).__name__})") from None


@dataclass(frozen=True)
class Head:
    """The chain's latest block and the newest one a reorg can no longer take (`confirmations` below it, at least
    one), with their times. Time is what the card and the governor count in (EIP-6372 `mode=timestamp`): a
    proposal's snapshot and deadline are Unix times, compared with `timestamp` (what the governor sees in a read at
    the latest block) and `final_timestamp` (a moment before it is final: no block at or before it can change)."""

    number: int
    timestamp: int
    final_number: int
    final_timestamp: int


def head(services: Services) -> Head:
    """The chain's head and its final block (Unavailable when the chain does not answer). The final block's time
    is cached by number (`services.final_times`): a final block does not change."""
    try:
        latest = services.chain.rpc.call("eth_getBlockByNumber", ["latest", False])
        number, timestamp = int(latest["number"], 16), int(latest["timestamp"], 16)
        final_number = number - max(1, services.settings.confirmations)
        if final_number < 0:
            return Head(number, timestamp, final_number, -1)
        final_timestamp = services.final_times.get(final_number)
        if final_timestamp is None:
            block = services.chain.rpc.call("eth_getBlockByNumber", [hex(final_number), False])
            final_timestamp = int(block["timestamp"], 16)
            services.final_times.put(final_number, final_timestamp)
        return Head(number, timestamp, final_number, final_timestamp)
    except Exception as exc:  # noqa: BLE001 - connection refused, timeouts, not a block
        raise Unavailable(f"the chain does not answer ({type(exc).__name__})") from None


class Read(NamedTuple):
    """A read-only call encoded by hand: web3 builds and validates a ContractFunction in about a millisecond of
    CPU, which the ballot intake's four reads per ballot notice (`read` makes one in microseconds)."""

    address: str
    data: str
    output_types: list[str]


def read(address: str, signature: str, input_types: list[str], args: list[Any], output_types: list[str]) -> Read:
    """`read(gov, "hasVoted(uint256,address)", ["uint256", "address"], [pid, voter], ["bool"])`."""
    return Read(address, "0x" + (_selector(signature) + encode(input_types, args)).hex(), output_types)


@functools.lru_cache(maxsize=256)
def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def call_many(services: Services, fns: list[Any], *, refusals: str = "raise") -> list[Any]:
    """Several read-only calls in one JSON-RPC batch (one round trip, each at the latest block), their results in
    order; the first refusal raises `RefusedByChain` like `call`, or with `refusals="return"` stands in the list in
    place of its result. web3's own call path costs a few ms of CPU per
    call (request formatting and middleware); ballot intake makes four reads per ballot (backend/services/ballots.py
    `accept`), so they go in one request, ABI-encoded here."""
    chain = services.chain
    try:
        responses = chain.rpc.batch([
            ("eth_call", [{"to": fn.address, "data": fn.data if isinstance(fn, Read) else fn._encode_transaction_data()},
                          "latest"]) for fn in fns])
    except JsonRpcUnavailable:  # refused, timed out, not JSON-RPC, the batch refused as a whole
        raise Unavailable("the chain does not answer (refused, timed out or not JSON-RPC)") from None
    results = []
    for fn, response in zip(fns, responses):
        error = response.get("error")
        if error is not None:
            data = error.get("data")
            if isinstance(data, dict):  # some nodes wrap the revert data
                data = data.get("data")
            if error.get("code") == 3 or data:  # execution reverted, with the contract's error data
                exc = chain.decoder.decode(data)
                refused = RefusedByChain(f"the contract refuses: {exc}", error=exc.error,
                                         arguments=jsonable(exc.args_dict))
                if refusals == "raise":
                    raise refused
                results.append(refused)
                continue
            raise Unavailable(f"the chain failed a read: {str(error.get('message'))[:200]}")
        types = fn.output_types if isinstance(fn, Read) else get_abi_output_types(fn.abi)
        values = chain.w3.codec.decode(types, bytes.fromhex(response["result"][2:]))
        results.append(values[0] if len(values) == 1 else tuple(values))
    return results


def would_succeed(services: Services, fn: Any, sender: str) -> None:
    """Refuse now what the chain would refuse when the relayer submits it (the gas estimate runs the call)."""
    try:
        services.chain.estimate(fn, sender)
    except ContractRevert as exc:
        raise RefusedByChain(f"the contract would refuse it: {exc}", error=exc.error,
                             arguments=jsonable(exc.args_dict)) from None
    except Exception as exc:  # noqa: BLE001
        raise Unavailable(f"the chain does not answer ({type(exc).__name__})") from None
