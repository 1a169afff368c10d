"""Ponder as a peer indexer: the app in benchmarks/ponder/ indexes our contracts into the tables of
backend/models/chain.py, and `measure_ponder` times it on a given chain and block range, for side-by-side figures
with our indexer (scripts/bench_indexer.py).

    .venv/bin/python -m scripts.bench_ponder            # a small chain on a fresh anvil: measure, then check tallies
    .venv/bin/python -m scripts.bench_ponder --write-abis

How it measures:
  - `npm ci` in benchmarks/ponder when node_modules does not match package-lock.json; the ABI modules are
    regenerated from contracts/build (`write_abis`).
  - `ponder start` (production mode) runs from node_modules/.bin directly, not through npx, so the process tree
    whose RSS is summed holds Ponder and its children only. It indexes into a fresh schema of the given PostgreSQL,
    with every contract's `endBlock` set to `end_block`.
  - Ponder treats the last 30 blocks of an unknown chain as unfinalised and indexes them block by block in its
    realtime mode. If the chain's head is less than 30 blocks past `end_block`, the missing empty blocks are mined
    first (they change nothing below `end_block`), so the whole range is a backfill, like ours.
  - Done = `/ready` answers 200 (backfill complete and Ponder's indexes built) and `/status` shows the chain at or
    past `end_block`. `seconds` runs from process start to that moment (the time of Ponder's own "/ready" log line
    when present); `seconds_excluding_startup` starts at Ponder's "Started backfill indexing" log line instead, so
    the build of the app, the database setup and the first RPC calls are left out, as the timers of our indexer
    leave out the interpreter's start. `events_per_s` uses the latter; `events_per_s_including_startup` the former.
  - `events` is the number of logs Ponder ran a handler for (its `ponder_indexing_completed_events` metric);
    `logs_in_range` is what eth_getLogs returns for the same addresses and range, as a check.
  - Ponder throttles each RPC URL adaptively, starting at 20 requests/s and rising 5% at a time only after ~10 s
    at the limit (node_modules/ponder/src/rpc/index.ts). That is Ponder as shipped, and what is measured by default;
    PONDER_RPC_FANOUT=n in the environment lists the URL n times (n buckets) to see Ponder without the throttle. On
    a chain of one transaction per block the throttle dominates; on blocks of hundreds of events it barely shows.
  - Afterwards Ponder is stopped (SIGTERM, then SIGKILL of its process group after 15 s) and its schema dropped;
    so is its shared `ponder_sync` schema when this run created it, else the rows it holds for this chain id are
    deleted (anvil chains all have id 31337: leftovers would be served to the next run on a different chain).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from backend.chain.deploy import CONTRACT_NAMES, Deployment
from backend.paths import CONTRACTS_BUILD_DIR, REPO_ROOT
from backend.toolchain.anvil import free_port

PONDER_DIR = REPO_ROOT / "benchmarks" / "ponder"
ABI_DIR = PONDER_DIR / "abis"
LOG_DIR = REPO_ROOT / "var" / "bench"
PONDER_VERSION = "0.16.10"
FINALITY_BLOCKS = 30  # Ponder's finality depth for chains it does not know (utils/finality.ts)
TAIL_BLOCKS = FINALITY_BLOCKS + 5
SYNC_SCHEMA = "ponder_sync"
ENV_ADDRESS = {
    "MembershipCard": "PONDER_CARD_ADDRESS",
    "CommunityBadges": "PONDER_BADGES_ADDRESS",
    "TimelockController": "PONDER_TIMELOCK_ADDRESS",
    "CityGovernor": "PONDER_GOVERNOR_ADDRESS",
    "OutcomeRegistry": "PONDER_OUTCOMES_ADDRESS",
}
#: The tables of ponder.schema.ts (= backend/models/chain.py without indexer_cursor and block).
TABLES = (
    "membership_event", "membership_card", "voting_power_change", "delegation_change", "badge_type",
    "badge_transfer", "badge_balance", "proposal", "proposal_event", "vote", "tally", "outcome", "role_event",
    "role_member", "contract_event",
)
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,44}$")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class PonderError(RuntimeError):
    """Ponder did not start, failed, or did not reach the end block in time."""


# ---------------------------------------------------------------------- the app's inputs


def write_abis(build_dir: Path = CONTRACTS_BUILD_DIR, out_dir: Path = ABI_DIR) -> list[Path]:
    """One TypeScript module per deployed contract, `export const <Name>Abi = [...] as const`, from our compiled
    artifacts (compiled first if stale). Files are rewritten only when their content changes."""
    from backend.toolchain.compile import build_artifacts

    if build_dir == CONTRACTS_BUILD_DIR:
        build_artifacts()  # compiles when the build is missing or stale
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CONTRACT_NAMES:
        artifact = json.loads((build_dir / f"{name}.json").read_text())
        body = (
            f"// Generated by scripts/bench_ponder.py (write_abis) from contracts/build/{name}.json\n"
            f"// (sourceHash {artifact['sourceHash']}).\n"
            f"// Do not edit: run `.venv/bin/python -m scripts.bench_ponder --write-abis`.\n\n"
            f"export const {name}Abi = {json.dumps(artifact['abi'], indent=2)} as const;\n"
        )
        path = out_dir / f"{name}.ts"
        if not path.exists() or path.read_text() != body:
            path.write_text(body)
        written.append(path)
    return written


def ensure_node_modules(app_dir: Path = PONDER_DIR) -> float:
    """`npm ci` when node_modules was not installed from the current package-lock.json. Returns its seconds (0 when
    nothing was needed)."""
    lock = app_dir / "package-lock.json"
    stamp = app_dir / "node_modules" / ".kanazawa-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if (app_dir / "node_modules" / ".bin" / "ponder").exists() and stamp.exists() and stamp.read_text() == digest:
        return 0.0
    say("npm ci in benchmarks/ponder ...")
    began = time.perf_counter()
    result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=app_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise PonderError(f"npm ci failed in {app_dir}:\n{result.stderr[-3000:]}")
    stamp.write_text(digest)
    return time.perf_counter() - began


def node_database_url(database_url: str) -> str:
    """The libpq form of a SQLAlchemy URL (no `+driver`, no search_path option): what node-postgres reads."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"Ponder is measured on PostgreSQL only, not {url.get_backend_name()}")
    query = {k: v for k, v in url.query.items() if k != "options"}
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


