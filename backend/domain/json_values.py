"""How values read from the chain travel in JSON (API answers, JSON columns): the one rule, used by the indexer's
`contract_event` rows, the API's problem documents and its decoded proposal actions."""

from __future__ import annotations

from typing import Any

#: The largest integer every JSON reader keeps exactly (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1


def jsonable(value: Any) -> Any:
    """`value` with bytes as 0x hex and integers beyond MAX_SAFE_INTEGER as decimal strings, through lists, tuples
    and dicts; booleans, strings and None as they are."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > MAX_SAFE_INTEGER else value
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
