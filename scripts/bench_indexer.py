"""Indexer benchmark: a realistic chain of at least 2,000 members and 100,000 events, indexed cold into PostgreSQL
and SQLite, next to the raw fetch+decode limit and Ponder, all measured in one run.

    .venv/bin/python -m scripts.bench_indexer [--runs 3] [--rebuild] [--skip-ponder] [--json]

The chain is built once (about two minutes) and kept as an anvil state dump in var/bench/, so later runs start
in seconds. Every measurement runs in a fresh subprocess (so peak RSS is its own) against the same anvil, over
the same block range; each figure is the median of `--runs` runs. PostgreSQL comes from
KANAZAWA_DAO_BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test), each run in a fresh
schema.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from backend.chain.accounts import dev_account
from backend.chain.client import ChainClient
from backend.chain.deploy import Deployment, DeploymentParams, deploy_all
from backend.domain.vocabulary import ChainRole
from backend.paths import REPO_ROOT
from backend.toolchain.anvil import free_port, start_anvil

BENCH_DIR = REPO_ROOT / "var" / "bench"
STATE = BENCH_DIR / "chain-state.json"
META = BENCH_DIR / "chain.json"
BALLOT_TYPEHASH = keccak(text="Ballot(uint256 proposalId,uint8 support,address voter,uint256 nonce)")
MEMBERS = 2000
PROPOSALS = 15
SOULBOUND_TYPES = 20
PERK_HOLDERS = 100
PERKS_EACH = 20
TXS_PER_BLOCK = 120
BLOCK_GAS_LIMIT = 60_000_000
TAIL_BLOCKS = 40  # empty blocks after the range: Ponder treats the last 30 blocks of an unknown chain as unfinal
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- building the chain


class Miner:
    """Signs transactions locally, sends a block's worth in one JSON-RPC batch, mines, checks every receipt."""

    def __init__(self, rpc_url: str, chain_id: int) -> None:
        self.url = rpc_url
        self.chain_id = chain_id
        self.http = requests.Session()
        self.nonces: dict[str, int] = {}
        self.pending: list[str] = []
        self.pending_gas = 0
        self.blocks = 0
        self.txs = 0

    def rpc(self, method: str, params: list) -> Any:
        body = self.http.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def send(self, sender: LocalAccount, to: str, data: bytes, gas: int, value: int = 0) -> None:
        if self.pending_gas + gas > BLOCK_GAS_LIMIT:
            self.mine()
        nonce = self.nonces.get(sender.address)
        if nonce is None:
            nonce = int(self.rpc("eth_getTransactionCount", [sender.address, "pending"]), 16)
        self.nonces[sender.address] = nonce + 1
        tx = {"to": to, "data": data, "gas": gas, "value": value, "nonce": nonce, "chainId": self.chain_id,
              "maxFeePerGas": 200 * 10**9, "maxPriorityFeePerGas": 10**9}
        self.pending.append("0x" + bytes(sender.sign_transaction(tx).raw_transaction).hex())
        self.pending_gas += gas
        if len(self.pending) >= TXS_PER_BLOCK:
            self.mine()

    def mine(self) -> None:
        if not self.pending:
            return
        calls = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
                 for i, raw in enumerate(self.pending)]
        for answer in self.http.post(self.url, json=calls).json():
            if "error" in answer:
                raise RuntimeError(f"eth_sendRawTransaction: {answer['error']}")
        self.rpc("evm_mine", [])
        receipts = self.rpc("eth_getBlockReceipts", ["latest"])
        failed = [r["transactionHash"] for r in receipts if r["status"] != "0x1"]
        if len(receipts) != len(self.pending) or failed:
            raise RuntimeError(f"block {self.blocks}: {len(receipts)} of {len(self.pending)} mined, failed: {failed[:3]}")
        self.blocks += 1
        self.txs += len(self.pending)
        self.pending = []
        self.pending_gas = 0


def _member(i: int) -> LocalAccount:
    return Account.from_key(hashlib.sha256(f"kanazawa-bench-member-{i}".encode()).digest())


