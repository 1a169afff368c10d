"""What a proposal does on chain, in words: every action decoded where the target is one of ours, with warnings."""

from __future__ import annotations

from typing import Any

from backend.domain.vocabulary import ChainRole
from backend.services.context import Services

#: Functions of our contracts that change who may do what, or how decisions are made: shown with a warning.
ROLE_FUNCTIONS = frozenset({"grantRole", "revokeRole", "renounceRole"})
GOVERNANCE_FUNCTIONS = frozenset({"updateDelay", "setVotingDelay", "setVotingPeriod", "setProposalThreshold",
                                  "updateQuorumNumerator", "updateTimelock", "relay", "schedule", "scheduleBatch",
                                  "execute", "executeBatch", "cancel"})
FUND_FUNCTIONS = frozenset({"transfer", "transferFrom", "safeTransferFrom", "safeBatchTransferFrom", "approve",
                            "setApprovalForAll", "increaseAllowance"})
#: The roles of our contracts by their bytes32 value, named where an action's arguments show them.
KNOWN_ROLES = {role.value: role.name for role in ChainRole}


def describe_actions(services: Services, targets: list[str], values: list[str], calldatas: list[str]) -> list[dict[str, Any]]:
    """Every on-chain action of a proposal in words: the target (named when it is one of our contracts), the value
    in wei, the function and its decoded arguments when the target is ours (raw calldata otherwise), and warnings
    for what deserves a second look: `changes-roles` (grantRole, revokeRole, renounceRole), `changes-governance`
    (the governor's settings, the timelock's delay or operations), `moves-funds` (ETH sent, or a token transfer or
    approval), `unknown-contract` (a call with data to a contract this service does not know). A signal proposal's
    no-op call to the timelock is `signal`, with no warning."""
    names = {c.address.lower(): name for name, c in services.deployment.contracts.items()}
    timelock = services.deployment.contracts["TimelockController"].address.lower()
    described = []
    for target, value, calldata in zip(targets, values, calldatas):
        value = int(value)
        data = calldata if calldata.startswith("0x") else "0x" + calldata
        name = names.get(target.lower())
        action: dict[str, Any] = {"target": target, "target_name": name, "value": str(value), "calldata": data,
                                  "function": None, "signature": None, "arguments": None, "warnings": []}
        if value > 0:
            action["warnings"].append("moves-funds")
        if data == "0x":
            action["kind"] = "signal" if target.lower() == timelock and value == 0 else "call"
        elif name is None:
            action["kind"] = "call"
            action["warnings"].append("unknown-contract")
        else:
            action["kind"] = "call"
            try:
                fn, args = services.contract(name).decode_function_input(data)
            except Exception:  # noqa: BLE001 - data that matches no function of the contract
                action["warnings"].append("unknown-function")
            else:
                action["function"] = fn.fn_name
                action["signature"] = fn.abi_element_identifier if hasattr(fn, "abi_element_identifier") else fn.fn_name
                action["arguments"] = {k: _argument(v, names) for k, v in args.items()}
                if fn.fn_name in ROLE_FUNCTIONS:
                    action["warnings"].append("changes-roles")
                if fn.fn_name in GOVERNANCE_FUNCTIONS:
                    action["warnings"].append("changes-governance")
                if fn.fn_name in FUND_FUNCTIONS:
                    action["warnings"].append("moves-funds")
        action["warnings"] = list(dict.fromkeys(action["warnings"]))
        described.append(action)
    return described


def _argument(value: Any, names: dict[str, str]) -> Any:
    """An argument as JSON shows it: bytes as 0x hex (a known role by its name too), big integers as decimal text,
    an address of ours with its contract's name."""
    if isinstance(value, (bytes, bytearray)):
        text = "0x" + bytes(value).hex()
        role = KNOWN_ROLES.get(text)
        return f"{role} ({text})" if role else text
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > 2**53 else value
    if isinstance(value, str) and value.lower() in names:
        return f"{value} ({names[value.lower()]})"
    if isinstance(value, (list, tuple)):
        return [_argument(v, names) for v in value]
    return value