def _sql_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    query = {k: v for k, v in url.query.items() if k != "options"}
    return create_engine(url.set(query=query))


def _rpc(rpc_url: str, method: str, params: list) -> Any:
    body = requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=60).json()
    if "error" in body:
        raise PonderError(f"{method}: {body['error']}")
    return body["result"]


def ensure_finalised(rpc_url: str, end_block: int) -> int:
    """Mine empty blocks until `end_block` is at least FINALITY_BLOCKS deep. Returns the number mined."""
    head = int(_rpc(rpc_url, "eth_blockNumber", []), 16)
    missing = end_block + TAIL_BLOCKS - head
    if missing > 0:
        say(f"mining {missing} empty blocks after {end_block:,}: Ponder treats the last {FINALITY_BLOCKS} as unfinalised")
        _rpc(rpc_url, "anvil_mine", [hex(missing)])
    return max(0, missing)


def count_logs(rpc_url: str, deployment: Deployment, start: int, end: int, span: int = 5000) -> int:
    addresses = [c.address for c in deployment.contracts.values()]
    total = 0
    for lo in range(start, end + 1, span):
        total += len(_rpc(rpc_url, "eth_getLogs", [{"address": addresses, "fromBlock": hex(lo),
                                                    "toBlock": hex(min(end, lo + span - 1))}]))
    return total


# ---------------------------------------------------------------------- watching the process


class ProcessTreeRss:
    """Samples the summed VmRSS of a process and all its descendants from /proc; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ProcessTreeRss:
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024

    def sample(self) -> int:
        children: dict[int, list[int]] = defaultdict(list)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children[ppid].append(int(entry))
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, ()))
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            except OSError:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self.sample())
            self._stop.wait(self.interval)


class LogReader:
    """Reads Ponder's JSON log lines (stdout and stderr merged), keeps them, and remembers when marker messages were
    logged (Ponder's own `time`, in ms since the epoch)."""

    MARKERS = ("Started backfill indexing", "Completed backfill indexing across all chains",
               "Started returning 200 responses")

    def __init__(self, stream, log_file: Path) -> None:
        self.stream = stream
        self.log_file = log_file
        self.lines: list[str] = []
        self.marks: dict[str, float] = {}
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LogReader:
        self._thread.start()
        return self

    def join(self, timeout: float = 5) -> None:
        self._thread.join(timeout)

    def tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])

    def _run(self) -> None:
        with self.log_file.open("w") as out:
            for line in self.stream:
                out.write(line)
                self.lines.append(line)
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                msg = str(record.get("msg", ""))
                stamp = record.get("time", time.time() * 1000) / 1000
                if record.get("level") in (50, 60, "error", "fatal"):
                    self.errors.append(msg)
                for marker in self.MARKERS:
                    if msg.startswith(marker):
                        key = marker if marker != "Started returning 200 responses" else f"200 {record.get('endpoint')}"
                        self.marks.setdefault(key, stamp)


