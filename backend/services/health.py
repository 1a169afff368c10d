"""Health: can the service answer, how far behind the chain's head is the index, and what the relayer has in hand.
Used by `kanazawa-dao up` to wait for a ready service and by operators' monitoring."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select, text

from backend.models.chain import IndexerCursor
from backend.models.relay import RelayJob
from backend.services.context import Services


class ChainHead(BaseModel):
    chain_id: int
    head: int


class IndexerProgress(BaseModel):
    block: int = Field(description="the last block indexed")
    lag: int | None = Field(description="blocks behind the chain's head (null when the chain does not answer)")
    updated_at: dt.datetime


class HealthReport(BaseModel):
    status: str = Field(description="ok | degraded (the chain does not answer) | unavailable (the database does not)")
    database: bool
    chain: ChainHead | None
    indexer: IndexerProgress | None = Field(description="null until the indexer's first batch")
    relay_jobs: dict[str, int] = Field(description="relayed transactions by status (pending, submitted, included, "
                                                   "confirmed, failed)")
    error: str | None = None


def health(services: Services) -> HealthReport:
    return HealthReport(**_report(services))


def _report(services: Services) -> dict[str, Any]:
    report: dict[str, Any] = {"database": False, "chain": None, "indexer": None, "relay_jobs": {}}
    try:
        with services.session() as session:
            session.execute(text("SELECT 1"))
            report["database"] = True
            report["relay_jobs"] = {status: count for status, count in session.execute(
                select(RelayJob.status, func.count()).group_by(RelayJob.status))}
            cursor_rows = session.scalars(select(IndexerCursor)).all()
    except Exception as exc:  # noqa: BLE001 - any driver error means: not healthy
        report["error"] = f"database: {type(exc).__name__}"
        report["status"] = "unavailable"
        return report
    try:
        head = services.chain.w3.eth.block_number
        report["chain"] = {"chain_id": services.chain_id, "head": head}
    except Exception as exc:  # noqa: BLE001
        report["error"] = f"chain: {type(exc).__name__}"  # the node's URL stays in the operator's settings
        head = None
    cursor = next((c for c in cursor_rows if report["chain"] and c.chain_id == report["chain"]["chain_id"]), None)
    if cursor is not None:
        report["indexer"] = {"block": cursor.block_number, "lag": None if head is None else max(0, head - cursor.block_number),
                             "updated_at": cursor.updated_at}
    report["status"] = "ok" if report["chain"] is not None else "degraded"
    return report
