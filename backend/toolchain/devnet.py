"""The local devnet's life cycle: a detached anvil with every contract deployed, and its deployment manifest.

The run dir (`hardhat-free-devnet/.devnet/` by default) holds:
  devnet.json  pid, host, port, rpc url and start time of the running anvil (written atomically)
  state.json   anvil's chain dump: written on SIGTERM (`down`) and every STATE_INTERVAL_S, reloaded by the next `up`,
               so a restart keeps the blocks, the contracts and the manifest
  anvil.log    anvil's output
  lock         held while `up` / `down` run, so two of them never race on the record or the deployment

Every function takes the run dir and the deployments dir as parameters so tests never touch the developer's own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from backend.chain.accounts import dev_account
from backend.chain.client import ChainClient
from backend.chain.deploy import (
    Deployment,
    DeploymentParams,
    deploy_all,
    manifest_path,
    read_manifest,
    verify_on_chain,
    write_manifest,
)
from backend.chain.jsonrpc import JsonRpcUnavailable
from backend.errors import DeploymentError, DevnetError
from backend.paths import DEPLOYMENTS_DIR, DEVNET_RUN_DIR
from backend.toolchain.anvil import CHAIN_ID, DEFAULT_HOST, DEFAULT_PORT, AnvilProcess, port_in_use, rpc, start_anvil
from backend.toolchain.compile import compile_contracts

RECORD = "devnet.json"
STATE = "state.json"
LOG = "anvil.log"
#: How often anvil dumps its state while running: a crash (no SIGTERM) loses at most this much.
STATE_INTERVAL_S = 30
#: A block every BLOCK_TIME_S seconds besides the block each transaction gets at once (anvil's mixed mining), so
#: the devnet's clock moves like a real chain's: a proposal's snapshot and deadline pass without anyone sending
#: anything, as the members' pages promise.
BLOCK_TIME_S = 5
#: A fresh devnet's first block is this far in the past, so that the demo's history (proposals voted, closed and
#: carried out) is dated before today; the seeder then brings the clock to now (scripts/demo/seed.py).
GENESIS_AGE_S = 14 * 24 * 3600

Log = Callable[[str], None]


@dataclass
class DevnetStatus:
    running: bool
    pid: int
    host: str
    port: int
    rpc_url: str
    started_at: str
    state_file: Path
    log_file: Path
    chain_id: int | None = None
    block_number: int | None = None
    manifest_path: Path | None = None
    deployment: Deployment | None = None
    reused: bool = False  # `up` found it already running
    deployed: bool = False  # `up` deployed the contracts (no valid manifest for this chain)

    def to_json(self) -> dict:
        return {
            "running": self.running, "pid": self.pid, "host": self.host, "port": self.port, "rpcUrl": self.rpc_url,
            "startedAt": self.started_at, "chainId": self.chain_id, "blockNumber": self.block_number,
            "stateFile": str(self.state_file), "logFile": str(self.log_file),
            "manifest": str(self.manifest_path) if self.manifest_path else None,
            "contracts": {
                name: {"address": c.address, "blockNumber": c.block_number}
                for name, c in (self.deployment.contracts.items() if self.deployment else [])
            },
        }


# ---------------------------------------------------------------------- run record


def _read_record(run_dir: Path) -> dict | None:
    path = run_dir / RECORD
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:  # only a hand edit can do this (writes are atomic): treat as nothing recorded
        path.unlink()
        return None


def _write_record(run_dir: Path, record: dict) -> None:
    tmp = run_dir / (RECORD + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(run_dir / RECORD)


def _process(record: dict, run_dir: Path) -> AnvilProcess:
    return AnvilProcess(record["pid"], record["host"], record["port"], run_dir / LOG)


def _answers(anvil: AnvilProcess) -> bool:
    """Alive, still anvil, and answering on the recorded port (not some other program that took it since)."""
    if not (anvil.alive() and anvil.is_anvil()):
        return False
    try:
        return int(str(rpc(anvil.rpc_url, "eth_chainId", timeout=2)), 16) == CHAIN_ID
    except (JsonRpcUnavailable, DevnetError, ValueError):
        return False


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes, also if we crash
        yield


def _stop_recorded(record: dict, run_dir: Path) -> bool:
    """Stop the recorded anvil if it still runs, drop the record. True if a process was stopped."""
    anvil = _process(record, run_dir)
    stopped = anvil.alive() and anvil.is_anvil()
    if stopped:
        anvil.stop()
    (run_dir / RECORD).unlink(missing_ok=True)
    return stopped


# ---------------------------------------------------------------------- life cycle


def up(
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    *,
    fresh: bool = False,
    run_dir: Path = DEVNET_RUN_DIR,
    deployments_dir: Path = DEPLOYMENTS_DIR,
    log: Log = print,
    continuous_clock: bool = False,
) -> DevnetStatus:
    """Start the devnet (or reuse the running one) and make sure the current contracts are deployed on it.

    `fresh` stops a running devnet and deletes the chain state and the manifest first: a new chain from block 0.
    `continuous_clock`: a chain started again from its saved state goes on from its last block's time instead of
    the wall clock's (`up` while the demo's history is being seeded).
    """
    compile_contracts(quiet=False)  # also installs the npm toolchain if needed; both are no-ops when current
    state_file, log_file = run_dir / STATE, run_dir / LOG
    with _locked(run_dir):
        record = _read_record(run_dir)
        anvil: AnvilProcess | None = None
        if record is not None:
            recorded = _process(record, run_dir)
            if fresh:
                if _stop_recorded(record, run_dir):
                    log(f"stopped the devnet on {recorded.rpc_url} (pid {recorded.pid}) to start fresh")
            elif not _answers(recorded):
                log(f"the devnet recorded in {run_dir / RECORD} (pid {recorded.pid}) is gone or not answering; "
                    "starting a new one")
                _stop_recorded(record, run_dir)  # a hung anvil is stopped; a reused pid is left alone
            elif (recorded.host, recorded.port) != (host, port):
                raise DevnetError(
                    f"a devnet is already running on {recorded.rpc_url} (pid {recorded.pid}), not on "
                    f"http://{host}:{port}; run `kanazawa-dao devnet down` first, or use --port {recorded.port}"
                )
            else:
                anvil = recorded
        if fresh:
            state_file.unlink(missing_ok=True)
            manifest_path(CHAIN_ID, deployments_dir).unlink(missing_ok=True)

        reused = anvil is not None
        if anvil is None:
            anvil = _start(port, host, state_file, log_file, continuous_clock)
            record = {
                "pid": anvil.pid, "host": host, "port": port, "rpc_url": anvil.rpc_url,
                "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            }
            _write_record(run_dir, record)
            log(f"started anvil on {anvil.rpc_url} (pid {anvil.pid})"
                + (f", chain state reloaded from {state_file}" if state_file.exists() else ""))

        client = ChainClient.connect(anvil.rpc_url)
        deployment = _current_deployment(client, deployments_dir, log)
        deployed = deployment is None
        if deployment is None:
            deployment = deploy_all(client, dev_account(0), DeploymentParams(), log=log)
            write_manifest(deployment, deployments_dir)
    assert record is not None
    return DevnetStatus(
        running=True, pid=anvil.pid, host=host, port=port, rpc_url=anvil.rpc_url, started_at=record["started_at"],
        state_file=state_file, log_file=log_file, chain_id=client.chain_id, block_number=client.w3.eth.block_number,
        manifest_path=manifest_path(client.chain_id, deployments_dir), deployment=deployment,
        reused=reused, deployed=deployed,
    )


def _start(port: int, host: str, state_file: Path, log_file: Path, continuous_clock: bool) -> AnvilProcess:
    try:
        return start_anvil(
            port, host=host, state_file=state_file, log_file=log_file, detach=True,
            extra_args=["--state-interval", str(STATE_INTERVAL_S), "--mixed-mining", "--block-time", str(BLOCK_TIME_S),
                        *([] if state_file.exists() else ["--timestamp", str(int(time.time()) - GENESIS_AGE_S)])],
            continuous_clock=continuous_clock,
        )
    except DevnetError as exc:
        # anvil refuses a state dump it cannot read: say how to get past it (not for a taken port).
        if state_file.exists() and not port_in_use(port, host):
            raise DevnetError(
                f"{exc}\nIf the saved chain state {state_file} is damaged, start over with "
                "`kanazawa-dao devnet up --fresh`."
            ) from None
        raise


def _current_deployment(client: ChainClient, deployments_dir: Path, log: Log) -> Deployment | None:
    """The manifest's deployment if its contracts are on this chain and from the current build, else None."""
    if not manifest_path(client.chain_id, deployments_dir).exists():
        return None
    try:
        deployment = read_manifest(client.chain_id, deployments_dir)
    except DeploymentError as exc:
        log(f"{exc}: deploying again")
        return None
    problems = verify_on_chain(deployment, client.w3)
    if problems:
        log(f"the manifest does not match the chain ({'; '.join(problems)}): deploying again")
        return None
    return deployment


