"""The one `Settings` object. Read only at entry points (the CLI, later the API and the worker) and passed down.

Every field can be set as an environment variable with the `KANAZAWA_DAO_` prefix or in a `.env` file (the
repository's, then the current directory's); `.env.example` documents them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator, model_validator
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
    #: Indexer: blocks behind the head treated as final, and the largest block range per batch.
    index_confirmations: int = 0
    index_batch_blocks: int = 2000

    @field_validator("devnet_run_dir", "deployments_dir")
    @classmethod
    def _relative_to_repo(cls, path: Path) -> Path:
        # Relative paths mean the repository's folders, whatever the current directory.
        return path if path.is_absolute() else REPO_ROOT / path

    @model_validator(mode="after")
    def _default_rpc_url(self) -> Settings:
        if not self.rpc_url:
            self.rpc_url = f"http://{self.devnet_host}:{self.devnet_port}"
        return self
