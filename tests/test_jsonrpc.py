"""backend/chain/jsonrpc.py, the one JSON-RPC transport, against the real anvil and through the fault-injecting proxy:
answers equal web3's, batches keep their order, a connection the node closed is replaced once, everything else
is a clear JsonRpcUnavailable."""

from __future__ import annotations

import threading

import pytest

from backend.chain.jsonrpc import JsonRpc, JsonRpcUnavailable
from backend.toolchain.anvil import free_port, start_anvil
from tests.rpc_proxy import RpcProxy


def test_reads_equal_web3s(client, dao):
    reader = JsonRpc(client.w3.provider.endpoint_uri)
    assert int(reader.call("eth_blockNumber", []), 16) == client.w3.eth.block_number
    gov = dao.governor
    calls = [("eth_call", [{"to": gov.address, "data": gov.functions.votingDelay()._encode_transaction_data()},
                           "latest"]),
             ("eth_chainId", []),
             ("eth_call", [{"to": gov.address, "data": "0xdeadbeef"}, "latest"])]  # no such function: reverts
    answers = reader.batch(calls)
    assert int(answers[0]["result"], 16) == gov.functions.votingDelay().call()
    assert int(answers[1]["result"], 16) == client.chain_id
    assert "error" in answers[2]
    with pytest.raises(JsonRpcUnavailable, match="refused eth_getBalance"):
        reader.call("eth_getBalance", ["not an address", "latest"])


def test_one_connection_per_thread_in_parallel(client):
    reader = JsonRpc(client.w3.provider.endpoint_uri)
    head = client.w3.eth.block_number
    seen, errors = [], []

    def read() -> None:
        try:
            for _ in range(20):
                seen.append(int(reader.call("eth_blockNumber", []), 16))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(seen) == 160 and min(seen) >= head


def test_faults(client, tmp_path):
    proxy = RpcProxy(client.w3.provider.endpoint_uri, free_port()).start()
    try:
        reader = JsonRpc(proxy.url, timeout=2)
        assert reader.call("eth_chainId", []) == hex(client.chain_id)
        proxy.inject("drop")  # the connection closed under the reader: sent again on a new one
        assert reader.call("eth_chainId", []) == hex(client.chain_id)
        proxy.inject("drop", times=2)  # closed twice in a row: given up
        with pytest.raises(JsonRpcUnavailable, match="RemoteDisconnected"):
            reader.call("eth_chainId", [])
        proxy.inject("http500")
        with pytest.raises(JsonRpcUnavailable, match="HTTP 500"):
            reader.call("eth_chainId", [])
        proxy.inject("timeout")  # the proxy waits 3 s, the reader 2
        with pytest.raises(JsonRpcUnavailable, match="timed out"):
            reader.call("eth_chainId", [])
        proxy.inject("rpc_error")
        with pytest.raises(JsonRpcUnavailable, match="internal error"):
            reader.call("eth_chainId", [])
        assert reader.call("eth_chainId", []) == hex(client.chain_id)  # and then it works again
        proxy.stop()
        with pytest.raises(JsonRpcUnavailable, match="ConnectionRefused"):
            reader.call("eth_chainId", [])
    finally:
        proxy.stop()


def test_a_restarted_node_is_reached_again(tmp_path):
    node = start_anvil(free_port(), log_file=tmp_path / "anvil.log")
    try:
        reader = JsonRpc(node.rpc_url)
        assert reader.call("eth_chainId", []) == "0x7a69"
        node.stop()
        node = start_anvil(node.port, log_file=tmp_path / "anvil.log")
        assert reader.call("eth_chainId", []) == "0x7a69"  # the old connection is dead: a new one
    finally:
        node.stop()


def test_not_an_http_url():
    with pytest.raises(ValueError, match="http"):
        JsonRpc("ws://127.0.0.1:8545")
