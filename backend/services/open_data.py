"""Open data: the city's datasets as CSV (UTF-8, Japanese or English header row) and JSON, licensed CC BY 4.0.

Each dataset is declared once (`DATASETS`): its columns with Japanese and English names and a description, and
the query that yields its rows. The index (`GET /open-data`) is built from the same declarations, so the
documentation of the columns is always the code's.

Disclosure control: wherever a count could single out people (votes of one segment on one proposal, attendance of
one event), a count below `SUPPRESS_BELOW` is published as empty and the row is flagged `suppressed` — the
breakdown of a segment with 3 voters would tell how each of them voted. Addresses of members and authors are never
exported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.domain import SUPPRESS_BELOW
from backend.domain.vocabulary import Category, OutcomeStatus, Segment
from backend.models.chain import Block, IndexerCursor, Outcome, Proposal, Tally
from backend.models.issue import Issue
from backend.models.metaverse_event import Attendance, MetaverseEvent
from backend.models.organisation import Organisation
from backend.models.proposal_document import ProposalDocument
from backend.services.context import Services
from backend.services.errors import InvalidInput, NotFound

LICENCE = {"name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/",
           "attribution": "Kanazawa co-creation DAO / 金沢市"}


@dataclass(frozen=True)
class Column:
    key: str
    ja: str
    en: str
    description: str
    type: str = "string"  # string | integer | number | boolean | datetime


@dataclass(frozen=True)
class Dataset:
    id: str
    title_ja: str
    title_en: str
    description: str
    columns: tuple[Column, ...]
    rows: Callable[[Session, int], Iterator[dict[str, Any]]]
    updated: Callable[[Session, int], dt.datetime | None]


def _suppress(count: int | None) -> int | None:
    return None if count is None or count < SUPPRESS_BELOW else count


def _chain_updated(session: Session, chain_id: int) -> dt.datetime | None:
    """When the chain data was last brought up to date: the timestamp of the indexer cursor's block."""
    cursor = session.get(IndexerCursor, chain_id)
    if cursor is None:
        return None
    timestamp = session.scalar(select(Block.timestamp).where(Block.chain_id == chain_id,
                                                             Block.number == cursor.block_number))
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc) if timestamp else cursor.updated_at


def _moment(timepoint: int) -> dt.datetime:
    """A moment of the card's clock (Unix seconds) as a datetime in UTC."""
    return dt.datetime.fromtimestamp(timepoint, dt.timezone.utc)


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds")


# ---------------------------------------------------------------------- datasets


def _proposals(session: Session, chain_id: int) -> Iterator[dict[str, Any]]:
    docs = select(ProposalDocument.proposal_id, ProposalDocument.title_ja, ProposalDocument.title_en,
                  ProposalDocument.document_cid).subquery()
    # The columns the dataset shows, not whole ORM objects (their JSON actions and descriptions cost more to load
    # than the rest of the export).
    columns = (Proposal.proposal_id, Proposal.category, Proposal.lifecycle, Proposal.vote_start, Proposal.vote_end,
               Proposal.document_uri, Proposal.document_hash, Proposal.block_number, Proposal.tx_hash)
    query = (select(*columns, docs.c.title_ja, docs.c.title_en, docs.c.document_cid)
             .outerjoin(docs, docs.c.proposal_id == Proposal.proposal_id)
             .where(Proposal.chain_id == chain_id).order_by(Proposal.block_number, Proposal.log_index))
    totals = {pid: (f, a, ab) for pid, f, a, ab in session.execute(
        select(Tally.proposal_id, func.sum(Tally.for_votes), func.sum(Tally.against_votes), func.sum(Tally.abstain_votes))
        .where(Tally.chain_id == chain_id).group_by(Tally.proposal_id))}
    for p in session.execute(query):
        title_ja, title_en = p.title_ja, p.title_en
        # The document named on chain, only when this service drafted the proposal with it (as the API shows it:
        # backend/services/proposals.py `summary`).
        ours = p.document_cid is not None and p.document_uri == f"ipfs://{p.document_cid}"
        f, a, ab = totals.get(p.proposal_id, (0, 0, 0))
        yield {"proposal_id": str(p.proposal_id), "category": Category.word_of(p.category),
               "title_ja": title_ja, "title_en": title_en, "lifecycle": p.lifecycle,
               "voting_starts_at": _iso(_moment(p.vote_start)), "voting_ends_at": _iso(_moment(p.vote_end)),
               "for_votes": f, "against_votes": a, "abstain_votes": ab,
               "document_uri": p.document_uri if ours else None, "document_hash": p.document_hash if ours else None,
               "block_number": p.block_number,
               "tx_hash": p.tx_hash}