def build_chain() -> dict[str, Any]:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    STATE.unlink(missing_ok=True)
    started = time.monotonic()
    node = start_anvil(free_port(), log_file=BENCH_DIR / "anvil-build.log",
                       extra_args=["--dump-state", str(STATE), "--gas-limit", str(BLOCK_GAS_LIMIT)])
    try:
        client = ChainClient.connect(node.rpc_url)
        city, relayer, issuer = dev_account(0), dev_account(1), dev_account(2)
        deployment = deploy_all(client, city, DeploymentParams(voting_delay=1, voting_period=100_000, quorum_percent=10))
        card = deployment.contract(client.w3, "MembershipCard")
        badges = deployment.contract(client.w3, "CommunityBadges")
        governor = deployment.contract(client.w3, "CityGovernor")
        client.transact(card.functions.grantRole(ChainRole.ISSUER_ROLE.id_bytes, issuer.address), city)

        miner = Miner(node.rpc_url, client.chain_id)
        miner.rpc("evm_setAutomine", [False])
        miner.rpc("anvil_setBlockTimestampInterval", [12])
        rng = random.Random(20261122)
        members = [_member(i) for i in range(MEMBERS)]
        say(f"building: {MEMBERS:,} members ...")
        for i, member in enumerate(members):
            segment = 1 if i % 10 < 6 else (2 if i % 10 < 9 else 3)  # 60 % residents, 30 % 関係人口, 10 % groups
            miner.send(issuer, card.address, card.functions.issue(member.address, segment)._encode_transaction_data(), 400_000)
        miner.mine()

        say(f"building: {SOULBOUND_TYPES} attendance badge types minted to every member ...")
        for t in range(SOULBOUND_TYPES):
            data = badges.functions.createBadgeType(f"ipfs://bafkreiattendance{t:03d}", 0, True, 0)._encode_transaction_data()
            miner.send(issuer, badges.address, data, 300_000)
        miner.mine()
        for badge_type_id in range(1, SOULBOUND_TYPES + 1):
            for start in range(0, MEMBERS, 200):
                chunk = [m.address for m in members[start:start + 200]]
                miner.send(issuer, badges.address, badges.functions.mint(badge_type_id, chunk)._encode_transaction_data(), 1_800_000)
        miner.mine()

        say(f"building: {PERK_HOLDERS} holders trade {PERK_HOLDERS * PERKS_EACH:,} transferable perks ...")
        perk = SOULBOUND_TYPES + 1
        miner.send(issuer, badges.address, badges.functions.createBadgeType("ipfs://bafkreiperk", 0, False, 2)._encode_transaction_data(), 300_000)
        holders = members[:PERK_HOLDERS]
        for holder in holders:
            miner.send(city, holder.address, b"", 21_000, value=10**18)
        miner.mine()
        for holder in holders:
            data = badges.functions.mint(perk, [holder.address] * PERKS_EACH)._encode_transaction_data()
            miner.send(issuer, badges.address, data, 1_500_000)
        miner.mine()
        for _ in range(PERKS_EACH):
            for holder in holders:
                to = members[rng.randrange(PERK_HOLDERS, MEMBERS)].address
                data = badges.functions.safeTransferFrom(holder.address, to, perk, 1, b"")._encode_transaction_data()
                miner.send(holder, badges.address, data, 120_000)
        miner.mine()

        say(f"building: {PROPOSALS} proposals and {MEMBERS * PROPOSALS:,} relayed ballots ...")
        proposal_ids = []
        for p in range(PROPOSALS):
            description = f"Benchmark proposal {p}: ipfs://bafkreiproposal{p:03d}"
            targets, values, calldatas = [deployment.contracts["OutcomeRegistry"].address], [0], [b""]
            data = governor.functions.proposeWithCategory(targets, values, calldatas, description, p % 2)._encode_transaction_data()
            miner.send(relayer, governor.address, data, 500_000)
            proposal_ids.append(governor.functions.hashProposal(targets, values, calldatas, keccak(text=description)).call())
        miner.mine()
        miner.rpc("evm_increaseTime", ["0x2"])  # the voting delay (seconds: the card's clock)
        miner.rpc("evm_mine", [])
        domain = _domain_separator(governor)
        voted = {m.address: 0 for m in members}
        order = [(p, m) for p in proposal_ids for m in members]
        rng.shuffle(order)  # ballots for all proposals interleave, as they would in a live city
        for proposal_id, member in order:
            support = rng.choices((0, 1, 2), weights=(3, 6, 1))[0]
            struct = keccak(encode(["bytes32", "uint256", "uint8", "address", "uint256"],
                                   [BALLOT_TYPEHASH, proposal_id, support, member.address, voted[member.address]]))
            signature = bytes(member.unsafe_sign_hash(keccak(b"\x19\x01" + domain + struct)).signature)
            voted[member.address] += 1
            data = governor.functions.castVoteBySig(proposal_id, support, member.address, signature)._encode_transaction_data()
            miner.send(relayer, governor.address, data, 250_000)
            if miner.txs % 5000 == 0:
                say(f"  {miner.txs:,} transactions in {miner.blocks:,} blocks")
        miner.mine()
        end_block = int(miner.rpc("eth_blockNumber", []), 16)
        for _ in range(TAIL_BLOCKS):
            miner.rpc("evm_mine", [])

        events = _count_events(node.rpc_url, deployment, end_block)
        meta = {
            "deployment": deployment.to_json(),
            "start_block": deployment.start_block,
            "end_block": end_block,
            "events": events,
            "members": MEMBERS,
            "transactions": miner.txs,
            "blocks": end_block - deployment.start_block + 1,
            "build_seconds": round(time.monotonic() - started, 1),
        }
    finally:
        node.stop(timeout=120)  # SIGTERM: anvil writes the state dump on the way out
    if not STATE.exists():
        raise RuntimeError("anvil did not write its state dump")
    META.write_text(json.dumps(meta, indent=1) + "\n")
    say(f"built: {meta['events']:,} events, {meta['transactions']:,} transactions, {meta['blocks']:,} blocks "
        f"in {meta['build_seconds']} s; state in {STATE}")
    return meta


