"""The `kanazawa-dao` console command. Subcommands are thin: they read `Settings`, call the backend, print.

    kanazawa-dao up [--fresh] [--no-seed] [--api-port N] [--devnet-port N]
    kanazawa-dao devnet up [--port N] [--host H] [--fresh]
    kanazawa-dao devnet down
    kanazawa-dao devnet status [--json]
    kanazawa-dao compile [--force]
    kanazawa-dao db upgrade
    kanazawa-dao index [--once | --until BLOCK] [--confirmations N] [--batch-blocks N]
    kanazawa-dao serve [--host H] [--port N]
    kanazawa-dao worker [--concurrency N] [--no-beat]

Expected failures (`KanazawaDaoError`) print `error: <message>` and exit 1, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from backend import migrate
from backend.chain.accounts import DEV_BALANCE_ETH, dev_accounts
from backend.config import Settings
from backend.errors import KanazawaDaoError
from backend.toolchain import devnet
from backend.toolchain.compile import compile_contracts

#: `devnet status` exit code when no devnet runs (the LSB "program is not running" code), for scripts.
NOT_RUNNING = 3

Command = Callable[[argparse.Namespace, Settings], int]


def _print_status(st: devnet.DevnetStatus) -> None:
    print(f"RPC URL:   {st.rpc_url}")
    print(f"chain id:  {st.chain_id}    block: {st.block_number}    pid: {st.pid}    since: {st.started_at}")
    if st.deployment is None:
        print("contracts: none deployed (no valid manifest for this chain); run `kanazawa-dao devnet up`")
    else:
        print("contracts:")
        width = max(map(len, st.deployment.contracts))
        for name, c in st.deployment.contracts.items():
            print(f"  {name:<{width}}  {c.address}  block {c.block_number}")
    print(f"manifest:  {st.manifest_path}")


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from scripts.up import up

    return up(settings, fresh=args.fresh, seed=not args.no_seed, api_port=args.api_port, devnet_port=args.devnet_port)


def cmd_devnet_up(args: argparse.Namespace, settings: Settings) -> int:
    st = devnet.up(
        args.port if args.port is not None else settings.devnet_port,
        args.host or settings.devnet_host,
        fresh=args.fresh,
        run_dir=settings.devnet_run_dir,
        deployments_dir=settings.deployments_dir,
        log=lambda line: print(line, flush=True),
    )
    print()
    print(f"Devnet {'already running' if st.reused else 'running'} (anvil, detached)"
          f"{'; contracts deployed' if st.deployed else '; contracts from the manifest'}.")
    _print_status(st)
    print()
    print(f"Funded dev accounts, {DEV_BALANCE_ETH:,} ETH each. These are anvil's well-known PUBLIC test keys:")
    print("never use them, or send real funds to them, on any real network.")
    for acct in dev_accounts():
        print(f"  ({acct.index}) {acct.address}  0x{bytes(acct.account.key).hex()}  {acct.role}")
    print()
    print("Stop it with `kanazawa-dao devnet down` (the chain is saved to "
          f"{st.state_file} and reloaded by the next `up`; `up --fresh` starts over).")
    return 0


def cmd_devnet_down(args: argparse.Namespace, settings: Settings) -> int:
    st = devnet.down(run_dir=settings.devnet_run_dir)
    if st is None:
        print("No devnet was running.")
    else:
        print(f"Stopped the devnet on {st.rpc_url} (pid {st.pid}); chain state saved to {st.state_file}.")
    return 0


def cmd_devnet_status(args: argparse.Namespace, settings: Settings) -> int:
    st = devnet.status(run_dir=settings.devnet_run_dir, deployments_dir=settings.deployments_dir)
    running = st is not None and st.running
    if args.json:
        print(json.dumps(st.to_json() if st else {"running": False}, indent=2))
    elif st is None:
        print("No devnet is running; start one with `kanazawa-dao devnet up`.")
    elif not running:
        print(f"The devnet recorded on {st.rpc_url} (pid {st.pid}) is not answering; "
              "`kanazawa-dao devnet up` starts a new one.")
    else:
        print("Devnet running.")
        _print_status(st)
    return 0 if running else NOT_RUNNING


def cmd_compile(args: argparse.Namespace, settings: Settings) -> int:
    info = compile_contracts(force=args.force, quiet=False)
    if not info.compiled:
        print(f"Contracts up to date ({len(info.contracts)} artifacts in {info.build_dir}, "
              f"source hash {info.source_hash[:12]}).")
    return 0


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    _ensure_sqlite_folder(settings.database_url)
    migrate.upgrade(settings.database_url)
    print(f"Database schema up to date ({_redacted(settings.database_url)}).")
    return 0


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the indexer is only needed by this command.
    from backend.chain.deploy import read_manifest
    from backend.db import make_engine, session_factory
    from indexer.rpc import RpcClient
    from indexer.runner import Indexer

    rpc = RpcClient(settings.rpc_url)
    deployment = read_manifest(rpc.chain_id(), settings.deployments_dir)
    _ensure_sqlite_folder(settings.database_url)
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        if args.reset:
            from indexer.store import reset_chain
            with session_factory(engine)() as session, session.begin():
                reset_chain(session, deployment.chain_id)
            print(f"Forgot everything indexed for chain {deployment.chain_id}.", flush=True)
        indexer = Indexer(
            sessions=session_factory(engine), rpc=rpc, deployment=deployment,
            confirmations=args.confirmations if args.confirmations is not None else settings.index_confirmations,
            batch_blocks=args.batch_blocks or settings.index_batch_blocks,
            log=lambda line: print(line, flush=True),
        )
        indexer.install_signal_handlers()
        print(f"Indexing chain {deployment.chain_id} from {settings.rpc_url} into "
              f"{_redacted(settings.database_url)} (Ctrl-C stops after the current batch)", flush=True)
        indexer.run(until=args.until, once=args.once)
    finally:
        engine.dispose()
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from frontend_api.app import create_app

    _ensure_sqlite_folder(settings.database_url)
    migrate.upgrade(settings.database_url)
    host, port = args.host or settings.api_host, args.port or settings.api_port
    print(f"API on http://{host}:{port} (OpenAPI: /openapi.json, docs: /docs); database {_redacted(settings.database_url)}; "
          f"chain {settings.rpc_url}; broker {_redacted(settings.broker_url)}", flush=True)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as the client, so a local
    # proxy (or anyone on this host) could pick their address; the rate limiter believes only the configured
    # `rate_limit_trusted_proxies` (frontend_api/ratelimit.py).
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=False)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    # The worker's Celery app reads the same Settings (environment and .env) when it is imported.
    from backend.tasks.app import celery_app as app

    _ensure_sqlite_folder(settings.database_url)
    migrate.upgrade(settings.database_url)
    print(f"Worker: broker {_redacted(settings.broker_url)}, database {_redacted(settings.database_url)}, "
          f"chain {settings.rpc_url}", flush=True)
    argv = ["worker", "--loglevel=INFO", "--pool=threads", f"--concurrency={args.concurrency}", "--without-gossip",
            "--without-mingle"]
    if not args.no_beat:
        schedule = Path(settings.content_dir).parent / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", f"--schedule={schedule}"]
    app.worker_main(argv)
    return 0


def _redacted(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kanazawa-dao", description="Kanazawa co-creation DAO: devnet, indexer and tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "up", help="the whole service on embedded defaults with the Kanazawa demo data (Ctrl-C stops it)",
        description="Start (or reuse) the devnet, migrate, run the indexer, worker and API as one supervised group, "
                    "seed the Kanazawa demo through the API and print the URLs. Ctrl-C stops everything.")
    p.add_argument("--fresh", action="store_true",
                   help="start over: wipe the embedded database, broker, content store and the devnet's chain")
    p.add_argument("--no-seed", action="store_true", help="do not seed the demo data")
    p.add_argument("--api-port", type=int, help="API port (default: KANAZAWA_DAO_API_PORT or 8000)")
    p.add_argument("--devnet-port", type=int, help="devnet RPC port (default: KANAZAWA_DAO_DEVNET_PORT or 8545)")
    p.set_defaults(func=cmd_up)

    dev = commands.add_parser("devnet", help="the local chain (anvil) with every contract deployed")
    dev_commands = dev.add_subparsers(dest="devnet_command", required=True, metavar="ACTION")
    p = dev_commands.add_parser("up", help="start the devnet (or reuse the running one) and deploy if needed")
    p.add_argument("--port", type=int, help="RPC port (default: KANAZAWA_DAO_DEVNET_PORT or 8545)")
    p.add_argument("--host", help="bind address (default: KANAZAWA_DAO_DEVNET_HOST or 127.0.0.1)")
    p.add_argument("--fresh", action="store_true", help="forget the saved chain and manifest: start from block 0")
    p.set_defaults(func=cmd_devnet_up)
    p = dev_commands.add_parser("down", help="stop the devnet (its chain state is saved for the next up)")
    p.set_defaults(func=cmd_devnet_down)
    p = dev_commands.add_parser(
        "status", help=f"show the running devnet (exit code {NOT_RUNNING} when none is running)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_devnet_status)

    p = commands.add_parser("compile", help="compile the contracts (cached by source hash)")
    p.add_argument("--force", action="store_true", help="compile even if the cached build is current")
    p.set_defaults(func=cmd_compile)

    db = commands.add_parser("db", help="the database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = db_commands.add_parser("upgrade", help="create or migrate the schema (Alembic)")
    p.set_defaults(func=cmd_db_upgrade)

    p = commands.add_parser("index", help="index the chain into the database (follows the head until stopped)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--once", action="store_true", help="stop when caught up with the head")
    stop.add_argument("--until", type=int, metavar="BLOCK", help="stop after indexing this block")
    p.add_argument("--confirmations", type=int, help="blocks behind the head treated as final (default 0)")
    p.add_argument("--batch-blocks", type=int, help="largest block range per batch (default 2000)")
    p.add_argument("--reset", action="store_true", help="forget what was indexed for this chain and start over")
    p.set_defaults(func=cmd_index)

    p = commands.add_parser("serve", help="run the HTTP API (FastAPI, uvicorn)")
    p.add_argument("--host", help="bind address (default: KANAZAWA_DAO_API_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: KANAZAWA_DAO_API_PORT or 8000)")
    p.set_defaults(func=cmd_serve)

    p = commands.add_parser("worker", help="run the Celery worker: relays ballots and claims, mints badges, sweeps")
    p.add_argument("--concurrency", type=int, default=4, help="worker threads (default 4)")
    p.add_argument("--no-beat", action="store_true",
                   help="do not run the periodic sweep in this worker (run it in exactly one worker)")
    p.set_defaults(func=cmd_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        try:
            settings = Settings()
        except ValidationError as exc:
            raise KanazawaDaoError(f"invalid setting (KANAZAWA_DAO_* environment variable or .env):\n{exc}") from None
        command: Command = args.func
        return command(args, settings)
    except KanazawaDaoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())