def down(*, run_dir: Path = DEVNET_RUN_DIR) -> DevnetStatus | None:
    """Stop the recorded devnet (anvil dumps its state on SIGTERM). Returns what was stopped, None if nothing ran."""
    with _locked(run_dir):
        record = _read_record(run_dir)
        if record is None:
            return None
        anvil = _process(record, run_dir)
        stopped = _stop_recorded(record, run_dir)
    return DevnetStatus(
        running=False, pid=anvil.pid, host=anvil.host, port=anvil.port, rpc_url=anvil.rpc_url,
        started_at=record["started_at"], state_file=run_dir / STATE, log_file=run_dir / LOG,
    ) if stopped else None


def status(*, run_dir: Path = DEVNET_RUN_DIR, deployments_dir: Path = DEPLOYMENTS_DIR) -> DevnetStatus | None:
    """The recorded devnet, live figures included when it answers; None when none is recorded."""
    record = _read_record(run_dir)
    if record is None:
        return None
    anvil = _process(record, run_dir)
    result = DevnetStatus(
        running=_answers(anvil), pid=anvil.pid, host=anvil.host, port=anvil.port, rpc_url=anvil.rpc_url,
        started_at=record["started_at"], state_file=run_dir / STATE, log_file=run_dir / LOG,
    )
    if result.running:
        result.chain_id = int(str(rpc(anvil.rpc_url, "eth_chainId")), 16)
        result.block_number = int(str(rpc(anvil.rpc_url, "eth_blockNumber")), 16)
        path = manifest_path(result.chain_id, deployments_dir)
        if path.exists():
            result.manifest_path = path
            with contextlib.suppress(DeploymentError):
                result.deployment = read_manifest(result.chain_id, deployments_dir)
    return result


__all__ = ["DevnetStatus", "STATE_INTERVAL_S", "down", "status", "up"]
