"""/issues: the citizens' issues board (マッチ箱 / Ha4go style). Anyone reads and searches; members, organisations
and the city post and comment; members support (one support each); authors edit their own issues; the city imports
an external board's export (CSV or JSON), idempotently."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from backend.domain.vocabulary import Role
from backend.models.issue import ISSUE_CATEGORIES, ISSUE_STATUSES
from backend.services import issues
from backend.services.issues import CommentPage, CommentView, ImportReport, IssuePage, IssueView, SupportCount
from frontend_api.deps import PrincipalDep, ServicesDep
from frontend_api.problems import PROBLEM_MEDIA_TYPE
from frontend_api.routes import MAX_PAGE, MAX_ROW_ID

router = APIRouter(prefix="/issues", tags=["issues"])

Category = Literal[ISSUE_CATEGORIES]  # type: ignore[valid-type]
Status = Literal[ISSUE_STATUSES]  # type: ignore[valid-type]
Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=issues.MAX_SKILL)]
IssueId = Path(ge=1, le=MAX_ROW_ID, description="the issue's id on this board")
Title = Field(min_length=1, max_length=issues.MAX_TITLE, examples=["兼六園周辺の夜間照明が足りない"])
Body = Field(min_length=1, max_length=issues.MAX_BODY, description="plain text")
LocationName = Field(default=None, max_length=issues.MAX_LOCATION, examples=["兼六園 桂坂口"])
Latitude = Field(default=None, ge=-90, le=90, description="WGS 84; give both latitude and longitude, or neither")
Longitude = Field(default=None, ge=-180, le=180, description="WGS 84; give both latitude and longitude, or neither")
SKILLS = "skills that would help solve the issue (a 'skill' filter of GET /issues matches one of them)"


class IssueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Title
    body: str = Body
    category: Category
    location_name: str | None = LocationName
    latitude: float | None = Latitude
    longitude: float | None = Longitude
    skills_wanted: list[Skill] = Field(default_factory=list, max_length=issues.MAX_SKILLS, description=SKILLS,
                                       examples=[["デザイン", "照明"]])


class IssuePatch(BaseModel):
    """Only the fields sent change; `null` clears location_name or the coordinates (send both)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=issues.MAX_TITLE)
    body: str | None = Field(default=None, min_length=1, max_length=issues.MAX_BODY)
    category: Category | None = None
    status: Status | None = None
    location_name: str | None = LocationName
    latitude: float | None = Latitude
    longitude: float | None = Longitude
    skills_wanted: list[Skill] | None = Field(default=None, max_length=issues.MAX_SKILLS, description=SKILLS)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=issues.MAX_COMMENT, description="plain text")


_IMPORTED_ISSUE = {
    "type": "object", "required": ["external_id", "title"],
    "description": "Japanese keys (外部ID, タイトル, 本文, カテゴリ, 状態, 場所, 緯度, 経度, 求めるスキル, URL) are "
                   "accepted too; a field left out takes its default (category other, status open, others empty).",
    "properties": {
        "external_id": {"type": ["string", "integer"]}, "title": {"type": "string", "maxLength": issues.MAX_TITLE},
        "body": {"type": "string"}, "category": {"type": "string", "enum": list(ISSUE_CATEGORIES)},
        "status": {"type": "string", "enum": list(ISSUE_STATUSES)}, "location_name": {"type": "string"},
        "latitude": {"type": "number"}, "longitude": {"type": "number"},
        "skills_wanted": {"type": "array", "items": {"type": "string"}}, "external_url": {"type": "string"}}}
_IMPORT_BODY = {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "external_id,title,category,skills_wanted\n"
                                                          "M-1,用水路の清掃,environment,清掃;広報\n"},
    "application/json": {"schema": {"oneOf": [
        {"type": "array", "items": _IMPORTED_ISSUE},
        {"type": "object", "required": ["issues"],
         "properties": {"issues": {"type": "array", "items": _IMPORTED_ISSUE}}},
    ]}}}}
_IMPORT_FORMATS: dict[str, Literal["csv", "json"]] = {"text/csv": "csv", "application/json": "json"}


async def _raw_body(request: Request) -> bytes:
    return await request.body()