def _results_by_segment(session: Session, chain_id: int) -> Iterator[dict[str, Any]]:
    rows = session.scalars(select(Tally).where(Tally.chain_id == chain_id).order_by(Tally.proposal_id, Tally.segment))
    for t in rows:
        total = t.for_votes + t.against_votes + t.abstain_votes
        hidden = total < SUPPRESS_BELOW
        yield {"proposal_id": str(t.proposal_id), "segment": Segment.word_of(t.segment),
               "total_votes": _suppress(total), "for_votes": None if hidden else t.for_votes,
               "against_votes": None if hidden else t.against_votes,
               "abstain_votes": None if hidden else t.abstain_votes, "suppressed": hidden}


def _outcomes(session: Session, chain_id: int) -> Iterator[dict[str, Any]]:
    for o in session.scalars(select(Outcome).where(Outcome.chain_id == chain_id)
                             .order_by(Outcome.block_number, Outcome.log_index)):
        yield {"proposal_id": str(o.proposal_id), "version": o.version, "status": OutcomeStatus.word_of(o.status),
               "report_uri": o.report_uri, "content_hash": o.content_hash, "block_number": o.block_number,
               "tx_hash": o.tx_hash}


def _issues(session: Session, _chain_id: int) -> Iterator[dict[str, Any]]:
    for i in session.scalars(select(Issue).order_by(Issue.id).execution_options(yield_per=500)):
        yield {"issue_id": i.id, "title": i.title, "category": i.category, "status": i.status,
               "location_name": i.location_name, "latitude": i.latitude, "longitude": i.longitude,
               "skills_wanted": ";".join(i.skills_wanted or []), "support_count": i.support_count, "source": i.source,
               "external_id": i.external_id, "created_at": _iso(i.created_at), "updated_at": _iso(i.updated_at)}


def _issues_updated(session: Session, _chain_id: int) -> dt.datetime | None:
    return session.scalar(select(func.max(Issue.updated_at)))


def _event_attendance(session: Session, _chain_id: int) -> Iterator[dict[str, Any]]:
    counts = dict(session.execute(select(Attendance.event_id, func.count()).group_by(Attendance.event_id)).all())
    query = (select(MetaverseEvent, Organisation.name_ja, Organisation.name_en)
             .join(Organisation, Organisation.id == MetaverseEvent.organisation_id).order_by(MetaverseEvent.starts_at))
    for e, org_ja, org_en in session.execute(query):
        count = counts.get(e.id, 0)
        yield {"event_id": e.id, "organisation_ja": org_ja, "organisation_en": org_en, "title_ja": e.title_ja,
               "title_en": e.title_en, "space": e.space, "starts_at": _iso(e.starts_at), "ends_at": _iso(e.ends_at),
               "attendance": _suppress(count), "suppressed": count < SUPPRESS_BELOW,
               "proposal_id": str(e.proposal_id) if e.proposal_id is not None else None}


def _events_updated(session: Session, _chain_id: int) -> dt.datetime | None:
    times = [session.scalar(select(func.max(Attendance.recorded_at))),
             session.scalar(select(func.max(MetaverseEvent.updated_at)))]
    times = [t for t in times if t is not None]
    return max(times) if times else None


_P = Column("proposal_id", "提案ID", "Proposal ID", "on-chain proposal id (uint256, decimal)")

