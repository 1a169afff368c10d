"""The one loader of compiled contracts.

`load_artifacts()` makes sure the build is current (compiling only when a source changed, see `compile.py`) and
returns `Artifact`s: an artifact deploys new instances (`deploy`) or binds existing ones (`at`), in the manner of
Ape's ContractContainer.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from backend.chain.compile import compile_contracts
from backend.errors import CompileError
from backend.paths import CONTRACTS_BUILD_DIR, CONTRACTS_DIR

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from backend.chain.client import ChainClient


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]] = field(repr=False)
    bytecode: str = field(repr=False)
    deployed_bytecode: str = field(repr=False)
    compiler: dict[str, Any] = field(repr=False)
    source_hash: str = field(repr=False)

    @property
    def artifact_hash(self) -> str:
        """sha256 of the ABI and creation bytecode: what the deployment manifest records."""
        blob = json.dumps(self.abi, sort_keys=True).encode() + self.bytecode.encode()
        return hashlib.sha256(blob).hexdigest()

    def at(self, w3: Web3, address: str) -> Contract:
        return w3.eth.contract(address=Web3.to_checksum_address(address), abi=self.abi)

    def deploy(self, client: ChainClient, sender: LocalAccount, *args: Any) -> tuple[Contract, TxReceipt]:
        factory = client.w3.eth.contract(abi=self.abi, bytecode=self.bytecode)
        receipt = client.transact(factory.constructor(*args), sender)
        address: ChecksumAddress = receipt["contractAddress"]
        return self.at(client.w3, address), receipt


def _read(path: Path) -> Artifact:
    data = json.loads(path.read_text())
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        compiler=data["compiler"],
        source_hash=data["sourceHash"],
    )


@functools.lru_cache(maxsize=8)
def load_artifacts(source_dir: Path = CONTRACTS_DIR, build_dir: Path = CONTRACTS_BUILD_DIR) -> dict[str, Artifact]:
    """All artifacts of `source_dir`, compiled first if the cached build is stale. Cached per process."""
    info = compile_contracts(source_dir, build_dir, external=None if source_dir == CONTRACTS_DIR else {})
    return {name: _read(build_dir / f"{name}.json") for name in info.contracts}


def load_artifact(name: str) -> Artifact:
    artifacts = load_artifacts()
    if name not in artifacts:
        raise CompileError(f"no artifact named {name!r}; known: {', '.join(sorted(artifacts))}")
    return artifacts[name]