@router.get("", response_model=IssuePage, summary="Search the issues")
def list_issues(
    svc: ServicesDep,
    q: str | None = Query(default=None, max_length=200, description="words in the title or body (any case)"),
    category: Category | None = None,
    status: Status | None = None,
    source: str | None = Query(default=None, pattern=r"^[a-z0-9-]{2,40}$", description="kanazawa-dao, matchbako, ..."),
    author: str | None = Query(default=None, pattern=r"^0x[0-9a-fA-F]{40}$", description="the posting address"),
    skill: str | None = Query(default=None, max_length=issues.MAX_SKILL, description="one of its skills_wanted"),
    near: str | None = Query(default=None, pattern=r"^-?[0-9]+(\.[0-9]+)?,-?[0-9]+(\.[0-9]+)?,[0-9]+(\.[0-9]+)?$",
                             description="latitude,longitude,radius_km: issues within that bounding box",
                             examples=["36.5613,136.6562,2"]),
    sort: Literal["newest", "oldest", "supports", "updated"] = "newest",
    page: int = Query(default=1, ge=1, le=MAX_PAGE),
    per_page: int = Query(default=20, ge=1, le=100),
) -> IssuePage:
    return issues.search(svc, issues.IssueFilter(q=q, category=category, status=status, source=source, author=author,
                                                 skill=skill, near=near, sort=sort), page=page, per_page=per_page)


@router.post("", status_code=201, response_model=IssueView,
             summary="Post an issue (members, organisations and the city)")
def post_issue(body: IssueIn, svc: ServicesDep, who: PrincipalDep) -> IssueView:
    return issues.create(svc, who, draft=issues.IssueDraft(**body.model_dump()))


@router.post("/import", response_model=ImportReport, openapi_extra={"requestBody": _IMPORT_BODY},
             responses={415: {"description": "neither text/csv nor application/json, or not UTF-8", "content": {
                 PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
             summary="Import an external board's export, CSV or JSON (the city only)",
             description="Idempotent: an issue is identified by (source, external_id), so importing the same export "
                         "again updates in place. Broken rows are reported in `errors` and the others imported. "
                         "UTF-8 only (a BOM is fine); CSV skills_wanted are separated by `;`. Categories and "
                         "statuses may also be given in Japanese (文化, まちづくり, 観光, 環境, 福祉, 教育, 防災, その他; "
                         "受付中, 対応中, 解決済み, 終了).")
def import_issues(request: Request, svc: ServicesDep, who: PrincipalDep,
                  source: str = Query(pattern=r"^[a-z0-9-]{2,40}$", examples=["matchbako"],
                                      description="the external board's name (not kanazawa-dao)"),
                  data: bytes = Depends(_raw_body)) -> ImportReport:
    who.require(Role.CITY)  # before looking at the body: only the city learns what is wrong with a file
    media_type, *parameters = request.headers.get("content-type", "").lower().split(";")
    fmt = _IMPORT_FORMATS.get(media_type.strip())
    charset = dict(p.strip().partition("=")[::2] for p in parameters).get("charset", "utf-8").strip('"')
    if fmt is None or charset not in ("utf-8", "utf8"):
        raise HTTPException(415, "send text/csv or application/json, encoded as UTF-8")
    return issues.import_issues(svc, who, source=source, fmt=fmt, data=data)


@router.get("/{issue_id}", response_model=IssueView, summary="One issue")
def get_issue(svc: ServicesDep, issue_id: int = IssueId) -> IssueView:
    return issues.get(svc, issue_id=issue_id)


@router.patch("/{issue_id}", response_model=IssueView, summary="Edit an issue (its author only)")
def patch_issue(body: IssuePatch, svc: ServicesDep, who: PrincipalDep, issue_id: int = IssueId) -> IssueView:
    return issues.update_issue(svc, who, issue_id=issue_id, changes=body.model_dump(exclude_unset=True))


@router.post("/{issue_id}/supports", status_code=201, response_model=SupportCount,
             summary="Support an issue (members; one support each)")
def support_issue(svc: ServicesDep, who: PrincipalDep, issue_id: int = IssueId) -> SupportCount:
    return issues.support(svc, who, issue_id=issue_id)


@router.delete("/{issue_id}/supports", status_code=204, response_class=Response,
               summary="Withdraw your support")
def withdraw_support(svc: ServicesDep, who: PrincipalDep, issue_id: int = IssueId) -> Response:
    issues.withdraw_support(svc, who, issue_id=issue_id)
    return Response(status_code=204)


@router.get("/{issue_id}/comments", response_model=CommentPage, summary="Comments on an issue, oldest first")
def list_comments(svc: ServicesDep, issue_id: int = IssueId, page: int = Query(default=1, ge=1, le=MAX_PAGE), per_page: int = Query(default=20, ge=1, le=100)) -> CommentPage:
    return issues.comments(svc, issue_id=issue_id, page=page, per_page=per_page)


@router.post("/{issue_id}/comments", status_code=201, response_model=CommentView,
             summary="Comment on an issue (members, organisations and the city)")
def post_comment(body: CommentIn, svc: ServicesDep, who: PrincipalDep, issue_id: int = IssueId) -> CommentView:
    return issues.comment(svc, who, issue_id=issue_id, body=body.body)