_METHOD = re.compile(r'method="([^"]+)"')


def _metrics(port: int) -> tuple[int, dict[str, int]]:
    """From Ponder's Prometheus metrics: the events it ran handlers for, and its RPC requests by method."""
    events, rpc_calls = 0.0, defaultdict(int)
    for line in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if line.startswith("ponder_indexing_completed_events{"):
            events += float(line.rsplit(" ", 1)[1])
        elif line.startswith("ponder_rpc_request_duration_count{"):
            method = _METHOD.search(line)
            rpc_calls[method.group(1) if method else "?"] += int(float(line.rsplit(" ", 1)[1]))
    return int(events), dict(rpc_calls)


def _status_block(port: int) -> int | None:
    try:
        status = requests.get(f"http://127.0.0.1:{port}/status", timeout=5).json()
    except (requests.RequestException, ValueError):
        return None
    blocks = [c["block"]["number"] for c in status.values()] if isinstance(status, dict) else []
    return min(blocks) if blocks else None


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _stop(process: subprocess.Popen, grace: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # the process group we started (Ponder's children, e.g. esbuild), never anything else
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


# ---------------------------------------------------------------------- ponder_sync housekeeping


def _sync_tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
            "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = :s AND c.column_name = 'chain_id' AND t.table_type = 'BASE TABLE'"),
            {"s": SYNC_SCHEMA}).scalars())


def _schema_exists(engine: Engine, schema: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                            {"s": schema}).first() is not None


def forget_chain_in_sync_store(engine: Engine, chain_id: int) -> None:
    """Delete what Ponder cached for `chain_id` in its shared `ponder_sync` schema."""
    tables = _sync_tables(engine)
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f'DELETE FROM "{SYNC_SCHEMA}"."{table}" WHERE chain_id = :c'), {"c": chain_id})


# ---------------------------------------------------------------------- the measurement


def measure_ponder(rpc_url: str, database_url: str, deployment: Deployment, end_block: int, *,
                   schema: str) -> dict[str, Any]:
    """Index `deployment`'s contracts from its start block through `end_block` with Ponder 0.16.10 into a fresh
    `schema` of `database_url` (a SQLAlchemy or libpq PostgreSQL URL), then drop the schema.

    Returns {seconds, seconds_excluding_startup, startup_seconds, events, events_per_s,
    events_per_s_including_startup, blocks, blocks_per_s, logs_in_range, rows_per_table, rpc_calls,
    rpc_calls_per_1000_events, rpc_calls_by_method, rpc_fanout, peak_rss_mb, tail_blocks_mined, npm_ci_seconds,
    ponder_version, log_file}. `seconds` runs from process start, `seconds_excluding_startup` from Ponder's
    "Started backfill indexing"; `events_per_s` and `blocks_per_s` use the latter. See the module docstring."""
    return _measure(rpc_url, database_url, deployment, end_block, schema=schema)


