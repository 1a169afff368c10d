"""The indexer loop: where to read (the deployment manifest), what to store (backend.models.chain), how (handlers).

Each step takes the next block range up to `head - confirmations`, fetches its logs (indexer.rpc), checks them
against the block headers, decodes them, runs their handlers and writes rows, blocks and the cursor in ONE
transaction: the cursor is never ahead of the data, and a crash anywhere leaves the last committed batch. Before
each step the cursor's block hash is compared with the chain; on a mismatch (a reorg) the newest stored block that
still matches is the fork point, everything above it is rolled back and indexed again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.chain.artifacts import load_artifacts
from backend.chain.deploy import Deployment
from backend.errors import KanazawaDaoError
from backend.models import chain as m
from indexer import store
from indexer.decode import EventSpec, UndecodableLog
from indexer.handlers import Batch, Log, handler_for
from indexer.rpc import LogFetcher, RpcClient, RpcError

RECENT_BLOCKS = 128  # headers kept beyond those with events, to find fork points


class IndexerError(KanazawaDaoError):
    """The chain, the manifest and the database do not fit together."""


@dataclass
class Progress:
    started: float = field(default_factory=time.monotonic)
    blocks: int = 0
    events: int = 0
    batches: int = 0
    reorgs: int = 0
    head: int = 0
    cursor: int = 0

    def line(self, rpc_calls: int) -> str:
        elapsed = max(1e-9, time.monotonic() - self.started)
        per_k = rpc_calls * 1000 / self.events if self.events else 0
        return (f"block {self.cursor:,} of {self.head:,} (lag {self.head - self.cursor:,}) | "
                f"{self.blocks / elapsed:,.0f} blocks/s, {self.events / elapsed:,.0f} events/s | "
                f"{self.events:,} events, {rpc_calls:,} RPC calls ({per_k:.1f}/1000 events)")


def manifest_fingerprint(deployment: Deployment) -> str:
    addresses = sorted((n, c.address.lower(), c.block_number) for n, c in deployment.contracts.items())
    return hashlib.sha256(json.dumps([deployment.chain_id, addresses]).encode()).hexdigest()


class Indexer:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        rpc: RpcClient,
        deployment: Deployment,
        confirmations: int = 0,
        batch_blocks: int = 2000,
        log: Callable[[str], None] | None = None,
        progress_every: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.rpc = rpc
        self.deployment = deployment
        self.chain_id = deployment.chain_id
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.say = log or (lambda _line: None)
        self.progress_every = progress_every
        self.progress = Progress()
        self.stop_requested = False
        self.fingerprint = manifest_fingerprint(deployment)
        artifacts = load_artifacts()
        self.specs: dict[tuple[str, bytes], EventSpec] = {}
        self.contract_of: dict[str, str] = {}
        for name, deployed in deployment.contracts.items():
            address = deployed.address.lower()
            self.contract_of[address] = name
            for item in artifacts[name].abi:
                if item["type"] == "event" and not item.get("anonymous"):
                    spec = EventSpec.from_abi(name, item)
                    self.specs[(address, spec.topic0)] = spec
        self.fetcher = LogFetcher(rpc, sorted(self.contract_of), initial_span=batch_blocks, max_span=batch_blocks)

    # ------------------------------------------------------------------ control

    def request_stop(self, *_args: Any) -> None:
        """Finish the batch in hand, then stop (SIGINT / SIGTERM)."""
        self.stop_requested = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def run(self, *, until: int | None = None, once: bool = False, poll_interval: float = 1.0,
            max_step_failures: int = 5) -> Progress:
        """Backfill, then follow the head. `once`: stop when caught up. `until`: stop after that block.

        A step that fails on what the RPC said (a missing block, a foreign or undecodable log), or because the
        database went away (a restart, a dropped connection), wrote nothing; it is tried again after a pause, up to
        `max_step_failures` times in a row, then the error is raised."""
        self.check_chain()
        last_report = time.monotonic()
        failures = 0
        while not self.stop_requested:
            try:
                advanced = self.step(until=until)
                failures = 0
            # OperationalError / InterfaceError: the database is unreachable or cut the connection (a PostgreSQL
            # restart killed `kanazawa-dao index` at once, tests/faults/test_postgres_restart.py); the batch's
            # transaction was rolled back, so the step is simply tried again.
            except (RpcError, IndexerError, UndecodableLog, OperationalError, InterfaceError) as exc:
                failures += 1
                if failures > max_step_failures:
                    raise
                self.say(f"step failed, nothing written, retrying ({failures}/{max_step_failures}): {exc}")
                time.sleep(min(10.0, poll_interval * failures))
                continue
            now = time.monotonic()
            if now - last_report >= self.progress_every:
                self.say(self.progress.line(self.rpc.stats.calls))
                last_report = now
            if until is not None and self.progress.cursor >= until:
                break
            if not advanced:
                if once:
                    break
                time.sleep(poll_interval)
        self.say(self.progress.line(self.rpc.stats.calls) + (" (stopped)" if self.stop_requested else " (done)"))
        return self.progress

    def check_chain(self) -> None:
        """Refuse to start when the chain, the manifest and the database do not belong together."""
        chain_id = self.rpc.chain_id()
        if chain_id != self.chain_id:
            raise IndexerError(f"the RPC serves chain {chain_id}, the manifest is for chain {self.chain_id}")
        names = sorted(self.deployment.contracts)
        codes = self.rpc.batch([("eth_getCode", [self.deployment.contracts[n].address, "latest"]) for n in names])
        missing = [f"{n} ({self.deployment.contracts[n].address})" for n, code in zip(names, codes) if code in (None, "0x")]
        if missing:
            raise IndexerError(
                f"the manifest does not match this chain: no contract code at {', '.join(missing)}; "
                "redeploy (kanazawa-dao devnet up) or point at the chain the manifest describes"
            )
        with self.sessions() as session:
            cursor = session.get(m.IndexerCursor, self.chain_id)
            if cursor is not None and cursor.manifest_hash != self.fingerprint:
                raise IndexerError(
                    "this database was indexed from another deployment of the contracts; "
                    "reset it (kanazawa-dao index --reset) or point at the right database"
                )

    # ------------------------------------------------------------------ one step

    def _cursor(self, session: Session) -> tuple[int, str | None]:
        cursor = session.get(m.IndexerCursor, self.chain_id)
        if cursor is None:
            return self.deployment.start_block - 1, None
        return cursor.block_number, cursor.block_hash

    def step(self, *, until: int | None = None) -> bool:
        """Index the next range. Returns False when there was nothing new to index."""
        head = self.rpc.block_number()
        with self.sessions() as session:
            cursor_block, cursor_hash = self._cursor(session)
        if cursor_hash is not None and self._reorged(cursor_block, cursor_hash, head):
            fork = self._fork_point(head)
            with self.sessions() as session, session.begin():
                deleted = store.rollback_above(session, self.chain_id, fork)
                header = self.rpc.headers([fork])[fork] if fork >= self.deployment.start_block else None
                self._save_cursor(session, fork, header["hash"] if header else "0x" + "00" * 32)
            self.progress.reorgs += 1
            self.say(f"reorg: chain changed above block {fork:,}; rolled back {deleted:,} rows, indexing again")
            cursor_block = fork
        safe_head = head - self.confirmations
        if until is not None:
            safe_head = min(safe_head, until)
        self.progress.head, self.progress.cursor = head, cursor_block
        if safe_head <= cursor_block:
            return False
        start, end = cursor_block + 1, min(safe_head, cursor_block + self.batch_blocks)
        raw_logs = self.fetcher.fetch(start, end)
        with_events = {int(log["blockNumber"], 16) for log in raw_logs}
        recent = set(range(max(start, end - RECENT_BLOCKS + 1), end + 1))
        headers = self.rpc.headers(sorted(with_events | recent))
        batch = self._decode(raw_logs, headers, start, end)
        with self.sessions() as session, session.begin():
            store.write_batch(session, batch, start, end)
            store.insert_ignoring_duplicates(session, m.Block, [
                {"chain_id": self.chain_id, **h, "has_events": n in with_events} for n, h in headers.items()])
            store.prune_blocks(session, self.chain_id, below=end - RECENT_BLOCKS + 1)
            self._save_cursor(session, end, headers[end]["hash"])
        self.progress.blocks += end - start + 1
        self.progress.events += len(raw_logs)
        self.progress.batches += 1
        self.progress.cursor = end
        return True

    def _decode(self, raw_logs: list[dict[str, Any]], headers: dict[int, dict[str, Any]],
                start: int, end: int) -> Batch:
        """Check each log against the range and the headers, decode it, run its handler. The hot loop of a
        backfill: hex is parsed with bytes.fromhex (HexBytes costs several times more) and every field once."""
        batch = Batch(self.chain_id)
        keyed = []
        for raw in raw_logs:
            if not raw.get("removed"):
                keyed.append((int(raw["blockNumber"], 16), int(raw["logIndex"], 16), raw))
        keyed.sort(key=lambda item: (item[0], item[1]))  # handlers rely on log order within a transaction
        specs, contract_of = self.specs, self.contract_of
        try:
            for number, log_index, raw in keyed:
                if not start <= number <= end:
                    raise IndexerError(f"the RPC returned a log of block {number} for range {start}-{end}")
                if raw["blockHash"] != headers[number]["hash"]:
                    # The chain moved under us between the two calls: the next step sees the reorg.
                    raise IndexerError(f"log block hash {raw['blockHash']} does not match block {number}; retry")
                address = raw["address"].lower()
                if address not in contract_of:
                    raise IndexerError(f"the RPC returned a log of {raw['address']}, which we did not ask for")
                topics = [bytes.fromhex(t[2:]) for t in raw["topics"]]
                spec = specs.get((address, topics[0])) if topics else None
                if spec is None:
                    continue  # an event our ABI does not know (e.g. anonymous): nothing to store
                args = spec.decode(topics, bytes.fromhex(raw["data"][2:]))
                log = Log(spec.contract, spec.name, args, number, raw["transactionHash"].lower(), log_index)
                handler_for(spec.contract, spec.name)(batch, log)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexerError(f"the RPC returned a malformed log ({type(exc).__name__}: {exc})") from None
        return batch

    def _save_cursor(self, session: Session, block_number: int, block_hash: str) -> None:
        store.upsert(session, m.IndexerCursor, [{
            "chain_id": self.chain_id, "block_number": block_number, "block_hash": block_hash,
            "manifest_hash": self.fingerprint,
            # set here: an upsert does not fire the column's onupdate, and /health shows when the indexer last moved
            "updated_at": dt.datetime.now(dt.timezone.utc)}], keys=["chain_id"])

    # ------------------------------------------------------------------ reorgs

    def _reorged(self, cursor_block: int, cursor_hash: str, head: int) -> bool:
        if head < cursor_block:
            return True
        return self.rpc.headers([cursor_block])[cursor_block]["hash"] != cursor_hash

    def _fork_point(self, head: int) -> int:
        """The newest stored block whose hash the chain still has; below the start block if none."""
        with self.sessions() as session:
            stored = session.execute(
                select(m.Block.number, m.Block.hash).where(m.Block.chain_id == self.chain_id, m.Block.number <= head)
                .order_by(m.Block.number.desc())
            ).all()
        for offset in range(0, len(stored), 200):
            part = stored[offset:offset + 200]
            chain = self.rpc.headers([n for n, _ in part])
            for number, block_hash in part:
                if chain[number]["hash"] == block_hash:
                    return number
        return self.deployment.start_block - 1


__all__ = ["Indexer", "IndexerError", "Progress", "RpcError", "UndecodableLog"]
