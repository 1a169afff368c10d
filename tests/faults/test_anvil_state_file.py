"""Seen under fault (b), tests/faults/test_chain_down.py: a ballot mined just before anvil was stopped was, after the
restart, neither in a block nor lost: its vote was counted and the voter's nonce used (the relayer saw its own nonce
used by no transaction, signed the ballot again and got GovernorInvalidSignature), but the block holding it was gone
and the next block took its number, so its VoteCast was nowhere.

Anvil (1.7.1) dumps its blocks and transactions, then its accounts and storage, which wait for the state database
that a block being mined holds: SIGTERM during mining saved a state ahead of its blocks. `AnvilProcess.stop` now turns
mining off and waits for the block in progress before SIGTERM. Here anvil is stopped while it mines blocks that take
a while (transactions that burn the whole block gas limit), then started again from its state file: every account's
nonce must be the count of its mined transactions, and every receipt seen before the stop must still be there."""

from __future__ import annotations

import time
from pathlib import Path

from eth_account import Account
from web3 import HTTPProvider, Web3

from backend.chain.accounts import DEV_MNEMONIC
from backend.toolchain.anvil import free_port, start_anvil

Account.enable_unaudited_hdwallet_features()
#: Init code that loops until it runs out of gas: a contract creation that is mined (status 0) after burning `gas`.
BURN = "0x5b600056"
SENDERS = 4


def test_state_file_saved_while_mining_is_one_consistent_chain(tmp_path: Path):
    state = tmp_path / "anvil-state.json"
    anvil = start_anvil(free_port(), state_file=state, log_file=tmp_path / "anvil.log")
    try:
        w3 = Web3(HTTPProvider(anvil.rpc_url))
        gas = w3.eth.get_block("latest")["gasLimit"]
        senders = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(1, 1 + SENDERS)]
        sent: dict[str, list[str]] = {s.address: [] for s in senders}

        def burn(sender, nonce: int) -> str:
            tx = {"data": BURN, "value": 0, "gas": gas, "nonce": nonce, "chainId": w3.eth.chain_id,
                  "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
            tx_hash = "0x" + bytes(w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)).hex()
            sent[sender.address].append(tx_hash)
            return tx_hash

        first = burn(senders[0], 0)
        w3.eth.wait_for_transaction_receipt(first, poll_latency=0.01)
        # A few blocks, each as heavy as a block gets, being mined one after the other while anvil is stopped.
        for i, sender in enumerate(senders):
            burn(sender, 1 if i == 0 else 0)
        started = time.monotonic()
        anvil.stop()
        assert time.monotonic() - started < 15, "anvil took too long to stop"

        anvil = start_anvil(anvil.port, state_file=state, log_file=tmp_path / "anvil.log")
        w3 = Web3(HTTPProvider(anvil.rpc_url))
        head = w3.eth.block_number
        problems = []
        for address, hashes in sent.items():
            mined = []
            for tx_hash in hashes:
                try:
                    mined.append(w3.eth.get_transaction_receipt(tx_hash)["blockNumber"])
                except Exception:  # noqa: BLE001 - not found: not mined before the stop (the pool is not saved)
                    pass
            nonce = w3.eth.get_transaction_count(address)
            if nonce != len(mined):
                problems.append(f"{address}: nonce {nonce} after the restart, {len(mined)} of its transactions in "
                                f"blocks (head {head})")
        assert w3.eth.get_transaction_receipt(first)["blockNumber"] == 1
        assert not problems, "the saved state is ahead of the saved blocks:\n" + "\n".join(problems)
        for number in range(1, head + 1):  # every saved block is there, with its transactions
            block = w3.eth.get_block(number)
            assert block["transactions"], f"block {number} is empty"
    finally:
        anvil.stop()
