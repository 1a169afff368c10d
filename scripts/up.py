"""`kanazawa-dao up` (the README's `./dao up`): the whole service on embedded defaults, with the Kanazawa demo.

1. checks first (another `up` running, the API port taken, data of an earlier chain) and says what to do;
2. starts the devnet or reuses it (anvil, contracts deployed; hardhat-free-devnet/.devnet/), migrates the database;
3. runs the indexer, the worker and the API as one supervised group (scripts/supervisor.py), logs in var/logs/;
4. seeds the demo through the API (scripts/demo/seed.py) unless it is there already, and prints the URLs;
5. watches: a crashed child is reported and restarted, a devnet that died is started again from its saved state;
   Ctrl-C (or SIGTERM) stops the children and the devnet (its chain is saved for the next `up`).

`--fresh` starts over: it wipes the embedded state (the SQLite database and broker, the local content store, the
demo record, the logs) and the devnet's chain. It refuses to touch a configured database, broker or IPFS node.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from backend import migrate
from backend.chain.deploy import Deployment
from backend.config import Settings
from backend.errors import KanazawaDaoError
from backend.paths import REPO_ROOT
from backend.toolchain import devnet
from backend.toolchain.anvil import port_in_use
from scripts.supervisor import Child, ProcessGroup

LOCK = "up.lock"
SEED_RECORD = "demo-seed.json"
LOG_DIR = "logs"
READY_TIMEOUT_S = 90
DEVNET_CHECK_S = 2


class UpError(KanazawaDaoError):
    pass


class _Console:
    """Timestamped lines from the main thread and the supervisor's thread, never interleaved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            print(f"[up {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


@contextlib.contextmanager
def _single_instance(settings: Settings) -> Iterator[None]:
    """One `up` per piece of state: a lock beside each thing it writes (its var dir, the devnet's run dir, the
    SQLite database), so a second `up` with another var dir but the same devnet or database is refused too."""
    places = [settings.var_dir, settings.devnet_run_dir]
    database = _sqlite_path(settings.database_url)
    if database is not None:
        places.append(database.parent)
    with contextlib.ExitStack() as stack:
        for place in dict.fromkeys(p.resolve() for p in places):
            place.mkdir(parents=True, exist_ok=True)
            fh = stack.enter_context((place / LOCK).open("a+"))
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                pid = fh.read().strip() or "?"
                raise UpError(f"another `kanazawa-dao up` is running (pid {pid}) on the same state ({place}): use it, "
                              f"or stop it (Ctrl-C in its terminal, or `kill {pid}`) first") from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            stack.callback(fh.truncate, 0)
        yield


def _wipe_embedded_state(settings: Settings, say) -> None:
    """`--fresh`: delete what `up` created on embedded defaults; refuse anything configured."""
    database = _sqlite_path(settings.database_url)
    broker = settings.broker_url.removeprefix("sqla+") if settings.broker_url.startswith("sqla+sqlite") else None
    if database is None or broker is None or settings.ipfs_api_url:
        raise UpError("--fresh only wipes the embedded defaults (SQLite database and broker, local content store); "
                      "this configuration names a real database, broker or IPFS node: reset those yourself, "
                      "or unset KANAZAWA_DAO_DATABASE_URL / _BROKER_URL / _IPFS_API_URL")
    doomed = [database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm"),
              Path(make_url(broker).database or ""), settings.content_dir, settings.var_dir / SEED_RECORD,
              settings.var_dir / LOG_DIR, settings.content_dir.parent / "celerybeat-schedule"]
    for path in doomed:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.name and path.exists():
            path.unlink()
    say(f"--fresh: deleted the embedded database, broker, content store, logs and demo record under {settings.var_dir}")


def _check_database_matches(settings: Settings, deployment: Deployment) -> None:
    """The database must hold the index of this very deployment (else the indexer refuses, in a restart loop)."""
    from backend.db import make_engine, session_factory
    from backend.models.chain import IndexerCursor
    from indexer.runner import manifest_fingerprint

    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            cursor = session.get(IndexerCursor, deployment.chain_id)
    finally:
        engine.dispose()
    if cursor is not None and cursor.manifest_hash != manifest_fingerprint(deployment):
        raise UpError("the database holds data of an earlier devnet (the chain was started fresh or lost its saved "
                      "state, and the contracts were deployed again): run `./dao up --fresh` to start over "
                      "(it deletes the demo database), or point KANAZAWA_DAO_DATABASE_URL at another database")


