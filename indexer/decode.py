"""Log decoding without web3's event machinery (which costs tens of microseconds a log): topics are sliced by
hand for the static types our events index, data goes through eth_abi once per log."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

from backend.errors import KanazawaDaoError


class UndecodableLog(KanazawaDaoError):
    """A log that claims to be one of our events but does not decode as one (a lying or broken RPC)."""


@functools.lru_cache(maxsize=65536)
def checksum(raw20: bytes) -> str:
    return to_checksum_address(raw20)


def _topic_decoder(abi_type: str) -> Callable[[bytes], Any]:
    if abi_type == "address":
        return lambda word: checksum(word[12:])
    if abi_type.startswith("uint"):
        return lambda word: int.from_bytes(word, "big")
    if abi_type.startswith("int"):
        return lambda word: int.from_bytes(word, "big", signed=True)
    if abi_type == "bool":
        return lambda word: word[-1] == 1
    if abi_type.startswith("bytes") and abi_type != "bytes":
        size = int(abi_type[5:])
        return lambda word: "0x" + word[:size].hex()
    # Indexed dynamic values (string, bytes, arrays) are only their keccak hash in the topic.
    return lambda word: "0x" + word.hex()


def _canonical(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in param["components"]) + ")" + param["type"][5:]
    return param["type"]


def _normalise(abi_type: str, value: Any) -> Any:
    """Make decoded values JSON- and database-friendly: addresses checksummed, bytes as 0x hex."""
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return [_normalise(inner, v) for v in value]
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return value


@dataclass(frozen=True)
class EventSpec:
    contract: str
    name: str
    topic0: bytes
    indexed: tuple[tuple[str, Callable[[bytes], Any]], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]

    @classmethod
    def from_abi(cls, contract: str, item: dict[str, Any]) -> EventSpec:
        indexed = tuple((p["name"], _topic_decoder(p["type"])) for p in item["inputs"] if p["indexed"])
        data = [p for p in item["inputs"] if not p["indexed"]]
        return cls(
            contract=contract,
            name=item["name"],
            topic0=bytes(event_abi_to_log_topic(item)),
            indexed=indexed,
            data_names=tuple(p["name"] for p in data),
            data_types=tuple(_canonical(p) for p in data),
        )

    def decode(self, topics: list[bytes], data: bytes) -> dict[str, Any]:
        if len(topics) != len(self.indexed) + 1:
            raise UndecodableLog(
                f"{self.contract}.{self.name} has {len(self.indexed)} indexed arguments, the log has {len(topics) - 1} topics"
            )
        args = {name: decode(topic) for (name, decode), topic in zip(self.indexed, topics[1:])}
        if self.data_types:
            try:
                values = abi_decode(self.data_types, data)
            except Exception as exc:  # eth_abi raises several types for short or malformed data
                raise UndecodableLog(f"{self.contract}.{self.name}: data does not decode ({exc})") from None
            for name, abi_type, value in zip(self.data_names, self.data_types, values):
                args[name] = _normalise(abi_type, value)
        return args
