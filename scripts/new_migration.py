"""Autogenerate an Alembic revision from the models (`python -m scripts.new_migration "what changed"`).

Builds a scratch SQLite database at the current head, compares it with backend/models and writes the new revision
into backend/migrations/versions/. Review the file before committing: autogenerate misses renames.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from backend.migrate import alembic_config, upgrade


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scratch.sqlite3'}"
        upgrade(url)
        config = alembic_config(url)
        current = ScriptDirectory.from_config(config).get_current_head()
        rev_id = f"{int(current or 0) + 1:04d}"
        command.revision(config, message=argv[0], autogenerate=True, rev_id=rev_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
