"""A real Kubo-RPC-compatible IPFS daemon without a global install: js-ipfs from the pinned npm package in
`hardhat-free-devnet/ipfs-node/` (npm's Kubo packages download their binary at install, which fails offline).

The tests run `KuboStore` against it to prove that the local store's CIDs are the ones an IPFS node computes.
It runs offline, on free ports, in a repository of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

from backend.errors import DevnetError, ToolchainError
from backend.paths import DEVNET_DIR
from backend.toolchain.anvil import free_port
from backend.toolchain.npm import _require_command

IPFS_NODE_DIR = DEVNET_DIR / "ipfs-node"
_NODE_MODULES = IPFS_NODE_DIR / "node_modules"
_STAMP = _NODE_MODULES / ".kanazawa-dao-lock.sha256"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 30


def _lock_hash() -> str:
    return hashlib.sha256((IPFS_NODE_DIR / "package-lock.json").read_bytes()).hexdigest()


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _npm_errors(output: str, lines: int = 12) -> str:
    """npm's error lines, without the usage text it appends to some errors, and the path of its log."""
    errors = [line for line in output.splitlines() if line.startswith("npm error ") and line[10:11].strip()]
    usage = next((i for i, line in enumerate(errors) if line == "npm error Usage:"), len(errors))
    kept = errors[:min(usage, lines)]
    if errors and "complete log" in errors[-1] and errors[-1] not in kept:
        kept.append(errors[-1])
    return "\n".join(kept) or _tail(output)


def ensure_ipfs_toolchain(*, quiet: bool = False) -> None:
    """Install the pinned js-ipfs if it is missing or older than the lock file. Raises ToolchainError with npm's
    output."""
    _require_command("node")
    if _STAMP.exists() and _STAMP.read_text().strip() == _lock_hash():
        return
    npm = _require_command("npm")
    if not quiet:
        print(f"Installing the pinned IPFS daemon (npm ci in {IPFS_NODE_DIR}, a few minutes) ...", flush=True)
    proc = subprocess.run(  # optional dependencies: package.json says why
        [npm, "ci", "--omit=optional", "--no-audit", "--no-fund"], cwd=IPFS_NODE_DIR, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ToolchainError(
            f"`npm ci` in {IPFS_NODE_DIR} failed (exit {proc.returncode}):\n{_npm_errors(proc.stdout + proc.stderr)}"
        )
    _STAMP.write_text(_lock_hash() + "\n")


def _jsipfs() -> Path:
    binary = _NODE_MODULES / ".bin" / "jsipfs"
    if not binary.exists():
        raise ToolchainError(f"{binary} is missing: js-ipfs is not installed. Run `npm ci` in {IPFS_NODE_DIR}.")
    return binary


@dataclass
class IpfsDaemon:
    process: subprocess.Popen
    api_port: int
    log_file: Path

    @property
    def api_url(self) -> str:
        """The RPC API as a multiaddr, as ipfshttpclient and Kubo's own `Addresses.API` spell it."""
        return f"/ip4/{HOST}/tcp/{self.api_port}/http"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (js-ipfs closes its repository), then SIGKILL if it does not go."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> IpfsDaemon:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _configure(repo_dir: Path, api_port: int) -> None:
    """Every address on a free loopback port (the `test` profile leaves the RPC port fixed at 5003), no peers."""
    config_file = repo_dir / "config"
    config = json.loads(config_file.read_text())
    config["Addresses"].update(
        API=f"/ip4/{HOST}/tcp/{api_port}",
        Gateway=f"/ip4/{HOST}/tcp/{free_port()}",
        RPC=f"/ip4/{HOST}/tcp/{free_port()}",
        Swarm=[f"/ip4/{HOST}/tcp/{free_port()}"],
    )
    config["Bootstrap"] = []
    config_file.write_text(json.dumps(config, indent=2))


def start_ipfs_daemon(repo_dir: Path, *, log_file: Path) -> IpfsDaemon:
    """Initialise the repository in `repo_dir` if needed, start js-ipfs offline on free ports, and wait until its RPC
    API answers."""
    binary = _jsipfs()
    env = {**os.environ, "IPFS_PATH": str(repo_dir)}
    if not (repo_dir / "config").exists():
        init = subprocess.run([str(binary), "init", "--profile", "test"], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if init.returncode != 0:
            raise DevnetError(f"`jsipfs init` in {repo_dir} failed (exit {init.returncode}):\n"
                              f"{_tail(init.stdout + init.stderr)}")
    api_port = free_port()
    _configure(repo_dir, api_port)
    with open(log_file, "ab") as out:
        process = subprocess.Popen([str(binary), "daemon", "--offline", "--enable-preload=false"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    daemon = IpfsDaemon(process, api_port, log_file)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevnetError(f"the IPFS daemon exited with code {process.returncode} while starting; its log "
                              f"({log_file}):\n{_tail(log_file.read_text(errors='replace'))}")
        try:
            requests.post(f"{daemon.http_url}/api/v0/id", timeout=1).raise_for_status()
            return daemon
        except requests.RequestException:
            time.sleep(0.1)
    daemon.stop()
    raise DevnetError(f"the IPFS daemon's RPC API did not answer on {daemon.http_url} within {READY_TIMEOUT_S} s; its "
                      f"log ({log_file}):\n{_tail(log_file.read_text(errors='replace'))}")
