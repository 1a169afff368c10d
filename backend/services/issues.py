"""The citizens' issues board (マッチ箱 / Ha4go style): members, organisations and the city post local issues,
members support them (one support each), anyone reads them; the city imports issues from external boards.

One rule set checks every issue, whether posted, edited or imported (`_clean`). An imported issue keeps its
`source` and `external_id`: a re-import of the same export updates it in place, and it has no author here, so it is
edited on its own board and imported again.

`support_count` is kept in step with issue_support by an atomic `support_count ± 1` in the transaction that adds or
removes the support (the primary key of issue_support refuses a second support), so concurrent supports never lose
a count. `updated_at` follows every change of the issue's published row, support count included (the open-data
dataset dates itself by it).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_utils import is_hex_address, to_checksum_address
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, delete, exists, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.domain.vocabulary import Role
from backend.models.issue import ISSUE_CATEGORIES, ISSUE_STATUSES, Issue, IssueComment, IssueSupport, searchable
from backend.services.context import Services
from backend.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.roles import Principal

IssueCategoryWord = Literal[ISSUE_CATEGORIES]  # type: ignore[valid-type]
IssueStatusWord = Literal[ISSUE_STATUSES]  # type: ignore[valid-type]

OWN_SOURCE = "kanazawa-dao"
SOURCE_PATTERN = re.compile(r"^[a-z0-9-]{2,40}$")
MAX_TITLE, MAX_BODY, MAX_COMMENT, MAX_LOCATION, MAX_URL = 200, 20_000, 5_000, 200, 500
MAX_SKILLS, MAX_SKILL = 20, 50
MAX_EXTERNAL_ID = 200
MAX_RADIUS_KM = 1_000
KM_PER_DEGREE = 111.32
SORTS = {
    "newest": (Issue.created_at.desc(), Issue.id.desc()),
    "oldest": (Issue.created_at.asc(), Issue.id.asc()),
    "supports": (Issue.support_count.desc(), Issue.id.desc()),
    "updated": (Issue.updated_at.desc(), Issue.id.desc()),
}
#: What an author may change (PATCH) and what a row of an import describes.
EDITABLE = ("title", "body", "category", "status", "location_name", "latitude", "longitude", "skills_wanted")
IMPORTED = EDITABLE + ("external_url",)
IMPORT_FIELDS = ("external_id",) + IMPORTED
#: Column names of an import besides the field names themselves: the Japanese headers of a マッチ箱 export.
IMPORT_HEADERS = {"外部ID": "external_id", "タイトル": "title", "本文": "body", "カテゴリ": "category",
                  "カテゴリー": "category", "状態": "status", "場所": "location_name", "緯度": "latitude",
                  "経度": "longitude", "求めるスキル": "skills_wanted", "URL": "external_url"}
#: Japanese labels an import may use for categories and statuses.
CATEGORY_LABELS = {"文化": "culture", "まちづくり": "town-planning", "観光": "tourism", "環境": "environment",
                   "福祉": "welfare", "教育": "education", "防災": "disaster-prevention", "その他": "other"}
STATUS_LABELS = {"受付中": "open", "対応中": "in-progress", "解決済み": "resolved", "解決済": "resolved", "終了": "closed"}
SKILL_SEPARATOR = re.compile(r"[;；]")


@dataclass(frozen=True)
class IssueDraft:
    title: str
    body: str
    category: str
    location_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    skills_wanted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IssueFilter:
    q: str | None = None
    category: str | None = None
    status: str | None = None
    source: str | None = None
    author: str | None = None
    skill: str | None = None
    near: str | None = None  # "lat,lon,radius_km"
    sort: str = "newest"


# ---------------------------------------------------------------------- the one rule set


# ---------------------------------------------------------------------- what the service answers with


class IssueView(BaseModel):
    id: int
    title: str
    body: str
    category: IssueCategoryWord
    status: IssueStatusWord
    location_name: str | None
    latitude: float | None
    longitude: float | None
    skills_wanted: list[str]
    author: str | None = Field(description="the address that posted it; null for an imported issue")
    source: str = Field(description='"kanazawa-dao" when posted here, else the board it was imported from')
    external_id: str | None = Field(description="its id on the board it was imported from")
    external_url: str | None = Field(description="its page on the board it was imported from")
    support_count: int
    comment_count: int
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="last change of the issue, its support count included")


class IssuePage(BaseModel):
    items: list[IssueView]
    total: int
    page: int
    per_page: int


class SupportCount(BaseModel):
    issue_id: int
    support_count: int


class CommentView(BaseModel):
    id: int
    issue_id: int
    author: str
    body: str
    created_at: dt.datetime


class CommentPage(BaseModel):
    items: list[CommentView]
    total: int
    page: int
    per_page: int


class ImportRowError(BaseModel):
    row: int = Field(description="CSV: the row as a spreadsheet numbers it (the header is row 1); "
                                 "JSON: the position in the list, from 1")
    external_id: str | None
    error: str


class ImportReport(BaseModel):
    created: int
    updated: int
    unchanged: int
    errors: list[ImportRowError] = Field(description="rows skipped, with the reason; the other rows were imported")


def _text(value: Any, name: str, maximum: int, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text")
    value = value.strip()
    if len(value) > maximum:
        raise InvalidInput(f"{name} is longer than {maximum} characters")
    return value


def _choice(value: Any, name: str, choices: tuple[str, ...], labels: Mapping[str, str]) -> str:
    text = _text(value, name, 40, required=True)
    assert text is not None
    choice = labels.get(text, text.lower())
    if choice not in choices:
        raise InvalidInput(f"unknown {name} {text!r}: use one of {', '.join(choices)}")
    return choice


def _coordinate(value: Any, name: str, limit: float) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise InvalidInput(f"{name} must be between {-limit:g} and {limit:g}")
    return number


def _skills(value: Any) -> list[str]:
    """A list of short strings (or one `;`-separated string); blanks are dropped and repeats collapsed."""
    if value is None:
        return []
    if isinstance(value, str):
        value = SKILL_SEPARATOR.split(value)
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InvalidInput("skills_wanted must be a list of text")
    skills = list(dict.fromkeys(s.strip() for s in value if s.strip()))
    if len(skills) > MAX_SKILLS:
        raise InvalidInput(f"skills_wanted has more than {MAX_SKILLS} entries")
    if any(len(s) > MAX_SKILL for s in skills):
        raise InvalidInput(f"a skill is longer than {MAX_SKILL} characters")
    return skills


def _url(value: Any) -> str | None:
    url = _text(value, "external_url", MAX_URL, required=False)
    if url is not None and not re.match(r"^https?://[^\s]+$", url, re.IGNORECASE):
        raise InvalidInput("external_url must be an http(s) URL")
    return url


def _clean(values: Mapping[str, Any], *, body_required: bool = True) -> dict[str, Any]:
    """Every field of an issue, checked and normalised; InvalidInput names the first field that is wrong."""
    cleaned = {
        "title": _text(values.get("title"), "title", MAX_TITLE, required=True),
        "body": _text(values.get("body"), "body", MAX_BODY, required=body_required) or "",
        "category": _choice(values.get("category"), "category", ISSUE_CATEGORIES, CATEGORY_LABELS),
        "status": _choice(values.get("status"), "status", ISSUE_STATUSES, STATUS_LABELS),
        "location_name": _text(values.get("location_name"), "location_name", MAX_LOCATION, required=False),
        "latitude": _coordinate(values.get("latitude"), "latitude", 90),
        "longitude": _coordinate(values.get("longitude"), "longitude", 180),
        "skills_wanted": _skills(values.get("skills_wanted")),
    }
    if (cleaned["latitude"] is None) != (cleaned["longitude"] is None):
        raise InvalidInput("give both latitude and longitude, or neither")
    if "external_url" in values:
        cleaned["external_url"] = _url(values["external_url"])
    return cleaned


def _fields(issue: Issue, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(issue, name) for name in names}


# ---------------------------------------------------------------------- reading



def _view(issue: Issue, comment_count: int) -> IssueView:
    return IssueView(**{"id": issue.id, **_fields(issue, IMPORTED), "author": issue.author_address, "source": issue.source,
            "external_id": issue.external_id, "support_count": issue.support_count, "comment_count": comment_count,
            "created_at": issue.created_at, "updated_at": issue.updated_at})


def _issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise NotFound(f"no issue {issue_id}")
    return issue


def _comment_counts(session: Session, issue_ids: list[int]) -> dict[int, int]:
    if not issue_ids:
        return {}
    rows = session.execute(select(IssueComment.issue_id, func.count()).where(IssueComment.issue_id.in_(issue_ids))
                           .group_by(IssueComment.issue_id))
    return {issue_id: count for issue_id, count in rows}


def _near(near: str) -> list[ColumnElement[bool]]:
    """A bounding box around "lat,lon,radius_km" (near the poles or across the antimeridian it spans every
    longitude)."""
    try:
        lat, lon, radius = (float(part) for part in near.split(","))
    except ValueError:
        raise InvalidInput("near must be latitude,longitude,radius_km (for example 36.5613,136.6562,2)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < radius <= MAX_RADIUS_KM):
        raise InvalidInput(f"near: latitude -90..90, longitude -180..180, radius_km above 0 up to {MAX_RADIUS_KM}")
    dlat = radius / KM_PER_DEGREE
    box = [Issue.latitude.between(lat - dlat, lat + dlat)]
    cos = math.cos(math.radians(lat))
    dlon = radius / (KM_PER_DEGREE * cos) if cos > 1e-9 else 360
    if lon - dlon >= -180 and lon + dlon <= 180:
        box.append(Issue.longitude.between(lon - dlon, lon + dlon))
    else:
        box.append(Issue.longitude.is_not(None))
    return box


def _has_skill(session: Session, skill: str) -> ColumnElement[bool]:
    """An entry of the JSON list skills_wanted equals `skill` (ignoring case), on SQLite and PostgreSQL alike."""
    explode = func.json_array_elements_text if session.get_bind().dialect.name == "postgresql" else func.json_each
    entries = explode(Issue.skills_wanted).table_valued("value")
    return exists(select(literal(1)).select_from(entries).where(func.lower(entries.c.value) == skill.lower()))


def _conditions(session: Session, f: IssueFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.q and f.q.strip():
        q = f.q.strip()
        conditions.append(Issue.search_text.contains(searchable(q), autoescape=True))
    if f.category is not None:
        conditions.append(Issue.category == _choice(f.category, "category", ISSUE_CATEGORIES, {}))
    if f.status is not None:
        conditions.append(Issue.status == _choice(f.status, "status", ISSUE_STATUSES, {}))
    if f.source is not None:
        conditions.append(Issue.source == f.source)
    if f.author is not None:
        if not is_hex_address(f.author):
            raise InvalidInput("author must be a 0x address")
        conditions.append(Issue.author_address == to_checksum_address(f.author))
    if f.skill is not None and f.skill.strip():
        conditions.append(_has_skill(session, f.skill.strip()))
    if f.near is not None:
        conditions.extend(_near(f.near))
    return conditions


def search(services: Services, f: IssueFilter, *, page: int = 1, per_page: int = 20) -> IssuePage:
    if f.sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
    if page < 1 or not 1 <= per_page <= 100:
        raise InvalidInput("page starts at 1; per_page is 1..100")
    with services.session() as session:
        conditions = _conditions(session, f)
        offset = (page - 1) * per_page
        # The page and the total in one pass over the matching issues (a text search scans them all): the total
        # rides along as a window count over the ids only (not the whole rows, whose width made it the slower half
        # of a search); only a page past the end needs a count of its own. Then the page's rows, by id.
        found = session.execute(select(Issue.id, func.count().over().label("total")).where(*conditions)
                                .order_by(*SORTS[f.sort]).offset(offset).limit(per_page)).all()
        by_id = {i.id: i for i in session.scalars(select(Issue).where(Issue.id.in_([r.id for r in found])))} \
            if found else {}
        rows = [by_id[r.id] for r in found]
        total = found[0].total if found else session.scalar(select(func.count(Issue.id)).where(*conditions)) or 0
        counts = _comment_counts(session, [i.id for i in rows])
        items = [_view(i, counts.get(i.id, 0)) for i in rows]
    return IssuePage(items=items, total=total, page=page, per_page=per_page)


def get(services: Services, *, issue_id: int) -> IssueView:
    with services.session() as session:
        issue = _issue(session, issue_id)
        return _view(issue, _comment_counts(session, [issue_id]).get(issue_id, 0))


# ---------------------------------------------------------------------- posting and editing


def create(services: Services, who: Principal, *, draft: IssueDraft) -> IssueView:
    author = who.require(Role.MEMBER, Role.ORGANISATION, Role.CITY)
    cleaned = _clean({**draft.__dict__, "status": "open"})
    with services.transaction() as session:
        issue = Issue(**cleaned, author_address=author, source=OWN_SOURCE, support_count=0, extra={})
        session.add(issue)
        session.flush()
        return _view(issue, 0)


def update_issue(services: Services, who: Principal, *, issue_id: int, changes: Mapping[str, Any]) -> IssueView:
    """Apply the given fields (a partial update) to an issue the caller posted."""
    address = who.require_signed_in()
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}; editable: {', '.join(EDITABLE)}")
    with services.transaction() as session:
        issue = _issue(session, issue_id)
        if issue.author_address is None:
            raise Forbidden(f"issue {issue_id} was imported from {issue.source}: edit it there and import it again")
        if issue.author_address != address:
            raise Forbidden(f"only the author of issue {issue_id} may edit it")
        for name, value in _clean({**_fields(issue, EDITABLE), **changes}).items():
            if getattr(issue, name) != value:
                setattr(issue, name, value)
        session.flush()
        return _view(issue, _comment_counts(session, [issue_id]).get(issue_id, 0))


# ---------------------------------------------------------------------- supports


def support(services: Services, who: Principal, *, issue_id: int) -> SupportCount:
    member = who.require(Role.MEMBER)
    try:
        with services.transaction() as session:
            _issue(session, issue_id)
            session.add(IssueSupport(issue_id=issue_id, member_address=member))
            session.flush()
            return SupportCount(issue_id=issue_id, support_count=_count_step(session, issue_id, +1))
    except IntegrityError:
        raise Conflict(f"{member} already supports issue {issue_id}") from None


def withdraw_support(services: Services, who: Principal, *, issue_id: int) -> None:
    """Withdrawing needs no role: a member who has left may still take back their support."""
    address = who.require_signed_in()
    with services.transaction() as session:
        _issue(session, issue_id)
        removed = session.execute(delete(IssueSupport).where(IssueSupport.issue_id == issue_id,
                                                             IssueSupport.member_address == address)).rowcount
        if not removed:
            raise NotFound(f"{address} does not support issue {issue_id}")
        _count_step(session, issue_id, -1)


def _count_step(session: Session, issue_id: int, step: int) -> int:
    session.execute(update(Issue).where(Issue.id == issue_id).values(support_count=Issue.support_count + step)
                    .execution_options(synchronize_session=False))
    return session.scalar(select(Issue.support_count).where(Issue.id == issue_id)) or 0


# ---------------------------------------------------------------------- comments


def _comment_view(c: IssueComment) -> CommentView:
    return CommentView(**{"id": c.id, "issue_id": c.issue_id, "author": c.author_address, "body": c.body,
            "created_at": c.created_at})


def comments(services: Services, *, issue_id: int, page: int = 1, per_page: int = 20) -> CommentPage:
    """Oldest first: a conversation reads from the top."""
    if page < 1 or not 1 <= per_page <= 100:
        raise InvalidInput("page starts at 1; per_page is 1..100")
    with services.session() as session:
        _issue(session, issue_id)
        where = IssueComment.issue_id == issue_id
        total = session.scalar(select(func.count(IssueComment.id)).where(where)) or 0
        offset = (page - 1) * per_page
        rows = [] if offset >= total else session.scalars(
            select(IssueComment).where(where).order_by(IssueComment.id).offset(offset).limit(per_page)).all()
        return CommentPage(items=[_comment_view(c) for c in rows], total=total, page=page, per_page=per_page)


def comment(services: Services, who: Principal, *, issue_id: int, body: str) -> CommentView:
    author = who.require(Role.MEMBER, Role.ORGANISATION, Role.CITY)
    text = _text(body, "body", MAX_COMMENT, required=True)
    with services.transaction() as session:
        _issue(session, issue_id)
        row = IssueComment(issue_id=issue_id, author_address=author, body=text)
        session.add(row)
        session.flush()
        return _comment_view(row)


# ---------------------------------------------------------------------- imports from external boards


def _header_key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().lower().replace(" ", "_").replace("-", "_")


_FIELD_OF = {_header_key(k): v for k, v in {**{f: f for f in IMPORT_FIELDS}, **IMPORT_HEADERS}.items()}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 (byte {exc.start}): save it as UTF-8, for example "
                           "\"CSV UTF-8\" in a spreadsheet") from None


#: A row of an import: its fields, or why it cannot be read at all.
Row = dict[str, Any] | str


def _csv_rows(text: str) -> Iterator[tuple[int, Row]]:
    """Rows numbered as a spreadsheet shows them: the header is row 1."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise InvalidInput("the CSV file has no header row")
        columns = [_FIELD_OF.get(_header_key(h)) for h in header]
        named = [c for c in columns if c]
        repeated = sorted({c for c in named if named.count(c) > 1})
        if repeated:
            raise InvalidInput(f"the CSV header names {', '.join(repeated)} twice")
        missing = [c for c in ("external_id", "title") if c not in named]
        if missing:
            raise InvalidInput(f"the CSV header has no {' or '.join(missing)} column (外部ID, タイトル)")
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if any(cell.strip() for cell in cells[len(columns):]):
                yield number, f"{len(cells)} cells but {len(columns)} columns"
                continue
            yield number, {c: cell for c, cell in zip(columns, cells) if c}
    except csv.Error as exc:
        raise InvalidInput(f"the CSV file cannot be read at line {reader.line_num}: {exc}") from None


