"""API load benchmark: the real API (uvicorn) against PostgreSQL holding 102,000 members, 1,000 proposals, 1,000,000
votes and 10,000 issues, next to a bare FastAPI endpoint served the same way and measured in the same run.

    .venv/bin/python -m scripts.bench_api [--runs 3] [--duration 10] [--workers 2] [--quick] [--reload] [--json]

Data: scripts/bench_api_load.py (its docstring says exactly what is real and what is synthetic, and how it is
written: the indexer's write path for the chain tables, COPY for the issues); loaded once, reused while the row
counts match (`--reload` loads again). The chain is that loader's anvil state dump (every contract, 2,000 real
cards), started fresh for each benchmark, so on-chain nonces start at 0.

Servers: `uvicorn --factory frontend_api.app:create_app --workers N` (default 2, the machine's cores; access log
off) with the benchmark's settings, the same API with its read cache off (`KANAZAWA_DAO_READ_CACHE_SECONDS=0`:
every read goes to the database), and `uvicorn --factory scripts.bench_api:bare_app` with the same options: one
route, `GET /ping` -> `{"ok": true}`, a plain `def` like the API's routes (so it runs in the same thread pool).
Nothing writes to the database while the reads are measured, so the cached API answers from memory once warm;
the "cache off" rows are what a read costs whenever the data has just changed (the indexer commits each block).
Between the two, the "one commit a second" rows (fixed rate only): the warmed cached API while a thread of the load
generator commits a one-row write every second (`Ticker`), as an indexer following a chain with one-second blocks
would: every answer in the cache is outdated every second (frontend_api/cache.py serves it as stale while it is
computed again when the process is busy; the X-Cache counts are in the JSON output).

Load: before each cell the machine is left to settle (mostly idle again: an overloaded server works off its
backlog after the clients stop); a separate process (aiohttp) warms the cell (`warm`: every URL answered from the
cache of every API process, so the cached rows measure a warm cache; computing answers is what the "cache off"
rows measure), keeps N clients busy for `--warmup` seconds unmeasured, then for `--duration` seconds and records
every latency. Closed loop at 50, 200 and 500 concurrent clients for throughput; then an open loop at a fixed 500
requests/s (up to 500 in flight; latency counted from the scheduled send time, so a stalled server is not hidden)
for the p99 goal (slots still unsent when the time is up count as errors). Each cell is run `--runs` times, interleaved (every endpoint and the baseline in each run), and
the medians are reported. Endpoints: the proposal list (`/proposals?page=P`, 20 a page, pages 1-50), a proposal's
detail with segment tallies (`/proposals/{id}`, 300 ids of every state), the issue search (`/issues?q=W` over 12
words, some with a category), the proposals open-data CSV (`/open-data/proposals.csv?lang=en`, 1,000 rows).

Ballot intake: for each run and concurrency a new proposal on the anvil chain (the city proposes, one block of
voting delay is mined), 2,000 EIP-712 ballots pre-signed by the real card holders, all posted at that concurrency
(`POST /ballots`); "none lost" = every 202 has its `relay_job` row (counted in the database afterwards). The
worker does not run meanwhile (so a voter's ballots stay in flight and the next proposal's ballot carries the next
nonce); `--relay` then starts `kanazawa-dao worker` and reports how long until every accepted ballot is confirmed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests

from backend.paths import REPO_ROOT
from scripts import bench_api_load as data

BENCH_DIR = data.BENCH_DIR
CONCURRENCY = (50, 200, 500)
RATE = 500
BALLOTS_PER_CELL = 2_000
SEARCH_WORDS = ["兼六園", "金沢駅", "除雪", "空き家", "九谷焼", "バス停", "祭り", "Wi-Fi", "workshop", "子育て", "犀川", "公園"]
READS = ("proposal list", "proposal detail", "issue search", "open-data CSV")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- the baseline


def bare_app():
    """The baseline: FastAPI with one trivial route, served exactly like the API."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}

    return app


