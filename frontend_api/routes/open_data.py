"""/open-data: the dataset index (licence CC BY 4.0, update time, documented columns) and each dataset as CSV
(UTF-8, `?lang=ja` Japanese header row by default, `?lang=en` English) or JSON."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from backend.services import open_data
from backend.services.open_data import DatasetInfo, DatasetRows
from frontend_api.deps import ServicesDep

router = APIRouter(prefix="/open-data", tags=["open data"])
DatasetId = Path(pattern=r"^[a-z-]{1,40}$", description="a dataset id from GET /open-data")


@router.get("", response_model=list[DatasetInfo], summary="The datasets, their licence, columns and update time")
def index(svc: ServicesDep) -> list[DatasetInfo]:
    return open_data.index(svc, base_url=svc.settings.public_url.rstrip("/"))


@router.get("/{dataset_id}.json", response_model=DatasetRows, summary="A dataset as JSON")
def dataset_json(svc: ServicesDep, dataset_id: str = DatasetId) -> DatasetRows:
    return open_data.as_json(svc, dataset_id=dataset_id)


@router.get("/{dataset_id}.csv", summary="A dataset as CSV (UTF-8)",
            responses={200: {"content": {"text/csv": {}}, "description": "CSV with one header row"}})
def dataset_csv(svc: ServicesDep, dataset_id: str = DatasetId,
                lang: str = Query(default="ja", pattern="^(ja|en)$")) -> StreamingResponse:
    chunks = open_data.as_csv(svc, dataset_id=dataset_id, lang=lang)
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{dataset_id}.csv"'})
