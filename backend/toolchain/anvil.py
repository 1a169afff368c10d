"""Start and stop anvil from the pinned npm package. Used by the devnet (detached) and by tests (attached)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from backend.chain.accounts import DEV_ACCOUNT_COUNT, DEV_BALANCE_ETH, DEV_MNEMONIC
from backend.chain.jsonrpc import JsonRpc, JsonRpcError, JsonRpcUnavailable
from backend.errors import DevnetError
from backend.toolchain import npm as toolchain

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
CHAIN_ID = 31337
READY_TIMEOUT_S = 20
#: How long `AnvilProcess.quiesce` waits for anvil to finish the block in progress before stopping it anyway.
QUIESCE_TIMEOUT_S = 10
ZERO_ADDRESS = "0x" + "00" * 20


def port_in_use(port: int, host: str = DEFAULT_HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def rpc(url: str, method: str, params: list | None = None, *, timeout: float = 2) -> object:
    """One JSON-RPC call to a devnet (its checks and controls); JsonRpcUnavailable when it does not answer,
    DevnetError when it refuses."""
    try:
        return JsonRpc(url, timeout=timeout).call(method, params or [])
    except JsonRpcError as exc:
        raise DevnetError(f"{method} failed: {exc.error}") from None


@dataclass
class AnvilProcess:
    pid: int
    host: str
    port: int
    log_file: Path | None
    process: subprocess.Popen | None = None  # set when we started it in this Python process

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A child of ours that exited stays a zombie (and answers kill 0) until reaped: reap it here, so a devnet
        # started and stopped from the same Python process (tests) is seen as gone.
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:  # not our child: kill 0 said enough
            return True

    def is_anvil(self) -> bool:
        """Whether the pid is still an anvil (a recorded pid may have been reused by another program)."""
        try:
            return "anvil" in Path(f"/proc/{self.pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return self.alive()  # no /proc: trust the pid

    def stop(self, timeout: float = 15) -> None:
        """Mining stopped first (see `quiesce`), then SIGTERM (anvil dumps its state on the way out), then SIGKILL
        if it does not go."""
        if not self.alive():
            return
        self.quiesce()
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None:
                try:
                    self.process.wait(timeout=0.1)
                    return
                except subprocess.TimeoutExpired:
                    continue
            if not self.alive():
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)

    def quiesce(self, *, timeout: float = QUIESCE_TIMEOUT_S) -> None:
        """Stop mining and wait until the block being mined, if any, is stored, so that the state anvil dumps on
        SIGTERM is one consistent chain.

        Anvil (1.7.1) dumps its blocks and transactions first and its accounts and storage after: the latter wait for
        the state database, which a block being mined holds. A block mined in between is in the saved state (its
        transactions' effects, their senders' nonces) but not in the saved blocks: after a restart its transactions,
        receipts and logs are gone while their effects stay, and the next block takes its number. The relayer then
        saw a ballot's nonce used by no transaction, signed it again and got GovernorInvalidSignature (the vote was
        already counted, with no VoteCast anywhere: tests/faults/test_chain_down.py, test_anvil_state_file.py).

        With automine (and interval mining) off no new block starts; a state read waits for the one in progress.
        Transactions sent after this wait in the pool, which the state file does not keep (their senders send them
        again). An anvil that does not answer is stopped as it is."""
        deadline = time.monotonic() + timeout
        try:
            rpc(self.rpc_url, "evm_setAutomine", [False], timeout=timeout)
            rpc(self.rpc_url, "evm_setIntervalMining", [0], timeout=timeout)
            head = None
            while time.monotonic() < deadline:
                # eth_getTransactionCount reads the state database: it answers once the block in progress is stored.
                rpc(self.rpc_url, "eth_getTransactionCount", [ZERO_ADDRESS, "latest"],
                    timeout=max(0.1, deadline - time.monotonic()))
                number = rpc(self.rpc_url, "eth_blockNumber", timeout=max(0.1, deadline - time.monotonic()))
                if number == head:
                    return
                head = number
                time.sleep(0.05)
        except (JsonRpcUnavailable, DevnetError):
            return


def _keep_the_clock(url: str, *, continuous: bool) -> None:
    """anvil restarted from a saved state dates its next blocks by the wall clock, as a real chain's time goes on
    while a node is down. Two cases where that is wrong: the saved chain's clock had been moved ahead of the wall
    clock (a test or the demo ending a vote early), so its time would run backwards and a proposal Active before
    the restart would be Pending again; and `continuous` (the demo's history is being written at times of its
    own, scripts/demo/seed.py): a jump would end its voting periods and expire its invitations. Then its next block
    comes right after the last one instead."""
    latest = int(rpc(url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    if continuous or latest >= int(time.time()):
        # anvil_setTime, not evm_setNextBlockTimestamp: after a reload anvil compares the latter with its own clock
        # (the wall clock), so it refuses a time before it; anvil_setTime moves that clock itself.
        rpc(url, "anvil_setTime", [latest + 1])


def start_anvil(
    port: int = DEFAULT_PORT,
    *,
    host: str = DEFAULT_HOST,
    state_file: Path | None = None,
    log_file: Path | None = None,
    detach: bool = False,
    extra_args: list[str] | None = None,
    continuous_clock: bool = False,
) -> AnvilProcess:
    """Start anvil and wait until it answers. A port already taken is refused before anything starts. A chain
    loaded from a saved state keeps its clock from running backwards; `continuous_clock` also keeps it from
    jumping forward to the wall clock (`_keep_the_clock`)."""
    if port_in_use(port, host):
        raise DevnetError(
            f"port {port} on {host} is already in use by another process; stop it or choose another port (--port N)"
        )
    binary = toolchain.anvil_binary()
    cmd = [
        str(binary), "--host", host, "--port", str(port), "--chain-id", str(CHAIN_ID),
        "--mnemonic", DEV_MNEMONIC, "--accounts", str(DEV_ACCOUNT_COUNT), "--balance", str(DEV_BALANCE_ETH),
    ]
    if state_file is not None:
        cmd += ["--state", str(state_file)]
    cmd += extra_args or []
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=detach
        )
    finally:
        if log_file:
            out.close()
    anvil = AnvilProcess(proc.pid, host, port, log_file, proc)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file and log_file.exists() else ""
            raise DevnetError(f"anvil exited with code {proc.returncode} while starting.\n{tail}".rstrip())
        try:
            rpc(anvil.rpc_url, "eth_chainId", timeout=0.5)
        except (JsonRpcUnavailable, DevnetError):
            time.sleep(0.05)
            continue
        if state_file is not None or any(a in ("--load-state", "--state") for a in extra_args or []):
            _keep_the_clock(anvil.rpc_url, continuous=continuous_clock)
        return anvil
    anvil.stop()
    raise DevnetError(f"anvil did not answer on {anvil.rpc_url} within {READY_TIMEOUT_S} s")
