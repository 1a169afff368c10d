"""The compile step (py-solc-x driving solc-js through the node shim), its cache, and toolchain errors."""

from __future__ import annotations

import json

import pytest

from backend.chain.artifacts import load_artifacts
from backend.errors import CompileError, ToolchainError
from backend.toolchain import npm as toolchain
from backend.toolchain.compile import compile_contracts

COUNTER = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;
contract Counter {
    error CounterTooHigh(uint256 value);
    uint256 public value;
    function bump() external { if (value == 3) revert CounterTooHigh(value); value += 1; }
}
"""


def test_artifacts_say_what_made_them():
    artifacts = load_artifacts()
    assert set(artifacts) >= {"MembershipCard", "CommunityBadges", "CityGovernor", "OutcomeRegistry", "TimelockController"}
    card = artifacts["MembershipCard"]
    assert card.compiler["version"].startswith("0.8.30+commit")
    assert card.compiler["evmVersion"] == "prague"
    assert card.bytecode.startswith("0x6") and len(card.bytecode) > 10_000 and len(card.source_hash) == 64
    raw = json.loads((toolchain.DEVNET_DIR.parent / "contracts/build/MembershipCard.json").read_text())
    assert "generated" in raw["_generated"] and raw["openzeppelin"] == "5.7.0"


def test_cache_by_source_hash(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "Counter.sol").write_text(COUNTER)
    build = tmp_path / "build"
    first = compile_contracts(src, build, external={})
    assert first.compiled and first.contracts == ["Counter"]
    again = compile_contracts(src, build, external={})
    assert not again.compiled and again.source_hash == first.source_hash
    (src / "Counter.sol").write_text(COUNTER.replace("value == 3", "value == 4"))
    changed = compile_contracts(src, build, external={})
    assert changed.compiled and changed.source_hash != first.source_hash


def test_compile_error_shows_solcs_message(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "Broken.sol").write_text("pragma solidity ^0.8.28;\ncontract Broken { function f() public { undefinedThing(); } }\n")
    with pytest.raises(CompileError, match="Undeclared identifier"):
        compile_contracts(src, tmp_path / "build", external={})
    assert not (tmp_path / "build" / "build-info.json").exists()


def test_empty_source_folder(tmp_path):
    with pytest.raises(CompileError, match="no Solidity sources"):
        compile_contracts(tmp_path, tmp_path / "build", external={})


def test_missing_node_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolchainError, match="`node` was not found on PATH. Install Node.js 20"):
        toolchain.ensure_toolchain()


def test_missing_npm_package_is_a_clear_error():
    with pytest.raises(ToolchainError, match=r"npm toolchain is not installed. Run `npm ci` in .*hardhat-free-devnet"):
        toolchain.package_version("@kanazawa/not-installed")
