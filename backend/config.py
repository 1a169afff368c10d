"""The one `Settings` object. Read only at entry points (the CLI, later the API and the worker) and passed down.

Every field can be set as an environment variable with the `KANAZAWA_DAO_` prefix or in a `.env` file (the
repository's, then the current directory's); `.env.example` documents them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.paths import DEPLOYMENTS_DIR, DEVNET_RUN_DIR, REPO_ROOT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KANAZAWA_DAO_", env_file=(REPO_ROOT / ".env", ".env"), env_file_encoding="utf-8", extra="ignore"
    )

    #: Where `kanazawa-dao devnet up` binds anvil.
    devnet_host: str = "127.0.0.1"
    devnet_port: int = 8545
    #: Where the devnet keeps its pid record, log and chain state dump; and where deployment manifests live.
    #: Configurable so that tests and side-by-side devnets do not touch the developer's own.
    devnet_run_dir: Path = DEVNET_RUN_DIR
    deployments_dir: Path = DEPLOYMENTS_DIR
    #: The chain everything else talks to; defaults to the local devnet's URL.
    rpc_url: str | None = None
    #: The database (SQLAlchemy URL). Embedded default: a SQLite file under var/. PostgreSQL:
    #: postgresql+psycopg://user@host:5432/dbname
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'kanazawa_dao.sqlite3'}"
    #: Blocks on top of a block before the service treats it as final: a relayed transaction is `confirmed` (until
    #: then `included`, and relayed again if a reorg takes its block), and values read from the chain at a past
    #: block are cached, only that deep. 0 on the devnet (anvil does not reorganise by itself); a real chain: see
    #: docs/operations.md ("What confirmed means").
    confirmations: int = Field(default=0, ge=0, le=10_000)
    #: Indexer: blocks behind the head treated as final, and the largest block range per batch.
    index_confirmations: int = 0
    index_batch_blocks: int = 2000

    # -- API (`kanazawa-dao serve`)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    #: The origin members see. Sign-In with Ethereum messages must name its host as their domain and start with it
    #: as their URI, so a message signed for another site is refused.
    public_url: str = "http://127.0.0.1:8000"
    #: Seconds a sign-in nonce and a session live.
    siwe_nonce_ttl: int = 600
    session_ttl: int = 7 * 24 * 3600
    #: Largest request body accepted (bytes); imports of an external issue board may be up to `max_import_bytes`.
    max_body_bytes: int = 1 << 20
    max_import_bytes: int = 8 << 20
    #: Rate limits on writes (POST, PUT, PATCH, DELETE; reads are not limited): token buckets in each API process
    #: (frontend_api/ratelimit.py), per client (its IP address) and per address (the signed-in session's, or the
    #: voter / invitee / attendee / signer of a signed ballot, claim, check-in or sign-in). Sustained writes a
    #: minute and the burst allowed on top; 0 turns that limit off. Over a limit: 429 with Retry-After.
    rate_limit_enabled: bool = True
    rate_limit_per_client: int = 120
    rate_limit_client_burst: int = 60
    rate_limit_per_address: int = 30
    rate_limit_address_burst: int = 20
    #: Reverse proxies (IP addresses or networks) whose X-Forwarded-For names the client; anyone else's is ignored.
    rate_limit_trusted_proxies: list[str] = []
    #: Clients never limited (IP addresses or networks; "local" = callers without an IP address: in-process, a Unix
    #: socket). Default: none. `kanazawa-dao up` on the devnet exempts this machine (it seeds the demo through
    #: 127.0.0.1); elsewhere an exemption is a decision of the operator, since a proxy on this machine would make
    #: every client look like 127.0.0.1.
    rate_limit_exempt_clients: list[str] = []
    #: Metaverse platforms' attendance webhooks draw on a bucket of their own per client, shared by all events
    #: (a platform reports many events): deliveries a minute, and the burst.
    rate_limit_webhooks_per_client: int = 600
    rate_limit_webhook_burst: int = 120
    #: Anonymous GETs of public data (proposals, issues, open data, outcomes, organisations, events, results pages)
    #: are answered from a per-process cache while the database has not changed (checked every 50 ms), for this
    #: many seconds, then as stale while computed again, up to twice this age; after a commit, a busy process
    #: serves the previous answer as stale while it computes the new one (frontend_api/cache.py). 0: off.
    read_cache_seconds: float = Field(default=30.0, ge=0, le=3600)

    # -- worker (`kanazawa-dao worker`)
    #: Celery broker. Embedded default: a SQLite file (kombu's SQLAlchemy transport), no server needed.
    #: Real: redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//
    broker_url: str = f"sqla+sqlite:///{REPO_ROOT / 'var' / 'celery-broker.sqlite3'}"
    #: Attendance badges are minted in transactions of this many recipients.
    attendance_batch_size: int = 200

    # -- content store (IPFS)
    #: A Kubo RPC API (e.g. /ip4/127.0.0.1/tcp/5001/http); unset = the embedded local store in `content_dir`,
    #: which computes the same CIDs as Kubo.
    ipfs_api_url: str | None = None
    content_dir: Path = REPO_ROOT / "var" / "content"

    # -- service keys (docs: README "Who signs what"). Unset = the public devnet keys, accepted on chain 31337 only.
    #: Pays gas for members' claims and ballots, and submits proposals.
    relayer_key: SecretStr | None = None
    #: The city's operator key: holds DEFAULT_ADMIN_ROLE (registers organisations, publishes outcomes).
    city_key: SecretStr | None = None
    #: Secret from which the service derives one issuer key per organisation.
    organisation_key_secret: SecretStr | None = None

    # -- rules
    #: Supports a linked issue needs before a member (not the city) may draft a proposal from it.
    proposal_min_supports: int = 3
    #: Metaverse webhooks: the signed timestamp may differ from the server's clock by at most this many seconds.
    webhook_tolerance: int = 300

    # -- `kanazawa-dao up`
    #: Where `up` keeps its lock, the logs of the processes it supervises and the demo-seed record.
    var_dir: Path = REPO_ROOT / "var"

    @field_validator("devnet_run_dir", "deployments_dir", "content_dir", "var_dir")
    @classmethod
    def _relative_to_repo(cls, path: Path) -> Path:
        # Relative paths mean the repository's folders, whatever the current directory.
        return path if path.is_absolute() else REPO_ROOT / path

    @model_validator(mode="after")
    def _default_rpc_url(self) -> Settings:
        if not self.rpc_url:
            self.rpc_url = f"http://{self.devnet_host}:{self.devnet_port}"
        return self