def _measure(rpc_url: str, database_url: str, deployment: Deployment, end_block: int, *, schema: str,
             inspect: Callable[[Engine, str], Any] | None = None, timeout: float = 3600) -> dict[str, Any]:
    if not _SCHEMA_NAME.match(schema) or schema == SYNC_SCHEMA:
        raise ValueError(f"schema {schema!r}: lower-case letters, digits and _, at most 45 characters, not ponder_sync")
    npm_seconds = ensure_node_modules()
    write_abis()
    start_block = deployment.start_block
    tail_mined = ensure_finalised(rpc_url, end_block)
    engine = _sql_engine(database_url)
    if _schema_exists(engine, schema):
        engine.dispose()
        raise ValueError(f"schema {schema!r} already exists: measure_ponder wants a fresh one")
    sync_store_existed = _schema_exists(engine, SYNC_SCHEMA)
    forget_chain_in_sync_store(engine, deployment.chain_id)  # a crashed earlier run may have left rows
    fanout = int(os.environ.get("PONDER_RPC_FANOUT") or 1)

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": node_database_url(database_url),
        "DATABASE_SCHEMA": schema,
        "PONDER_RPC_URL": rpc_url,
        "PONDER_CHAIN_ID": str(deployment.chain_id),
        "PONDER_START_BLOCK": str(start_block),
        "PONDER_END_BLOCK": str(end_block),
        "PONDER_TELEMETRY_DISABLED": "true",
        "NODE_ENV": "production",
        "PONDER_RPC_FANOUT": str(fanout),
        **{var: deployment.contracts[name].address for name, var in ENV_ADDRESS.items()},
    }
    env.pop("DATABASE_PRIVATE_URL", None)  # would take precedence over DATABASE_URL
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [str(PONDER_DIR / "node_modules" / ".bin" / "ponder"), "start", "--schema", schema, "--port", str(port),
           "--hostname", "127.0.0.1", "--log-format", "json", "--log-level", "info"]
    began_wall = time.time()
    began = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=PONDER_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1, start_new_session=True)
    rss = ProcessTreeRss(process.pid).start()
    logs = LogReader(process.stdout, LOG_DIR / f"ponder-{schema}.log").start()
    result: dict[str, Any] = {}
    try:
        done_poll = None
        while done_poll is None:
            if process.poll() is not None:
                logs.join()
                raise PonderError(f"ponder exited with {process.returncode} before indexing through {end_block}:\n"
                                  f"{logs.tail()}")
            if time.perf_counter() - began > timeout:
                raise PonderError(f"ponder did not index through {end_block} within {timeout:.0f} s:\n{logs.tail()}")
            if _ready(port):
                block = _status_block(port)
                if block is not None and block >= end_block:
                    done_poll = time.perf_counter() - began
                    break
            # Poll often only near the end, so the polling (each /ready is a query) does not slow Ponder down.
            time.sleep(0.05 if "Completed backfill indexing across all chains" in logs.marks else 0.5)
        peak_rss_mb = rss.stop()
        ready_mark = logs.marks.get("200 /ready")
        seconds = ready_mark - began_wall if ready_mark is not None and ready_mark - began_wall <= done_poll else done_poll
        backfill_mark = logs.marks.get("Started backfill indexing")
        startup = backfill_mark - began_wall if backfill_mark is not None else None
        events, rpc_by_method = _metrics(port)
        rpc_calls = sum(rpc_by_method.values())
        with engine.connect() as conn:
            rows = {t: conn.execute(text(f'SELECT count(*) FROM "{schema}"."{t}"')).scalar_one() for t in TABLES}
        if inspect is not None:
            inspect(engine, schema)
        excluding = seconds - startup if startup is not None else seconds
        blocks = end_block - start_block + 1
        result = {
            "seconds": seconds,
            "seconds_excluding_startup": excluding,
            "startup_seconds": startup,
            "events": events,
            "events_per_s": events / excluding,
            "events_per_s_including_startup": events / seconds,
            "blocks": blocks,
            "blocks_per_s": blocks / excluding,
            "rows_per_table": rows,
            "rows": sum(rows.values()),
            "rpc_calls": rpc_calls,
            "rpc_calls_per_1000_events": rpc_calls * 1000 / max(1, events),
            "rpc_calls_by_method": rpc_by_method,
            "peak_rss_mb": peak_rss_mb,
            "rpc_fanout": fanout,
            "tail_blocks_mined": tail_mined,
            "npm_ci_seconds": npm_seconds,
            "ponder_version": PONDER_VERSION,
            "log_file": str(LOG_DIR / f"ponder-{schema}.log"),
        }
    finally:
        rss.stop()
        _stop(process)
        logs.join()
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if not sync_store_existed:  # leave the database as we found it
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{SYNC_SCHEMA}" CASCADE'))
        if sync_store_existed:
            forget_chain_in_sync_store(engine, deployment.chain_id)
        engine.dispose()
    result["logs_in_range"] = count_logs(rpc_url, deployment, start_block, end_block)
    if result["logs_in_range"] != result["events"]:
        say(f"warning: Ponder ran {result['events']:,} handlers but the range holds {result['logs_in_range']:,} logs")
    return result


# ---------------------------------------------------------------------- a small chain, for checking it works