# ---------------------------------------------------------------------- the load generator (its own process)


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    urls: list[str] = spec["urls"]
    bodies: list[dict] | None = spec.get("bodies")
    concurrency, duration, warmup, rate = spec["concurrency"], spec["duration"], spec["warmup"], spec.get("rate")
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    cache_states: dict[str, int] = {}  # X-Cache of the measured answers: hit, stale, miss
    stale_ages: list[int] = []  # Age (s) of the stale answers: how far behind the database they were, at most
    job_ids: list[str] = []
    refusals: list[str] = []
    counter = 0
    missed = 0
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def one(measure: bool, scheduled: float | None = None) -> bool:
            nonlocal counter
            n = counter
            counter += 1
            began = scheduled if scheduled is not None else time.perf_counter()
            try:
                if bodies is not None:
                    if n >= len(bodies):
                        return False
                    async with http.post(urls[0], json=bodies[n]) as response:
                        payload = await response.read()
                        status = response.status
                    if status == 202:
                        job_ids.append(json.loads(payload)["id"])
                    elif status >= 400 and not refusals:
                        refusals.append(payload.decode(errors="replace")[:500])
                else:
                    async with http.get(urls[n % len(urls)]) as response:
                        await response.read()
                        status = response.status
                        state = response.headers.get("x-cache")
                        age = int(response.headers.get("age", "0"))
                    if measure and state:
                        cache_states[state] = cache_states.get(state, 0) + 1
                        if state == "stale":
                            stale_ages.append(age)
            except Exception as exc:  # noqa: BLE001 - refused, reset, timeout: counted as errors
                status = type(exc).__name__
            if measure:
                latencies.append(time.perf_counter() - began)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
            return True

        async def closed(until: float, measure: bool) -> None:
            while time.perf_counter() < until:
                if not await one(measure):
                    return

        if bodies is None:
            await warm(http, urls, concurrency)
        # Warmed, then the commits start (before the unmeasured warm-up): the cache holds every answer, and every
        # second all of them become outdated.
        ticker = Ticker(spec["commit_to"]) if spec.get("commit_to") else None
        if warmup and bodies is None:
            end = time.perf_counter() + warmup
            await asyncio.gather(*(closed(end, False) for _ in range(concurrency)))
        started = time.perf_counter()
        if rate:
            # Open loop: request k is due at started + k / rate; latency counts from when it was due.
            end = started + duration
            total = int(duration * rate)
            next_slot = 0

            async def paced() -> None:
                # A server slower than the rate leaves slots unsent at the end: reported as missed, not waited for.
                nonlocal next_slot
                while next_slot < total and time.perf_counter() < end:
                    due = started + next_slot / rate
                    next_slot += 1
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await one(True, scheduled=due)

            await asyncio.gather(*(paced() for _ in range(concurrency)))
            missed = total - next_slot
        elif bodies is not None:
            await asyncio.gather(*(closed(float("inf"), True) for _ in range(concurrency)))
        else:
            await asyncio.gather(*(closed(started + duration, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    commits = ticker.stop() if ticker else None
    latencies.sort()
    stale_ages.sort()
    ok = sum(v for k, v in statuses.items() if k in ("200", "202"))
    return {"requests": len(latencies), "ok": ok, "statuses": statuses, "cache": cache_states, "commits": commits,
            "stale_age_p99": _pct(stale_ages, 0.99) if stale_ages else None, "stale_age_max": stale_ages[-1] if stale_ages else None,
            "seconds": elapsed,
            "throughput": ok / elapsed if elapsed else 0.0,
            "p50_ms": 1000 * _pct(latencies, 0.50), "p99_ms": 1000 * _pct(latencies, 0.99), "job_ids": job_ids, "missed": missed,
            "first_refusal": refusals[0] if refusals else None}


async def warm(http, urls: list[str], concurrency: int, *, limit_s: float = 120.0) -> None:
    """Before a read cell is timed, every one of its URLs is answered from the cache of every API process: passes
    over all the URLs until one pass is all `X-Cache: hit` (a server without the cache sends no such header: one pass
    does). The timed part then measures the warm cache; the cost of computing the answers (every answer after a
    commit) is what the "cache off" rows measure."""
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(concurrency)

    async def state(url: str) -> str:
        async with semaphore:
            try:
                async with http.get(url) as response:
                    await response.read()
                    return response.headers.get("x-cache", "none")
            except Exception:  # noqa: BLE001 - the timed part counts errors
                return "error"

    while time.perf_counter() - started < limit_s:
        states = await asyncio.gather(*(state(u) for u in urls * 4))  # 4 x: both processes see every URL
        if all(s in ("hit", "none") for s in states):
            return


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def settle(*, idle: float = 0.8, timeout: float = 120.0) -> float:
    """Wait until the machine is mostly idle again: a server that was overloaded (the cache-off API at 500
    clients) is still working off its backlog after the load generator stopped, and would slow the next cell.
    Returns the seconds waited."""
    started = time.monotonic()
    if not Path("/proc/stat").exists():
        time.sleep(2)
        return 2.0
    while time.monotonic() - started < timeout:
        total0, idle0 = _cpu_times()
        time.sleep(0.5)
        total1, idle1 = _cpu_times()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= idle:
            break
    return time.monotonic() - started


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    settle()
    spec_file = BENCH_DIR / f"load-{os.getpid()}.json"
    spec_file.write_text(json.dumps(spec))
    try:
        result = subprocess.run([sys.executable, "-m", "scripts.bench_api", "--loadgen", str(spec_file)],
                                capture_output=True, text=True, cwd=REPO_ROOT)
    finally:
        spec_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- servers


def _serve(factory: str, port: int, workers: int, env: dict[str, str], log: Path, source: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning", "--no-access-log", "--app-dir", str(source)]
    return subprocess.Popen(cmd, cwd=source, env=env | {"PYTHONPATH": str(source)}, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


# ---------------------------------------------------------------------- ballots


class Ballots:
    """New proposals on the benchmark chain and ballots of the 2,000 real card holders for them."""

    def __init__(self, rpc_url: str) -> None:
        from backend.chain.accounts import dev_account
        from backend.chain.client import ChainClient
        from backend.chain.deploy import Deployment

        meta = json.loads(data.META.read_text())
        self.client = ChainClient.connect(rpc_url)
        self.deployment = Deployment.from_json(meta["deployment"])
        self.governor = self.deployment.contract(self.client.w3, "CityGovernor")
        self.city = dev_account(0)
        self.members = [data._member(i) for i in range(data.CHAIN_MEMBERS)]
        self.proposals = 0

    def new_proposal(self, label: str) -> int:
        from eth_utils import keccak

        timelock = self.deployment.contracts["TimelockController"].address
        description = f"API benchmark intake {label} {time.time_ns()}"
        self.client.transact(self.governor.functions.proposeWithCategory([timelock], [0], [b""], description, 0), self.city)
        proposal_id = self.governor.functions.hashProposal([timelock], [0], [b""], keccak(text=description)).call()
        # the voting delay (1 s): Active once the head's time is past the snapshot
        self.client.advance_to(self.governor.functions.proposalSnapshot(proposal_id).call() + 1)
        self.proposals += 1
        return proposal_id

    def sign(self, proposal_id: int, nonce: int, count: int) -> list[dict[str, Any]]:
        from eth_abi import encode
        from eth_utils import keccak

        from scripts.bench_indexer import BALLOT_TYPEHASH, _domain_separator

        domain = _domain_separator(self.governor)
        rng = random.Random(proposal_id)
        bodies = []
        for member in self.members[:count]:
            support = rng.choices((0, 1, 2), weights=(3, 6, 1))[0]
            struct = keccak(encode(["bytes32", "uint256", "uint8", "address", "uint256"],
                                   [BALLOT_TYPEHASH, proposal_id, support, member.address, nonce]))
            signature = bytes(member.unsafe_sign_hash(keccak(b"\x19\x01" + domain + struct)).signature)
            bodies.append({"proposal_id": str(proposal_id), "support": support, "voter": member.address,
                           "nonce": str(nonce), "signature": "0x" + signature.hex()})
        return bodies


class Ticker:
    """Commits a one-row write to the benchmark database once a second in a thread, until stopped: any commit
    changes the database's data version (backend/db.py), which is what invalidates the API's read cache."""

    def __init__(self, url: str, interval: float = 1.0) -> None:
        import threading

        from sqlalchemy import create_engine

        self.engine = create_engine(url)
        with self.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_api_tick (n bigint NOT NULL)")
        self.commits = 0
        self.done = threading.Event()
        self.interval = interval
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(self.interval):
            with self.engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM bench_api_tick")
                conn.exec_driver_sql(f"INSERT INTO bench_api_tick VALUES ({self.commits})")
            self.commits += 1

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        self.engine.dispose()
        return self.commits


def _jobs_stored(url: str, proposal_id: int) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM relay_job WHERE kind = 'ballot' AND payload::jsonb->>'proposal_id' = :p"),
                             {"p": str(proposal_id)}).scalar_one()
    engine.dispose()
    return count


def _sql(url: str, statement: str, **params: Any) -> Any:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        value = result.all() if result.returns_rows else result.rowcount
    engine.dispose()
    return value


# ---------------------------------------------------------------------- the benchmark


def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from backend.toolchain.anvil import free_port, start_anvil

    counts = data.ensure_loaded(url, args.reload)
    node = start_anvil(free_port(), state_file=None, log_file=BENCH_DIR / "anvil-bench.log",
                       extra_args=["--load-state", str(data.STATE)])
    servers: list[subprocess.Popen] = []
    worker = None
    try:
        # Accepted ballots of earlier benchmarks were never relayed on this fresh chain: forget them.
        _sql(url, "DELETE FROM relay_job WHERE kind = 'ballot'")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KANAZAWA_DAO_")} | {
            "KANAZAWA_DAO_DATABASE_URL": url, "KANAZAWA_DAO_RPC_URL": node.rpc_url,
            "KANAZAWA_DAO_DEPLOYMENTS_DIR": str(data.DEPLOYMENTS), "KANAZAWA_DAO_CONTENT_DIR": str(data.CONTENT),
            "KANAZAWA_DAO_BROKER_URL": args.broker, "KANAZAWA_DAO_PUBLIC_URL": "http://127.0.0.1"}
        api_port, uncached_port, bare_port = free_port(), free_port(), free_port()
        api = f"http://127.0.0.1:{api_port}"
        uncached = f"http://127.0.0.1:{uncached_port}"
        bare = f"http://127.0.0.1:{bare_port}"
        servers.append(_serve("frontend_api.app:create_app", api_port, args.workers, env, BENCH_DIR / "api.log", args.source))
        # The same API with its read cache off (frontend_api/cache.py): what every read costs the database.
        servers.append(_serve("frontend_api.app:create_app", uncached_port, args.workers,
                              env | {"KANAZAWA_DAO_READ_CACHE_SECONDS": "0"}, BENCH_DIR / "api-uncached.log", args.source))
        servers.append(_serve("scripts.bench_api:bare_app", bare_port, args.workers, env, BENCH_DIR / "bare.log", REPO_ROOT))
        _wait_up(f"{api}/health", servers[0])
        _wait_up(f"{uncached}/health", servers[1])
        _wait_up(f"{bare}/ping", servers[2])

        ids = [str(r[0]) for r in _sql(url, "SELECT proposal_id FROM proposal ORDER BY proposal_id")]
        rng = random.Random(7)
        paths = {
            "proposal list": [f"/proposals?page={p}&per_page=20" for p in rng.sample(range(1, 51), 50)],
            "proposal detail": [f"/proposals/{i}" for i in rng.sample(ids, 300)],
            "issue search": [f"/issues?q={urllib.parse.quote(w)}" + (f"&category={c}" if c else "")
                             for w in SEARCH_WORDS for c in (None, "culture", "town-planning")],
            "open-data CSV": ["/open-data/proposals.csv?lang=en"],
        }
        endpoints = {"bare FastAPI endpoint (baseline)": [f"{bare}/ping"]}
        endpoints |= {name: [api + u for u in urls] for name, urls in paths.items()}
        endpoints |= {f"{name}, cache off": [uncached + u for u in urls] for name, urls in paths.items()}
        # The cached API while something commits once a second (as the indexer does while a chain makes blocks):
        # every commit outdates every entry. Measured at the fixed rate only (the p99 goal); the load generator
        # warms the cell, then commits (`Ticker`) while it measures.
        under_writes = {f"{name}, one commit a second": [api + u for u in urls] for name, urls in paths.items()}
        def wanted(row: str) -> bool:  # --only: a subset of the rows, while working on one of them
            return not args.only or any(o in row for o in args.only)

        endpoints = {k: v for k, v in endpoints.items() if wanted(k)}
        under_writes = {k: v for k, v in under_writes.items() if wanted(k)}
        for name, urls in endpoints.items():  # every URL answers before anything is measured
            for u in urls[:3]:
                response = requests.get(u, timeout=60)
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: GET {u} -> {response.status_code} {response.text[:300]}")
        ballots = Ballots(node.rpc_url)
        cells: dict[str, list[dict[str, Any]]] = {}
        intake: list[dict[str, Any]] = []
        for run in range(1, args.runs + 1):
            for concurrency in args.concurrency:
                for name, urls in endpoints.items():
                    outcome = run_load({"urls": urls, "concurrency": concurrency, "duration": args.duration,
                                        "warmup": args.warmup})
                    cells.setdefault(f"{name}|{concurrency}", []).append(outcome)
                    say(f"run {run}/{args.runs}  {name:<34} c={concurrency:<4} {outcome['throughput']:>7,.0f} req/s  "
                        f"p50 {outcome['p50_ms']:>7.1f} ms  p99 {outcome['p99_ms']:>7.1f} ms  {outcome['statuses']}")
            for name, urls in [*endpoints.items(), *under_writes.items()]:
                writes = name in under_writes
                outcome = run_load({"urls": urls, "concurrency": RATE, "duration": args.duration,
                                    "warmup": args.warmup, "rate": RATE, "commit_to": url if writes else None})
                cells.setdefault(f"{name}|rate", []).append(outcome)
                say(f"run {run}/{args.runs}  {name:<34} {RATE}/s   {outcome['throughput']:>7,.0f} req/s  "
                    f"p50 {outcome['p50_ms']:>7.1f} ms  p99 {outcome['p99_ms']:>7.1f} ms  {outcome['statuses']}"
                    + (f"  ({outcome['commits']} commits, X-Cache {outcome['cache']}, stale answers' Age p99 "
                       f"{outcome['stale_age_p99']} s, max {outcome['stale_age_max']} s)" if writes else ""))
            for concurrency in args.concurrency if wanted("ballot intake") else ():
                proposal_id = ballots.new_proposal(f"run {run} c={concurrency}")
                bodies = ballots.sign(proposal_id, nonce=ballots.proposals - 1, count=args.ballots)
                outcome = run_load({"urls": [f"{api}/ballots"], "bodies": bodies, "concurrency": concurrency,
                                    "duration": 0, "warmup": 0})
                stored = _jobs_stored(url, proposal_id)
                accepted = outcome["statuses"].get("202", 0)
                outcome.update(concurrency=concurrency, proposal_id=str(proposal_id), accepted=accepted,
                               jobs_stored=stored, lost=accepted - stored, job_ids=len(outcome["job_ids"]))
                intake.append(outcome)
                say(f"run {run}/{args.runs}  ballot intake c={concurrency:<4} {outcome['throughput']:>7,.0f} ballots/s  "
                    f"p50 {outcome['p50_ms']:>7.1f} ms  p99 {outcome['p99_ms']:>7.1f} ms  {outcome['statuses']}  "
                    f"relay_job rows {stored:,} of {accepted:,} accepted" + (f"; first refusal: {outcome['first_refusal']}"
                                                                           if outcome["first_refusal"] else ""))
        relay = None
        if args.relay:
            relay = _relay_all(env, url)
    finally:
        if worker is not None:
            _stop(worker)
        for process in servers:
            _stop(process)
        node.stop()
    return {"data": counts, "workers": args.workers, "runs": args.runs, "duration": args.duration,
            "concurrency": list(args.concurrency), "rate": RATE, "cells": cells, "intake": intake, "relay": relay,
            "cpus": os.cpu_count()}


def _relay_all(env: dict[str, str], url: str) -> dict[str, Any]:
    """Start a worker and time it until every accepted ballot is confirmed (or failed)."""
    total = _sql(url, "SELECT count(*) FROM relay_job WHERE kind = 'ballot'")[0][0]
    say(f"relaying {total:,} accepted ballots with one worker ...")
    log = BENCH_DIR / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "scripts.cli", "worker"], cwd=REPO_ROOT, env=env,
                              stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    try:
        while True:
            rows = dict(_sql(url, "SELECT status, count(*) FROM relay_job WHERE kind = 'ballot' GROUP BY status"))
            done = rows.get("confirmed", 0) + rows.get("failed", 0)
            if done >= total or time.monotonic() - started > 1800:
                break
            time.sleep(2)
    finally:
        _stop(worker)
    return {"ballots": total, "seconds": time.monotonic() - started, "statuses": rows}


# ---------------------------------------------------------------------- the report


def _med(outcomes: list[dict[str, Any]], key: str) -> float:
    return statistics.median(o[key] for o in outcomes)


def report(m: dict[str, Any]) -> str:
    c = m["data"]
    cells = m["cells"]
    base = "bare FastAPI endpoint (baseline)"
    lines = [
        f"Data: {c.get('membership_card', 0):,} members, {c.get('proposal', 0):,} proposals, {c.get('vote', 0):,} votes, "
        f"{c.get('issue', 0):,} issues in PostgreSQL. uvicorn with {m['workers']} worker process(es), load generator "
        f"(aiohttp, one process) on the same {m['cpus']}-core machine. Median of {m['runs']} runs of {m['duration']:g} s "
        "per cell, same run.",
        "",
        "| endpoint | clients | req/s | p50 (ms) | p99 (ms) | vs bare endpoint | errors (+ unsent at fixed rate) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = list(dict.fromkeys(k.split("|")[0] for k in cells))
    for name in names:
        for concurrency in [*m["concurrency"], "rate"]:
            outcomes = cells.get(f"{name}|{concurrency}")
            if not outcomes:
                continue
            ratio = _med(outcomes, "throughput") / _med(cells[f"{base}|{concurrency}"], "throughput")
            errors = statistics.median(o["requests"] - o["ok"] + o.get("missed", 0) for o in outcomes)
            label = f"{m['rate']}/s fixed" if concurrency == "rate" else f"{concurrency}"
            lines.append(f"| {name} | {label} | {_med(outcomes, 'throughput'):,.0f} | {_med(outcomes, 'p50_ms'):.1f} | "
                         f"{_med(outcomes, 'p99_ms'):.1f} | {'-' if name == base else f'{ratio:.2f}x'} | {errors:,.0f} |")
    stale = [o for k, outcomes in cells.items() if ", one commit a second|" in k for o in outcomes]
    if stale:
        served = sum(o["cache"].get("stale", 0) for o in stale)
        total = sum(sum(o["cache"].values()) for o in stale)
        ages = [o["stale_age_max"] for o in stale if o.get("stale_age_max") is not None]
        lines += ["", f"With one commit a second, {served:,} of {total:,} answers ({100 * served / max(total, 1):.0f} %) were "
                      f"the previous answer (X-Cache: stale), at most {max(ages, default=0)} s old (Age)."]
    if m["intake"]:
        lines += ["", "| ballot intake (POST /ballots) | clients | ballots/s | p50 (ms) | p99 (ms) | accepted (202) | "
                      "relay_job rows | lost |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for concurrency in m["concurrency"]:
            outcomes = [o for o in m["intake"] if o["concurrency"] == concurrency]
            accepted = sum(o["accepted"] for o in outcomes)
            stored = sum(o["jobs_stored"] for o in outcomes)
            lines.append(f"| {len(outcomes)} x {outcomes[0]['requests']:,} ballots | {concurrency} | "
                         f"{_med(outcomes, 'throughput'):,.0f} | {_med(outcomes, 'p50_ms'):.1f} | {_med(outcomes, 'p99_ms'):.1f} | "
                         f"{accepted:,} | {stored:,} | {accepted - stored:,} |")
    if m.get("relay"):
        r = m["relay"]
        lines += ["", f"Relaying all {r['ballots']:,} accepted ballots afterwards with one worker: {r['seconds']:.0f} s "
                      f"({r['statuses']})."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per cell")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (both servers)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    parser.add_argument("--ballots", type=int, default=BALLOTS_PER_CELL, help="ballots per intake cell (at most 2,000)")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/9",
                        help="the API's Celery broker (messages are hints; nothing consumes them unless --relay)")
    parser.add_argument("--relay", action="store_true", help="afterwards, time a worker relaying every accepted ballot")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 run, 2 s cells, 200 ballots")
    parser.add_argument("--reload", action="store_true", help="load the benchmark database again")
    parser.add_argument("--source", type=Path, default=REPO_ROOT,
                        help="serve the API from another checkout (e.g. `git archive` of an older commit), for before/after")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="measure only the rows whose name contains one of these (e.g. 'commit a second', 'ballot')")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loadgen:
        print(json.dumps(asyncio.run(_load(json.loads(Path(args.loadgen).read_text())))))
        return 0
    if args.quick:
        args.runs, args.duration, args.warmup, args.ballots = 1, 2.0, 0.5, 200
    measured = measure(args, data.database_url())
    print(json.dumps(measured, indent=1) if args.json else report(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