DATASETS: dict[str, Dataset] = {d.id: d for d in (
    Dataset("proposals", "提案一覧", "Proposals", "Every proposal submitted to the DAO, with its overall tally.", (
        _P,
        Column("category", "区分", "Category", "culture or town-planning (town planning also needs a resident majority)"),
        Column("title_ja", "件名（日本語）", "Title (Japanese)", "title of the proposal document"),
        Column("title_en", "件名（英語）", "Title (English)", "title of the proposal document"),
        Column("lifecycle", "段階", "Lifecycle", "created, queued, executed or canceled, as recorded on chain"),
        Column("voting_starts_at", "投票開始日時", "Voting starts", "the snapshot: members then may vote (ISO 8601)",
               "datetime"),
        Column("voting_ends_at", "投票締切日時", "Voting ends", "last moment a ballot counts (ISO 8601)", "datetime"),
        Column("for_votes", "賛成", "For", "votes for", "integer"),
        Column("against_votes", "反対", "Against", "votes against", "integer"),
        Column("abstain_votes", "棄権", "Abstain", "abstentions", "integer"),
        Column("document_uri", "提案書URI", "Document URI", "ipfs:// URI of the proposal document (empty when this "
               "service did not draft the proposal with it)"),
        Column("document_hash", "提案書ハッシュ", "Document hash", "keccak-256 of the document"),
        Column("block_number", "提出ブロック", "Block", "block of submission", "integer"),
        Column("tx_hash", "トランザクション", "Transaction", "transaction of submission"),
    ), _proposals, _chain_updated),
    Dataset("results-by-segment", "区分別投票結果", "Results by segment",
            f"Votes per proposal and segment. Segments with fewer than {SUPPRESS_BELOW} votes are suppressed.", (
        _P,
        Column("segment", "区分", "Segment", "resident, relationship-population or organisation"),
        Column("total_votes", "投票数", "Votes", f"votes cast in the segment (empty when below {SUPPRESS_BELOW})", "integer"),
        Column("for_votes", "賛成", "For", "empty when suppressed", "integer"),
        Column("against_votes", "反対", "Against", "empty when suppressed", "integer"),
        Column("abstain_votes", "棄権", "Abstain", "empty when suppressed", "integer"),
        Column("suppressed", "秘匿", "Suppressed", "true when counts are withheld to protect voters", "boolean"),
    ), _results_by_segment, _chain_updated),
    Dataset("outcomes", "結果報告", "Outcomes", "Every outcome version the city published for a proposal.", (
        _P,
        Column("version", "版", "Version", "0 for the first publication, then 1, 2, ...", "integer"),
        Column("status", "状況", "Status", "adopted, rejected, in-progress, implemented or abandoned"),
        Column("report_uri", "報告書URI", "Report URI", "ipfs:// URI of the report"),
        Column("content_hash", "報告書ハッシュ", "Report hash", "keccak-256 of the report"),
        Column("block_number", "ブロック", "Block", "block of publication", "integer"),
        Column("tx_hash", "トランザクション", "Transaction", "transaction of publication"),
    ), _outcomes, _chain_updated),
    Dataset("issues", "地域課題", "Local issues", "Issues posted on or imported into the citizens' board.", (
        Column("issue_id", "課題ID", "Issue ID", "id on this board", "integer"),
        Column("title", "件名", "Title", "title"),
        Column("category", "分野", "Category", "culture, town-planning, tourism, ..."),
        Column("status", "状態", "Status", "open, in-progress, resolved or closed"),
        Column("location_name", "場所", "Location", "place name, if given"),
        Column("latitude", "緯度", "Latitude", "WGS 84", "number"),
        Column("longitude", "経度", "Longitude", "WGS 84", "number"),
        Column("skills_wanted", "求めるスキル", "Skills wanted", "separated by ;"),
        Column("support_count", "賛同数", "Supports", "members supporting the issue", "integer"),
        Column("source", "出典", "Source", "kanazawa-dao or the external board it was imported from"),
        Column("external_id", "外部ID", "External ID", "id on the external board"),
        Column("created_at", "作成日時", "Created", "ISO 8601", "datetime"),
        Column("updated_at", "更新日時", "Updated", "ISO 8601", "datetime"),
    ), _issues, _issues_updated),
    Dataset("event-attendance", "イベント参加者数", "Event attendance",
            f"Attendance counts of metaverse events. Counts below {SUPPRESS_BELOW} are suppressed.", (
        Column("event_id", "イベントID", "Event ID", "id", "integer"),
        Column("organisation_ja", "主催団体", "Organiser (Japanese)", "organisation name"),
        Column("organisation_en", "主催団体（英語）", "Organiser (English)", "organisation name"),
        Column("title_ja", "イベント名", "Title (Japanese)", "title"),
        Column("title_en", "イベント名（英語）", "Title (English)", "title"),
        Column("space", "会場", "Space", "metaverse platform and space"),
        Column("starts_at", "開始日時", "Starts", "ISO 8601", "datetime"),
        Column("ends_at", "終了日時", "Ends", "ISO 8601", "datetime"),
        Column("attendance", "参加者数", "Attendance", f"empty when below {SUPPRESS_BELOW}", "integer"),
        Column("suppressed", "秘匿", "Suppressed", "true when the count is withheld", "boolean"),
        Column("proposal_id", "関連提案ID", "Related proposal", "the proposal the event discussed, if any"),
    ), _event_attendance, _events_updated),
)}


