"""The one loader of compiled contracts, at run time: it reads the built artifacts (contracts/build/, written by
`kanazawa-dao compile`, which `./dao` runs) and needs no node, npm or solc, so an API, worker or indexer host needs
only the build. An `Artifact` deploys new instances (`deploy`) or binds existing ones (`at`), in the manner of
Ape's ContractContainer. Compiling is the toolchain's (backend/toolchain/compile.py `build_artifacts`).

Where the sources are at hand (a developer's checkout), a build older than them is refused with what to run, so a
contract edited without compiling never runs with yesterday's ABI.
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

from backend.errors import CompileError
from backend.paths import CONTRACTS_BUILD_DIR, CONTRACTS_DIR, REPO_ROOT

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from backend.chain.client import ChainClient

BUILD_INFO = "build-info.json"


def sources_digest(source_dir: Path) -> str:
    """sha256 over the `.sol` files under `source_dir` (their paths and texts): what the build-info records, so a
    build can be checked against the sources without the compiler."""
    h = hashlib.sha256()
    for f in sorted(f for f in source_dir.rglob("*.sol") if "build" not in f.relative_to(source_dir).parts):
        h.update(f.relative_to(source_dir).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


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
def load_artifacts(build_dir: Path = CONTRACTS_BUILD_DIR, source_dir: Path | None = CONTRACTS_DIR) -> dict[str, Artifact]:
    """Every artifact of a build, by contract name. Cached per process. CompileError, saying what to run, when the
    build is missing, unreadable or older than `source_dir`'s sources (when they are at hand)."""
    info_path = build_dir / BUILD_INFO
    where = build_dir.relative_to(REPO_ROOT) if build_dir.is_relative_to(REPO_ROOT) else build_dir
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        raise CompileError(f"no contract build in {where}: run `kanazawa-dao compile` (`./dao up` and `./dao test` "
                           "do it)") from None
    if source_dir is not None and source_dir.is_dir() and info.get("sourcesDigest") != sources_digest(source_dir):
        raise CompileError(f"the contracts changed since the build in {where}: run `kanazawa-dao compile`")
    return {name: _read(build_dir / f"{name}.json") for name in info["contracts"]}