def _wait_ready(base_url: str, group: ProcessGroup, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    api = group.child("api")
    while time.monotonic() < deadline:
        if api.crashes_in_a_row >= 3:
            raise UpError(f"the API keeps stopping at start-up; see {api.log_path}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise UpError(f"the API did not answer on {base_url} within {timeout:.0f} s; see {api.log_path}")


def _banner(say, base_url: str, rpc_url: str, settings: Settings, summary: dict | None) -> None:
    logs = settings.var_dir / LOG_DIR
    data = (" with the Kanazawa demo (" + ", ".join(f"{v} {k}" for k, v in summary.items()) + ")") if summary else ""
    lines = [
        f"Kanazawa co-creation DAO is up{data}.",
        f"  Results page:  {base_url}/results   (English: {base_url}/results?lang=en)",
        f"  API docs:      {base_url}/docs   (OpenAPI: {base_url}/openapi.json)",
        f"  Open data:     {base_url}/open-data",
        f"  Health:        {base_url}/health",
        f"  Chain (anvil): {rpc_url}   (chain id 31337; `./dao devnet status` lists the contracts)",
        f"  Logs:          {logs}/indexer.log, worker.log, api.log",
        "Ctrl-C stops everything; the chain and the data are kept for the next `./dao up` (`--fresh` starts over).",
    ]
    say("\n".join(lines))


def up(settings: Settings, *, fresh: bool = False, seed: bool = True, api_port: int | None = None,
       devnet_port: int | None = None) -> int:
    say = _Console()
    api_port = api_port or settings.api_port
    devnet_port = devnet_port or settings.devnet_port
    host = settings.api_host
    base_url = f"http://{host}:{api_port}"
    with _single_instance(settings):
        if port_in_use(api_port, host):
            raise UpError(f"port {api_port} on {host} is already in use by another process: stop it, or choose "
                          f"another port (`./dao up --api-port N` or KANAZAWA_DAO_API_PORT)")
        if fresh:
            _wipe_embedded_state(settings, say)

        st = devnet.up(devnet_port, settings.devnet_host, fresh=fresh, run_dir=settings.devnet_run_dir,
                       deployments_dir=settings.deployments_dir, log=lambda line: say(f"devnet: {line}"),
                       continuous_clock=seed and _seeding_unfinished(settings))
        say(f"devnet {'reused' if st.reused else 'started'} on {st.rpc_url} (pid {st.pid}, block {st.block_number})"
            f"{'; contracts deployed' if st.deployed else ''}")
        deployment = st.deployment
        assert deployment is not None

        database = _sqlite_path(settings.database_url)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        migrate.upgrade(settings.database_url)
        try:
            _check_database_matches(settings, deployment)
        except UpError:
            if not st.reused:  # leave nothing running that this refused run started
                devnet.down(run_dir=settings.devnet_run_dir)
            raise
        say("database schema up to date")
        from backend.tasks.app import declare_queue

        declare_queue(settings)

        group = ProcessGroup(_children(settings, st.rpc_url, host, api_port), log=say)
        stop = _install_stop_handler()
        group.start()
        try:
            _wait_ready(base_url, group)
            say(f"API ready on {base_url}")
            summary = None
            if seed:
                summary = _seed(settings, base_url, st.rpc_url, deployment, say)
            _banner(say, base_url, st.rpc_url, settings, summary)
            _watch(settings, devnet_port, deployment, stop, say)
        except KeyboardInterrupt:
            say("stopping (Ctrl-C) ...")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
            group.stop()
            stopped = devnet.down(run_dir=settings.devnet_run_dir)
            if stopped is not None:
                say(f"stopped the devnet; its chain is saved in {stopped.state_file}")
            say("all stopped")
    return 0


def _children(settings: Settings, rpc_url: str, host: str, api_port: int) -> list[Child]:
    env = {**os.environ, "KANAZAWA_DAO_RPC_URL": rpc_url, "KANAZAWA_DAO_API_PORT": str(api_port),
           "KANAZAWA_DAO_API_HOST": host, "PYTHONUNBUFFERED": "1"}
    if "public_url" not in settings.model_fields_set:  # sign-in messages name the origin members actually use
        env["KANAZAWA_DAO_PUBLIC_URL"] = f"http://{host}:{api_port}"
    if "rate_limit_exempt_clients" not in settings.model_fields_set:  # the devnet: the seeder writes in bulk
        env["KANAZAWA_DAO_RATE_LIMIT_EXEMPT_CLIENTS"] = '["127.0.0.0/8", "::1", "local"]'
    logs = settings.var_dir / LOG_DIR
    cli = [sys.executable, "-m", "scripts.cli"]
    return [
        Child("indexer", cli + ["index"], logs / "indexer.log", env, REPO_ROOT),
        Child("worker", cli + ["worker", "--concurrency", "4"], logs / "worker.log", env, REPO_ROOT),
        Child("api", cli + ["serve", "--host", host, "--port", str(api_port)], logs / "api.log", env, REPO_ROOT),
    ]


def _install_stop_handler() -> threading.Event:
    """SIGTERM stops `up` like Ctrl-C does."""
    stop = threading.Event()

    def handler(_signum, _frame):
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    return stop


def _seeding_unfinished(settings: Settings) -> bool:
    """Whether an earlier `up` stopped while seeding: the demo's history is dated by the devnet's own clock (it
    starts two weeks back), which must then go on from where it stopped rather than jump to today."""
    try:
        return not json.loads((settings.var_dir / SEED_RECORD).read_text()).get("complete")
    except (OSError, ValueError):
        return False


def _seed(settings: Settings, base_url: str, rpc_url: str, deployment: Deployment, say) -> dict:
    from backend.chain.keys import ServiceKeys
    from indexer.runner import manifest_fingerprint
    from scripts.demo.seed import SeedRecord, seed, summarise

    record_path = settings.var_dir / SEED_RECORD
    fingerprint = manifest_fingerprint(deployment)
    if SeedRecord(record_path, fingerprint).complete:
        say("demo data already seeded (reusing it; `./dao up --fresh` starts over)")
        return summarise(base_url)
    keys = ServiceKeys.from_settings(deployment.chain_id, relayer_key=settings.relayer_key, city_key=settings.city_key,
                                     organisation_key_secret=settings.organisation_key_secret)
    say("seeding the Kanazawa demo through the API (about a minute the first time; an interrupted run resumes) ...")
    try:
        return seed(base_url, rpc_url, record_path, fingerprint, city_key="0x" + bytes(keys.city.key).hex(), log=say)
    except (RuntimeError, TimeoutError) as exc:
        raise UpError(f"{exc}\nWhat was seeded so far is kept; `./dao up` resumes (logs in {settings.var_dir / LOG_DIR})") \
            from None


def _watch(settings: Settings, devnet_port: int, deployment: Deployment, stop: threading.Event, say) -> None:
    """Until Ctrl-C: a devnet that died is started again from its saved state (the children retry meanwhile)."""
    from indexer.runner import manifest_fingerprint

    while not stop.wait(DEVNET_CHECK_S):
        st = devnet.status(run_dir=settings.devnet_run_dir, deployments_dir=settings.deployments_dir)
        if st is not None and st.running:
            continue
        say("the devnet (anvil) is not answering; starting it again from its last saved state ...")
        st = devnet.up(devnet_port, settings.devnet_host, run_dir=settings.devnet_run_dir,
                       deployments_dir=settings.deployments_dir, log=lambda line: say(f"devnet: {line}"),
                       continuous_clock=_seeding_unfinished(settings))
        if st.deployment is None or manifest_fingerprint(st.deployment) != manifest_fingerprint(deployment):
            raise UpError("the devnet lost its saved state and the contracts had to be deployed again; the database "
                          "belongs to the old chain: run `./dao up --fresh` to start over")
        say(f"devnet running again on {st.rpc_url} (pid {st.pid}, block {st.block_number})")