# ---------------------------------------------------------------------- output


class ColumnInfo(BaseModel):
    key: str
    ja: str
    en: str
    type: str
    description: str


class DatasetInfo(BaseModel):
    id: str
    title_ja: str
    title_en: str
    description: str
    licence: dict[str, str]
    updated_at: str | None
    formats: dict[str, str]
    columns: list[ColumnInfo]


class DatasetRows(BaseModel):
    dataset: str
    licence: dict[str, str]
    updated_at: str | None
    rows: list[dict[str, Any]]


def _dataset(dataset_id: str) -> Dataset:
    dataset = DATASETS.get(dataset_id)
    if dataset is None:
        raise NotFound(f"no dataset {dataset_id!r}; datasets: {', '.join(DATASETS)}")
    return dataset


def index(services: Services, *, base_url: str) -> list[DatasetInfo]:
    """The datasets; links start with `base_url` (the configured public URL, or "" for links relative to the site:
    never the request's Host header, which the client chooses)."""
    chain_id = services.chain_id
    with services.session() as session:
        return [DatasetInfo(
            id=d.id, title_ja=d.title_ja, title_en=d.title_en, description=f"{d.description} {CSV_NOTE}",
            licence=LICENCE, updated_at=_iso(d.updated(session, chain_id)),
            formats={"csv": f"{base_url}/open-data/{d.id}.csv", "json": f"{base_url}/open-data/{d.id}.json"},
            columns=[ColumnInfo(key=c.key, ja=c.ja, en=c.en, type=c.type, description=c.description)
                     for c in d.columns],
        ) for d in DATASETS.values()]


def rows(services: Services, *, dataset_id: str) -> list[dict[str, Any]]:
    dataset = _dataset(dataset_id)
    with services.session() as session:
        return list(dataset.rows(session, services.chain_id))


def as_json(services: Services, *, dataset_id: str) -> DatasetRows:
    dataset = _dataset(dataset_id)
    with services.session() as session:
        updated = dataset.updated(session, services.chain_id)
    return DatasetRows(dataset=dataset.id, licence=LICENCE, updated_at=_iso(updated),
                       rows=rows(services, dataset_id=dataset_id))


def as_csv(services: Services, *, dataset_id: str, lang: str) -> Iterator[str]:
    """CSV text in chunks: one header row (Japanese or English names), then the rows. Booleans are true/false,
    missing and suppressed values are empty."""
    if lang not in ("ja", "en"):
        raise InvalidInput("lang must be ja or en")
    dataset = _dataset(dataset_id)
    data = rows(services, dataset_id=dataset_id)

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([c.ja if lang == "ja" else c.en for c in dataset.columns])
        for n, row in enumerate(data, 1):
            writer.writerow([_cell(row.get(c.key)) for c in dataset.columns])
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return generate()


#: What a spreadsheet takes for the start of a formula (OWASP "CSV injection"): a text cell beginning with one of
#: these is written with a leading apostrophe, which spreadsheets show as text and do not run.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_NOTE = ("In the CSV, a text cell that begins with =, +, -, @, a tab or a carriage return is written with a "
            "leading apostrophe (') so that spreadsheets show it as text instead of running it as a formula; the "
            "JSON gives every value as it is.")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)  # numbers (a negative one included) are data, not formulas
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