def _domain_separator(governor) -> bytes:
    _f, name, version, chain_id, verifying, _s, _e = governor.functions.eip712Domain().call()
    type_hash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    return keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                         [type_hash, keccak(text=name), keccak(text=version), chain_id, verifying]))


def _count_events(rpc_url: str, deployment: Deployment, end_block: int) -> int:
    from indexer.rpc import LogFetcher, RpcClient

    fetcher = LogFetcher(RpcClient(rpc_url), [c.address for c in deployment.contracts.values()])
    return len(fetcher.fetch(deployment.start_block, end_block))


# ---------------------------------------------------------------------- measuring (each in a subprocess)


def worker(kind: str, rpc_url: str, database_url: str, batch_blocks: int) -> dict[str, Any]:
    """Runs in its own process: one measurement, printed as JSON on stdout."""
    from backend.db import make_engine, session_factory
    from indexer.decode import EventSpec
    from indexer.rpc import LogFetcher, RpcClient
    from indexer.runner import Indexer

    meta = json.loads(META.read_text())
    deployment = Deployment.from_json(meta["deployment"])
    start, end = meta["start_block"], meta["end_block"]
    rpc = RpcClient(rpc_url)
    if kind == "limit":
        # The same fetcher and decoder as the indexer, no database: the ceiling our backfill can reach.
        from backend.chain.artifacts import load_artifacts
        artifacts = load_artifacts()
        specs = {}
        for name, c in deployment.contracts.items():
            for item in artifacts[name].abi:
                if item["type"] == "event":
                    spec = EventSpec.from_abi(name, item)
                    specs[(c.address.lower(), spec.topic0)] = spec
        fetcher = LogFetcher(rpc, [c.address for c in deployment.contracts.values()],
                             initial_span=batch_blocks, max_span=batch_blocks)
        began = time.perf_counter()
        events = 0
        for lo in range(start, end + 1, batch_blocks):
            for log in fetcher.fetch(lo, min(end, lo + batch_blocks - 1)):
                topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
                specs[(log["address"].lower(), topics[0])].decode(topics, bytes.fromhex(log["data"][2:]))
                events += 1
        seconds = time.perf_counter() - began
    else:
        engine = make_engine(database_url)
        indexer = Indexer(sessions=session_factory(engine), rpc=rpc, deployment=deployment, batch_blocks=batch_blocks)
        began = time.perf_counter()
        progress = indexer.run(until=end, once=True)
        seconds = time.perf_counter() - began
        events = progress.events
        engine.dispose()
    blocks = end - start + 1
    return {"kind": kind, "seconds": seconds, "events": events, "blocks": blocks,
            "events_per_s": events / seconds, "blocks_per_s": blocks / seconds,
            "rpc_calls_per_1000_events": rpc.stats.calls * 1000 / max(1, events),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_worker(kind: str, rpc_url: str, database_url: str, batch_blocks: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "scripts.bench_indexer", "--worker", kind, "--rpc-url", rpc_url,
           "--database-url", database_url, "--batch-blocks", str(batch_blocks)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _fresh_sqlite() -> str:
    path = BENCH_DIR / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
    return f"sqlite:///{path}"


def _fresh_pg_schema(base: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}", schema


def _drop_pg_schema(base: str, schema: str) -> None:
    from sqlalchemy import create_engine, text
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def measure(runs: int, batch_blocks: int, pg_base: str, with_ponder: bool) -> dict[str, Any]:
    from backend.migrate import upgrade

    meta = json.loads(META.read_text())
    node = start_anvil(free_port(), state_file=None, log_file=BENCH_DIR / "anvil-bench.log",
                       extra_args=["--load-state", str(STATE)])
    results: dict[str, list[dict[str, Any]]] = {"limit": [], "postgresql": [], "sqlite": [], "ponder": []}
    try:
        head = int(requests.post(node.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                                     "params": []}).json()["result"], 16)
        if head < meta["end_block"]:
            raise RuntimeError(f"the reloaded chain ends at {head}, expected at least {meta['end_block']}")
        for run in range(1, runs + 1):
            say(f"run {run}/{runs}: raw fetch+decode ...")
            results["limit"].append(_run_worker("limit", node.rpc_url, "", batch_blocks))
            say(f"run {run}/{runs}: our backfill into PostgreSQL ...")
            url, schema = _fresh_pg_schema(pg_base)
            try:
                upgrade(url)
                results["postgresql"].append(_run_worker("index", node.rpc_url, url, batch_blocks))
            finally:
                _drop_pg_schema(pg_base, schema)
            say(f"run {run}/{runs}: our backfill into SQLite ...")
            url = _fresh_sqlite()
            try:
                upgrade(url)
                results["sqlite"].append(_run_worker("index", node.rpc_url, url, batch_blocks))
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            if with_ponder:
                say(f"run {run}/{runs}: Ponder 0.16.10 into PostgreSQL ...")
                from scripts.bench_ponder import measure_ponder
                deployment = Deployment.from_json(meta["deployment"])
                outcome = measure_ponder(node.rpc_url, pg_base, deployment, meta["end_block"],
                                         schema=f"ponder_{uuid.uuid4().hex[:8]}")
                results["ponder"].append({**outcome, "kind": "ponder"})
            for kind in results:
                if results[kind]:
                    say(f"  {kind:<10} {results[kind][-1]['events_per_s']:>10,.0f} events/s")
    finally:
        node.stop()
    return {"chain": {k: meta[k] for k in ("events", "members", "transactions", "blocks", "start_block", "end_block")},
            "runs": runs, "batch_blocks": batch_blocks, "results": results}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(measured: dict[str, Any]) -> str:
    r = measured["results"]
    chain = measured["chain"]
    med = {k: {f: median([x[f] for x in v]) for f in ("events_per_s", "blocks_per_s", "seconds", "peak_rss_mb",
                                                    "rpc_calls_per_1000_events")}
           for k, v in r.items() if v}
    if r["ponder"]:
        # Like our workers' timers (which start after imports), Ponder's rate leaves out its start-up; the total
        # including start-up is reported below the table.
        med["ponder"]["seconds"] = median([x["seconds_excluding_startup"] for x in r["ponder"]])
        med["ponder"]["total"] = median([x["seconds"] for x in r["ponder"]])
    limit = med["limit"]["events_per_s"]
    lines = [
        f"Chain: {chain['members']:,} members, {chain['events']:,} events in {chain['transactions']:,} transactions, "
        f"{chain['blocks']:,} blocks (blocks {chain['start_block']:,}-{chain['end_block']:,}). "
        f"Median of {measured['runs']} runs, batch {measured['batch_blocks']:,} blocks, one machine, same run.",
        "",
        "| indexer | events/s | blocks/s | seconds | RPC calls / 1,000 events | peak RSS (MB) | vs raw limit | vs Ponder |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ponder = med.get("ponder", {}).get("events_per_s")
    names = {"limit": "raw eth_getLogs + decode, no database (the limit)", "postgresql": "ours, cold backfill into PostgreSQL",
             "sqlite": "ours, cold backfill into SQLite", "ponder": "Ponder 0.16.10 into PostgreSQL"}
    for k in ("limit", "postgresql", "sqlite", "ponder"):
        if k not in med:
            continue
        m = med[k]
        vs_ponder = f"{m['events_per_s'] / ponder:.2f}x" if ponder and k != "ponder" else "-"
        rpc = f"{m['rpc_calls_per_1000_events']:.1f}"
        lines.append(f"| {names[k]} | {m['events_per_s']:,.0f} | {m['blocks_per_s']:,.0f} | {m['seconds']:.2f} | {rpc} | "
                     f"{m['peak_rss_mb']:.0f} | {m['events_per_s'] / limit:.0%} | {vs_ponder} |")
    if "ponder" in med:
        lines += ["", f"Ponder's figures leave out its start-up (building the app, {med['ponder']['total'] - med['ponder']['seconds']:.1f} s "
                      f"median); from process start to indexed it took {med['ponder']['total']:.1f} s. Peak RSS is summed "
                      "over Ponder's process tree. Ours run as one Python process each."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-blocks", type=int, default=2000)
    parser.add_argument("--rebuild", action="store_true", help="build the benchmark chain again")
    parser.add_argument("--skip-ponder", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--rpc-url", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.rpc_url, args.database_url, args.batch_blocks)))
        return 0
    if args.rebuild or not (STATE.exists() and META.exists()):
        build_chain()
    pg = os.environ.get("KANAZAWA_DAO_BENCH_DATABASE_URL", DEFAULT_PG)
    measured = measure(args.runs, args.batch_blocks, pg, with_ponder=not args.skip_ponder)
    print(json.dumps(measured, indent=1) if args.json else report(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
