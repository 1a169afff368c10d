"""The compile step: py-solc-x driving the pinned solc-js through `hardhat-free-devnet/solc-shim.js`.

Artifacts (ABI, bytecode, compiler and EVM version, source hash) are written as one JSON file per contract and
cached by the hash of everything that goes into them: sources, compiler version, OpenZeppelin version, settings.
Nothing recompiles unless one of those changed. The service loads them through `backend.chain.artifacts` (no node
needed); `build_artifacts` compiles when stale and then loads, for developer tools and tests.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import solcx
import solcx.wrapper
from solcx.exceptions import SolcError

from backend.chain.artifacts import BUILD_INFO, Artifact, load_artifacts, sources_digest
from backend.errors import CompileError
from backend.paths import CONTRACTS_BUILD_DIR, CONTRACTS_DIR, REPO_ROOT
from backend.toolchain import npm as toolchain

EVM_VERSION = "prague"
OPTIMIZER_RUNS = 200
#: Bump when the artifact layout changes, so cached builds in the old layout are rebuilt.
ARTIFACT_FORMAT = 2

#: Contracts imported from OpenZeppelin that we deploy unmodified, by source path.
EXTERNAL_CONTRACTS = {"@openzeppelin/contracts/governance/TimelockController.sol": ["TimelockController"]}


@dataclass(frozen=True)
class BuildInfo:
    build_dir: Path
    source_hash: str
    compiler_version: str
    contracts: list[str]
    compiled: bool  # False when the cache was used


def _settings() -> dict:
    return {
        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        "evmVersion": EVM_VERSION,
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
    }


def _source_root(source_dir: Path) -> Path:
    """Source names are relative to the repository (`contracts/X.sol`), or to the folder's parent outside it."""
    source_dir = source_dir.resolve()
    return REPO_ROOT if source_dir.is_relative_to(REPO_ROOT) else source_dir.parent


def _sources(source_dir: Path) -> dict[str, str]:
    files = sorted(source_dir.rglob("*.sol"))
    files = [f for f in files if "build" not in f.relative_to(source_dir).parts]
    if not files:
        raise CompileError(f"no Solidity sources under {source_dir}")
    root = _source_root(source_dir)
    return {f.resolve().relative_to(root).as_posix(): f.read_text() for f in files}


def source_hash(sources: dict[str, str], compiler_version: str, oz_version: str, external: dict) -> str:
    h = hashlib.sha256()
    meta = {
        "format": ARTIFACT_FORMAT,
        "solc": compiler_version,
        "openzeppelin": oz_version,
        "settings": _settings(),
        "external": external,
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    for name, text in sorted(sources.items()):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def compile_contracts(
    source_dir: Path = CONTRACTS_DIR,
    build_dir: Path = CONTRACTS_BUILD_DIR,
    *,
    external: dict[str, list[str]] | None = None,
    force: bool = False,
    quiet: bool = True,
) -> BuildInfo:
    """Compile every `.sol` file under `source_dir` into `build_dir`, unless the cached build is current."""
    external = EXTERNAL_CONTRACTS if external is None else external
    toolchain.ensure_toolchain(quiet=quiet)
    shim = toolchain.solc_shim()
    compiler_version = str(solcx.wrapper.get_solc_version(shim, with_commit_hash=True))
    oz_version = toolchain.package_version("@openzeppelin/contracts")
    sources = _sources(source_dir)
    digest = source_hash(sources, compiler_version, oz_version, external)

    info_path = build_dir / BUILD_INFO
    if not force and info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("sourceHash") == digest and info.get("sourcesDigest") == sources_digest(source_dir):
            return BuildInfo(build_dir, digest, compiler_version, info["contracts"], compiled=False)

    if not quiet:
        print(f"Compiling {len(sources)} Solidity files with solc-js {compiler_version} ...", flush=True)
    started = time.monotonic()
    root = _source_root(source_dir)
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()}
        | {name: {"urls": [name]} for name in external},
        "settings": _settings(),
    }
    try:
        output = solcx.compile_standard(
            standard_input, solc_binary=shim, base_path=str(root), allow_paths=[str(root)]
        )
    except SolcError as exc:
        raise CompileError(f"the contracts did not compile:\n{exc.message}") from None

    wanted = {name: None for name in sources} | {k: set(v) for k, v in external.items()}
    build_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for source_name, contracts in output["contracts"].items():
        if source_name not in wanted:
            continue
        for contract_name, out in contracts.items():
            only = wanted[source_name]
            bytecode = out["evm"]["bytecode"]["object"]
            if (only is not None and contract_name not in only) or not bytecode or not out["abi"]:
                continue  # interfaces, abstract contracts and internal libraries
            artifact = {
                "_generated": "generated by backend/toolchain/compile.py (kanazawa-dao compile) from " + source_name + "; do not edit",
                "contractName": contract_name,
                "sourceName": source_name,
                "abi": out["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
                "compiler": {
                    "name": "solc-js",
                    "version": compiler_version,
                    "evmVersion": EVM_VERSION,
                    "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
                },
                "openzeppelin": oz_version,
                "sourceHash": digest,
            }
            (build_dir / f"{contract_name}.json").write_text(json.dumps(artifact, indent=1) + "\n")
            written.append(contract_name)
    warnings = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "warning"]
    info = {
        "_generated": "generated by backend/toolchain/compile.py (kanazawa-dao compile); do not edit",
        "sourceHash": digest,
        "sourcesDigest": sources_digest(source_dir),
        "compiler": compiler_version,
        "openzeppelin": oz_version,
        "contracts": sorted(written),
        "warnings": warnings,
        "seconds": round(time.monotonic() - started, 2),
    }
    # Written last: an interrupted compile leaves a stale hash, so the next run compiles again.
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    if not quiet:
        print(f"Compiled {len(written)} contracts in {info['seconds']} s into {build_dir}", flush=True)
    return BuildInfo(build_dir, digest, compiler_version, sorted(written), compiled=True)


def build_artifacts(source_dir: Path = CONTRACTS_DIR, build_dir: Path = CONTRACTS_BUILD_DIR, *,
                    external: dict[str, list[str]] | None = None) -> dict[str, Artifact]:
    """Compile `source_dir` if its build is stale, then load it: for developer tools and tests (the test-only
    contracts, the gas report's baseline). `external` defaults to the deployed OpenZeppelin contracts for
    contracts/ and to none elsewhere."""
    if external is None:
        external = EXTERNAL_CONTRACTS if source_dir == CONTRACTS_DIR else {}
    compile_contracts(source_dir, build_dir, external=external)
    load_artifacts.cache_clear()  # a build written by this process: read it again
    return load_artifacts(build_dir, source_dir)
