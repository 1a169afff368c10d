"""The pinned node toolchain in `hardhat-free-devnet/`: anvil binary, solc-js, OpenZeppelin Contracts.

`ensure_toolchain()` checks node and npm and runs `npm ci` when `node_modules` is missing or older than the lock
file, so every entry point can rely on it without a global install.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from backend.errors import ToolchainError
from backend.paths import DEVNET_DIR, NODE_MODULES

_STAMP = NODE_MODULES / ".kanazawa-dao-lock.sha256"
ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64"


def _lock_hash() -> str:
    return hashlib.sha256((DEVNET_DIR / "package-lock.json").read_bytes()).hexdigest()


def _require_command(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ToolchainError(
            f"`{name}` was not found on PATH. Install Node.js 20 or newer (which brings npm); "
            "everything else is installed into hardhat-free-devnet/ by `npm ci`."
        )
    return found


def toolchain_ready() -> bool:
    return _STAMP.exists() and _STAMP.read_text().strip() == _lock_hash()


def ensure_toolchain(*, quiet: bool = False) -> None:
    """Install the pinned npm packages if they are missing or stale. Raises ToolchainError with npm's output."""
    _require_command("node")
    if toolchain_ready():
        return
    npm = _require_command("npm")
    if not quiet:
        print("Installing the pinned devnet toolchain (npm ci in hardhat-free-devnet/) ...", flush=True)
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=DEVNET_DIR, capture_output=True, text=True
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ToolchainError(f"`npm ci` in {DEVNET_DIR} failed (exit {proc.returncode}):\n{tail}")
    _STAMP.write_text(_lock_hash() + "\n")


def _package_file(package: str, *parts: str) -> Path:
    path = NODE_MODULES.joinpath(*package.split("/"), *parts)
    if not path.exists():
        raise ToolchainError(
            f"{path} is missing: the npm toolchain is not installed. Run `npm ci` in {DEVNET_DIR} "
            "(the ./dao script does it for you)."
        )
    return path


def anvil_binary() -> Path:
    return _package_file(ANVIL_PACKAGE, "bin", "anvil")


def solc_shim() -> Path:
    _package_file("solc", "package.json")
    return DEVNET_DIR / "solc-shim.js"


def package_version(package: str) -> str:
    return json.loads(_package_file(package, "package.json").read_text())["version"]
