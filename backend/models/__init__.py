"""SQLAlchemy models. `chain` holds what the chain says (written only by the indexer); off-chain domain tables
(issues, documents, ballots, events, ...) arrive with the services."""

from backend.models.chain import *  # noqa: F401,F403
from backend.db import Base  # noqa: F401
