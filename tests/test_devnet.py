"""The devnet life cycle against a real detached anvil, in tmp dirs (never the developer's own run dir or manifest)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from backend.chain.accounts import DEV_ROLES, dev_accounts
from backend.chain.client import ChainClient
from backend.chain.deploy import manifest_path, read_manifest, verify_on_chain
from backend.errors import DevnetError
from backend.toolchain import devnet
from backend.toolchain.anvil import AnvilProcess, free_port
from scripts.cli import main


@dataclass
class Dirs:
    run_dir: Path
    deployments_dir: Path

    def up(self, port: int, **kwargs) -> devnet.DevnetStatus:
        return devnet.up(port, run_dir=self.run_dir, deployments_dir=self.deployments_dir, log=lambda _l: None,
                         **kwargs)

    def status(self) -> devnet.DevnetStatus | None:
        return devnet.status(run_dir=self.run_dir, deployments_dir=self.deployments_dir)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    d = Dirs(tmp_path / "run", tmp_path / "deployments")
    # For the CLI, which reads its dirs from Settings.
    monkeypatch.setenv("KANAZAWA_DAO_DEVNET_RUN_DIR", str(d.run_dir))
    monkeypatch.setenv("KANAZAWA_DAO_DEPLOYMENTS_DIR", str(d.deployments_dir))
    yield d
    devnet.down(run_dir=d.run_dir)  # never leave an anvil behind


def gone(pid: int) -> bool:
    return not AnvilProcess(pid, "127.0.0.1", 0, None).alive()


def addresses(st: devnet.DevnetStatus) -> dict[str, str]:
    assert st.deployment is not None
    return {name: c.address for name, c in st.deployment.contracts.items()}


def test_up_reuse_down_reload_fresh(dirs):
    port = free_port()
    first = dirs.up(port)
    assert first.running and first.deployed and not first.reused and first.chain_id == 31337
    manifest = read_manifest(31337, dirs.deployments_dir)
    assert first.manifest_path == manifest_path(31337, dirs.deployments_dir)
    w3 = Web3(Web3.HTTPProvider(first.rpc_url))
    assert all(w3.eth.get_code(Web3.to_checksum_address(c.address)) for c in manifest.contracts.values())
    assert json.loads((dirs.run_dir / "devnet.json").read_text())["pid"] == first.pid

    second = dirs.up(port)
    assert second.reused and not second.deployed and second.pid == first.pid
    assert addresses(second) == addresses(first)
    assert read_manifest(31337, dirs.deployments_dir).deployed_at == manifest.deployed_at  # not rewritten

    with pytest.raises(DevnetError, match="devnet down"):
        dirs.up(free_port())

    st = dirs.status()
    assert st is not None and st.running and st.pid == first.pid and st.rpc_url == first.rpc_url
    assert addresses(st) == addresses(first)
    ChainClient.connect(first.rpc_url).mine(3)  # the reload must keep blocks made after the deployment
    block = w3.eth.block_number
    assert dirs.status().block_number == block

    stopped = devnet.down(run_dir=dirs.run_dir)
    assert stopped is not None and stopped.pid == first.pid and gone(first.pid)
    assert dirs.status() is None and (dirs.run_dir / "state.json").exists()
    assert devnet.down(run_dir=dirs.run_dir) is None

    started = time.monotonic()
    third = dirs.up(port)
    reload_s = time.monotonic() - started
    assert not third.reused and not third.deployed and third.pid != first.pid
    assert third.block_number == block and addresses(third) == addresses(first)
    assert reload_s < 10, f"reload took {reload_s:.1f} s"

    fresh = dirs.up(port, fresh=True)
    assert fresh.deployed and fresh.pid != third.pid and gone(third.pid)
    assert fresh.block_number < block  # a new chain: only the deployment's blocks
    assert read_manifest(31337, dirs.deployments_dir).deployed_at >= manifest.deployed_at


def test_stale_record_is_replaced(dirs):
    port = free_port()
    first = dirs.up(port)
    os.kill(first.pid, signal.SIGKILL)  # a crash: no state dump, the record stays behind
    deadline = time.monotonic() + 5
    while not gone(first.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dirs.status() is not None and not dirs.status().running

    second = dirs.up(port)
    assert second.pid != first.pid and not second.reused
    w3 = Web3(Web3.HTTPProvider(second.rpc_url))
    assert verify_on_chain(read_manifest(31337, dirs.deployments_dir), w3) == []


def test_taken_port_is_named(dirs):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(DevnetError, match=f"port {port}"):
            dirs.up(port)
    assert dirs.status() is None  # nothing recorded


def test_cli(dirs, capsys):
    port = free_port()
    assert main(["devnet", "up", "--port", str(port)]) == 0
    out = capsys.readouterr().out
    manifest = read_manifest(31337, dirs.deployments_dir)
    for name, c in manifest.contracts.items():
        assert name in out and c.address in out
    assert f"http://127.0.0.1:{port}" in out and str(manifest_path(31337, dirs.deployments_dir)) in out
    for acct in dev_accounts():
        assert acct.address in out and "0x" + bytes(acct.account.key).hex() in out
    assert all(role in out for role in DEV_ROLES.values())
    assert "devnet down" in out

    assert main(["devnet", "status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["running"] and st["port"] == port and st["contracts"]["MembershipCard"]["address"] == (
        manifest.contracts["MembershipCard"].address
    )

    assert main(["devnet", "down"]) == 0
    assert "Stopped" in capsys.readouterr().out
    assert main(["devnet", "status"]) == 3

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        assert main(["devnet", "up", "--port", str(taken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(taken) in err and "Traceback" not in err