def build_small_chain(dao) -> list:
    """A few hundred events: members in every segment, badges, three proposals with ballots, one queued and
    executed with an outcome, one card revoked and one left. Returns the proposals."""
    from eth_account import Account

    from backend.toolchain.dao import (
        ABSTAIN,
        AGAINST,
        FOR,
        ORGANISATION,
        RELATIONSHIP_POPULATION,
        RESIDENT,
        TOWN_PLANNING,
    )

    segments = [RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION]
    members = [dao.issue(segments[i % 3]) for i in range(45)]
    transact = dao.client.transact
    for kind, soulbound in ((0, True), (1, True), (2, False)):
        transact(dao.badges.functions.createBadgeType(f"ipfs://bafkreibadge{kind}", 0, soulbound, kind), dao.issuer)
    for badge_type_id in (1, 2, 3):
        for start in range(0, len(members), 15):
            transact(dao.badges.functions.mint(badge_type_id, [m.address for m in members[start:start + 15]]),
                     dao.issuer)
    holder = members[0]
    dao.fund(holder)
    transact(dao.badges.functions.safeTransferFrom(holder.address, members[1].address, 3, 1, b""), holder)
    transact(dao.badges.functions.safeBatchTransferFrom(holder.address, Account.create().address, [3], [0], b""),
             holder)
    proposals = [
        # executable: an empty call to an EOA
        dao.propose("Kanazawa culture night ipfs://bafkreiculture document-hash: 0x" + "ab" * 32,
                    targets=[Account.create().address]),
        dao.propose("Omicho market arcade repaving", TOWN_PLANNING),
        dao.propose("Riverside lanterns"),
    ]
    dao.start_voting(proposals[-1])
    for p_index, proposal in enumerate(proposals):
        for i, member in enumerate(members[: 20 + 5 * p_index]):  # 75 blocks < the 100-block period
            dao.vote_by_sig(proposal, member, (FOR, AGAINST, ABSTAIN, FOR)[(i + p_index) % 4])
    transact(dao.card.functions.revoke(members[-1].address), dao.issuer)
    dao.leave_by_sig(members[-2])
    dao.end_voting(proposals[0])
    dao.queue(proposals[0])
    dao.wait_seconds(dao.deployment.params.timelock_delay + 1)
    dao.execute(proposals[0])
    transact(dao.outcomes.functions.publishOutcome(proposals[0].proposal_id, 1, "ipfs://bafkreireport", b"\x11" * 32),
             dao.city)
    return proposals


def check_tallies(dao, proposals: list) -> Callable[[Engine, str], None]:
    """An `inspect` hook: Ponder's tally rows equal the governor's proposalVotesBySegment for every proposal."""
    def inspect(engine: Engine, schema: str) -> None:
        with engine.connect() as conn:
            rows = conn.execute(text(
                f'SELECT proposal_id, segment, against_votes, for_votes, abstain_votes FROM "{schema}".tally')).all()
        ponder = {(int(p), s): (a, f, ab) for p, s, a, f, ab in rows}
        mismatches, checked = [], 0
        for proposal in proposals:
            for segment, onchain in dao.tallies(proposal).items():
                checked += 1
                mine = ponder.get((proposal.proposal_id, segment), (0, 0, 0))
                if tuple(mine) != tuple(onchain):
                    mismatches.append((proposal.proposal_id, segment, mine, onchain))
        if mismatches:
            raise PonderError(f"tally check FAILED: {mismatches}")
        print(f"check: Ponder's tally equals proposalVotesBySegment for {len(proposals)} proposals x 3 segments "
              f"({checked} pairs, {len(rows)} non-empty rows)")
    return inspect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-abis", action="store_true", help="only write benchmarks/ponder/abis/*.ts")
    parser.add_argument("--database-url", default=os.environ.get(
        "KANAZAWA_DAO_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.write_abis:
        for path in write_abis():
            print(path.relative_to(REPO_ROOT))
        return 0

    import uuid

    from backend.chain.client import ChainClient
    from backend.toolchain.anvil import start_anvil
    from backend.toolchain.dao import deploy_dao

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    node = start_anvil(free_port(), log_file=LOG_DIR / "anvil-bench-ponder.log")
    try:
        client = ChainClient.connect(node.rpc_url)
        say("deploying and building a small chain ...")
        dao = deploy_dao(client)
        proposals = build_small_chain(dao)
        end_block = dao.block_number()
        say(f"chain: blocks {dao.deployment.start_block:,}-{end_block:,}; running Ponder {PONDER_VERSION} ...")
        result = _measure(node.rpc_url, args.database_url, dao.deployment, end_block,
                          schema=f"ponder_{uuid.uuid4().hex[:8]}", inspect=check_tallies(dao, proposals))
    finally:
        node.stop()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"Ponder {PONDER_VERSION}: {result['events']:,} events ({result['logs_in_range']:,} logs in range), "
              f"{result['blocks']:,} blocks, {result['rows']:,} rows")
        print(f"  {result['seconds']:.2f} s from process start ({result['events_per_s_including_startup']:,.0f} "
              f"events/s), startup {result['startup_seconds'] or 0:.2f} s, "
              f"{result['seconds_excluding_startup']:.2f} s indexing ({result['events_per_s']:,.0f} events/s)")
        print(f"  peak RSS {result['peak_rss_mb']:.0f} MB (process tree), {result['rpc_calls']:,} RPC calls "
              f"{result['rpc_calls_by_method']}")
        print("  rows: " + ", ".join(f"{t} {n}" for t, n in result["rows_per_table"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