def _json_rows(text: str) -> Iterator[tuple[int, Row]]:
    """Rows numbered by their position in the list, from 1."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(f"the JSON file cannot be read: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("issues"), list):
        document = document["issues"]
    if not isinstance(document, list):
        raise InvalidInput('the JSON file must be a list of issues or {"issues": [...]}')
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            yield number, "an issue must be a JSON object"
            continue
        yield number, {_FIELD_OF[_header_key(k)]: v for k, v in item.items()
                       if isinstance(k, str) and _header_key(k) in _FIELD_OF}


def _external_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    external_id = _text(value, "external_id", MAX_EXTERNAL_ID, required=True)
    assert external_id is not None
    return external_id


def _imported(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row describes the whole issue: a field it leaves out takes its default (category other, status open)."""
    given = {k: v for k, v in row.items() if v is not None and not (isinstance(v, str) and not v.strip())}
    return _clean({"category": "other", "status": "open", "external_url": None, **given}, body_required=False)


def import_issues(services: Services, who: Principal, *, source: str, fmt: Literal["csv", "json"],
                  data: bytes) -> dict[str, Any]:
    """Create or update the issues of an external board's export (`fmt` "csv" or "json"). Broken rows are reported
    and skipped; the good rows are written in one transaction."""
    who.require(Role.CITY)
    if not SOURCE_PATTERN.match(source) or source == OWN_SOURCE:
        raise InvalidInput(f"source must be a slug like matchbako (a-z, 0-9, -; 2..40) and not {OWN_SOURCE}")
    rows = {"csv": _csv_rows, "json": _json_rows}[fmt](_decode(data))
    errors: list[dict[str, Any]] = []
    good: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, row in rows:
        external_id = None
        try:
            if isinstance(row, str):
                raise InvalidInput(row)
            external_id = _external_id(row.get("external_id"))
            if external_id in good:
                raise InvalidInput(f"external_id {external_id!r} repeats row {good[external_id][0]}")
            good[external_id] = number, _imported(row)
        except InvalidInput as exc:
            errors.append({"row": number, "external_id": external_id, "error": exc.detail})
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    try:
        with services.transaction() as session:
            existing = _existing(session, source, list(good))
            for external_id, (_number, cleaned) in good.items():
                issue = existing.get(external_id)
                if issue is None:
                    session.add(Issue(**cleaned, source=source, external_id=external_id, author_address=None,
                                      support_count=0, extra={}))
                    counts["created"] += 1
                elif _fields(issue, IMPORTED) == cleaned:
                    counts["unchanged"] += 1
                else:
                    for name, value in cleaned.items():
                        setattr(issue, name, value)
                    counts["updated"] += 1
    except IntegrityError:
        raise Conflict(f"another import of {source} ran at the same time: import the file again") from None
    return ImportReport(**counts, errors=errors)


def _existing(session: Session, source: str, external_ids: list[str]) -> dict[str, Issue]:
    found: dict[str, Issue] = {}
    for start in range(0, len(external_ids), 500):
        chunk = external_ids[start:start + 500]
        found.update((i.external_id, i) for i in session.scalars(
            select(Issue).where(Issue.source == source, Issue.external_id.in_(chunk))))
    return found
