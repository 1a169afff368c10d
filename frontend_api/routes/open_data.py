"""/open-data: the dataset index (licence CC BY 4.0, update time, documented columns) and each dataset as CSV
(UTF-8, `?lang=ja` Japanese header row by default, `?lang=en` English) or JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from backend.services import open_data
from backend.services.context import Services
from frontend_api.deps import services

router = APIRouter(prefix="/open-data", tags=["open data"])
DatasetId = Path(pattern=r"^[a-z-]{1,40}$", description="a dataset id from GET /open-data")


class ColumnOut(BaseModel):
    key: str
    ja: str
    en: str
    type: str
    description: str


class DatasetOut(BaseModel):
    id: str
    title_ja: str
    title_en: str
    description: str
    licence: dict[str, str]
    updated_at: str | None
    formats: dict[str, str]
    columns: list[ColumnOut]


class DatasetJson(BaseModel):
    dataset: str
    licence: dict[str, str]
    updated_at: str | None
    rows: list[dict[str, Any]]


@router.get("", response_model=list[DatasetOut], summary="The datasets, their licence, columns and update time")
def index(svc: Services = Depends(services)) -> list[dict]:
    return open_data.index(svc, svc.settings.public_url.rstrip("/"))


@router.get("/{dataset_id}.json", response_model=DatasetJson, summary="A dataset as JSON")
def dataset_json(dataset_id: str = DatasetId, svc: Services = Depends(services)) -> dict:
    return open_data.as_json(svc, dataset_id)


@router.get("/{dataset_id}.csv", summary="A dataset as CSV (UTF-8)",
            responses={200: {"content": {"text/csv": {}}, "description": "CSV with one header row"}})
def dataset_csv(dataset_id: str = DatasetId, lang: str = Query(default="ja", pattern="^(ja|en)$"),
                svc: Services = Depends(services)) -> StreamingResponse:
    chunks = open_data.as_csv(svc, dataset_id, lang=lang)
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{dataset_id}.csv"'})
