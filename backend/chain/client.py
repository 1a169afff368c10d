"""A small chain client over web3.py: signs locally, estimates gas against the pending block, waits for the
receipt, and turns every revert into a `ContractRevert` naming the contract's custom error.

Why `pending` plus a margin: anvil estimates against `latest`, and a mint whose votes checkpoint lands in a new
block was under-estimated and ran out of gas (TOOLCHAIN.md).
"""

from __future__ import annotations

import functools
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import TxParams, TxReceipt

from backend.chain.artifacts import load_artifacts
from backend.chain.jsonrpc import JsonRpc, JsonRpcProvider
from backend.chain.reverts import ContractRevert, RevertDecoder
from backend.errors import KanazawaDaoError

GAS_MARGIN = 1.25
RECEIPT_TIMEOUT_S = 120


class TransactionFailed(KanazawaDaoError):
    """A transaction was mined but reverted, and replaying it did not say why."""


@functools.lru_cache(maxsize=1)
def default_decoder() -> RevertDecoder:
    return RevertDecoder(a.abi for a in load_artifacts().values())


def _revert_data(exc: ContractLogicError) -> Any:
    data = exc.data
    if isinstance(data, dict):  # some providers nest it
        data = data.get("data")
    return data if isinstance(data, str) and data.startswith("0x") else None


class ChainClient:
    def __init__(self, w3: Web3, decoder: RevertDecoder | None = None, *, timeout: float = 30) -> None:
        self.w3 = w3
        self.decoder = decoder or default_decoder()
        #: The transport (backend/chain/jsonrpc.py) web3 talks through, for the hot paths' own cheap reads too.
        provider = w3.provider
        self.rpc = provider.rpc if isinstance(provider, JsonRpcProvider) else JsonRpc(provider.endpoint_uri,
                                                                                     timeout=timeout)
        self.chain_id = w3.eth.chain_id

    @classmethod
    def connect(cls, rpc_url: str, *, timeout: float = 30, decoder: RevertDecoder | None = None) -> ChainClient:
        return cls(Web3(JsonRpcProvider(JsonRpc(rpc_url, timeout=timeout))), decoder, timeout=timeout)

    def add_abis(self, abis: list[list[dict[str, Any]]]) -> None:
        """Teach the decoder the errors of contracts outside `contracts/` (the test-only baseline)."""
        self.decoder = RevertDecoder([*abis, *(a.abi for a in load_artifacts().values())])

    # ------------------------------------------------------------------ calls

    def call(self, fn: ContractFunction, *, sender: str | None = None, block: Any = "latest") -> Any:
        try:
            return fn.call({"from": sender} if sender else {}, block_identifier=block)
        except ContractLogicError as exc:
            raise self.decoder.decode(_revert_data(exc)) from None

    def transact(
        self,
        fn: ContractFunction | ContractConstructor,
        sender: LocalAccount,
        *,
        value: int = 0,
        gas: int | None = None,
    ) -> TxReceipt:
        """Sign and send `fn` from `sender`, wait for the receipt, raise `ContractRevert` if it is refused."""
        params: TxParams = {"from": sender.address, "value": value, "chainId": self.chain_id}
        if gas is None:
            try:
                estimate = fn.estimate_gas(params, block_identifier="pending")
            except ContractLogicError as exc:
                raise self.decoder.decode(_revert_data(exc)) from None
            gas = int(estimate * GAS_MARGIN) + 10_000
        params["gas"] = gas
        params["nonce"] = self.w3.eth.get_transaction_count(sender.address, "pending")
        tx = fn.build_transaction(params)
        return self.send_signed(tx, sender)

    def estimate(self, fn: ContractFunction, sender: str, *, value: int = 0) -> int:
        """Gas for `fn` from `sender` against the pending block, with the margin; a refusal raises ContractRevert."""
        try:
            estimate = fn.estimate_gas({"from": sender, "value": value}, block_identifier="pending")
        except ContractLogicError as exc:
            raise self.decoder.decode(_revert_data(exc)) from None
        return int(estimate * GAS_MARGIN) + 10_000

    def sign(self, tx: TxParams, sender: LocalAccount) -> tuple[str, str]:
        """Sign a fully specified transaction without sending it: (raw 0x hex, 0x transaction hash). The relayer
        stores both before broadcasting, so a retry re-sends the very same transaction."""
        signed = sender.sign_transaction(tx)
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()

    def fees(self) -> dict[str, int]:
        """EIP-1559 fees with headroom for two base-fee rises."""
        base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0)
        tip = 10**9
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def send_signed(self, tx: TxParams, sender: LocalAccount) -> TxReceipt:
        signed = sender.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
        if receipt["status"] != 1:
            raise self._why_failed(tx, receipt)
        return receipt

    def why_failed(self, tx: TxParams, receipt: TxReceipt) -> KanazawaDaoError:
        return self._why_failed(tx, receipt)

    def _why_failed(self, tx: TxParams, receipt: TxReceipt) -> KanazawaDaoError:
        """Replay a mined-but-reverted transaction at its block to recover the revert data."""
        replay = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
        try:
            self.w3.eth.call(replay, block_identifier=receipt["blockNumber"] - 1)
        except ContractLogicError as exc:
            return self.decoder.decode(_revert_data(exc))
        except Exception:  # noqa: BLE001 - the original failure is what matters
            pass
        gas_used, gas_limit = receipt["gasUsed"], tx.get("gas")
        hint = " (it used all its gas)" if gas_used == gas_limit else ""
        return TransactionFailed(f"transaction {receipt['transactionHash'].hex()} reverted{hint}")

    # ------------------------------------------------------------------ devnet helpers

    def mine(self, blocks: int = 1) -> None:
        self.w3.provider.make_request("anvil_mine", [hex(blocks)])

    def increase_time(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [hex(seconds)])

    def set_next_block_timestamp(self, timestamp: int) -> None:
        """The next block's time (devnet only; later than the latest block's): tests that need two things a known
        number of seconds apart."""
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [hex(timestamp)])

    def advance_to(self, timestamp: int) -> None:
        """Mine one block at `timestamp` (or now, when the chain is already past it): the card's and the
        governor's clock is the block time, so this is how a devnet reaches a proposal's snapshot or deadline.
        The blocks after it go on from there."""
        latest = self.w3.eth.get_block("latest")["timestamp"]
        if timestamp > latest:
            self.set_next_block_timestamp(timestamp)
        self.mine(1)

    def snapshot(self) -> str:
        return self.w3.provider.make_request("evm_snapshot", [])["result"]

    def revert(self, snapshot_id: str) -> None:
        result = self.w3.provider.make_request("evm_revert", [snapshot_id])
        if not result.get("result"):
            raise KanazawaDaoError(f"evm_revert({snapshot_id}) failed: {result}")


__all__ = ["ChainClient", "ContractRevert", "TransactionFailed"]
