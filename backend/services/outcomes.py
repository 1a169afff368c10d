"""Outcomes: the city publishes what became of a proposal (adopted, rejected, in progress, implemented,
abandoned) with a report document pinned to IPFS, through a relayed `OutcomeRegistry.publishOutcome` from the
city's key. The registry keeps every version; the public feed reads the indexed `outcome` table."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_utils import keccak
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from backend.domain.vocabulary import JobKind, OutcomeStatus, Role
from backend.errors import KanazawaDaoError
from backend.models.chain import Outcome
from backend.models.proposal_document import ProposalDocument
from backend.services import chain_checks, documents, relay
from backend.services.context import Services
from backend.services.errors import InvalidInput, NotFound
from backend.services.roles import Principal

log = logging.getLogger(__name__)

REPORT_SCHEMA = "kanazawa-dao/outcome-report/v1"


@relay.job_kind
@dataclass(frozen=True)
class PublishOutcomeJob(relay.JobPayload):
    """The city publishes a version of a proposal's outcome (`OutcomeRegistry.publishOutcome`)."""

    kind: ClassVar[JobKind] = JobKind.PUBLISH_OUTCOME
    proposal_id: int
    status: int
    report_uri: str
    content_hash: str

    def to_json(self) -> dict[str, Any]:
        return {"proposal_id": str(self.proposal_id), "status": self.status, "report_uri": self.report_uri,
                "content_hash": self.content_hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PublishOutcomeJob:
        return cls(int(data["proposal_id"]), int(data["status"]), data["report_uri"], data["content_hash"])

    def call(self, services: Services):
        return services.contract("OutcomeRegistry").functions.publishOutcome(
            self.proposal_id, self.status, self.report_uri, bytes.fromhex(self.content_hash[2:]))


class OutcomeVersion(BaseModel):
    """One published version of a proposal's outcome, as the chain recorded it."""

    proposal_id: str
    version: int = Field(description="0 for the first publication, then 1, 2, ...")
    status: str = Field(description="adopted | rejected | in-progress | implemented | abandoned")
    report_uri: str
    content_hash: str
    publisher: str
    block_number: int
    tx_hash: str


class PublishedOutcome(OutcomeVersion):
    """An outcome version with the titles of its proposal (when this service drafted it)."""

    title_ja: str | None
    title_en: str | None


class OutcomePage(BaseModel):
    items: list[PublishedOutcome]
    total: int
    page: int
    per_page: int


class ContentCheck(BaseModel):
    """Pinned content compared with the hash the chain recorded for it (`verify_content`)."""

    status: str = Field(description="verified | mismatch | unavailable")
    uri: str | None
    content_hash: str | None
    computed_hash: str | None = Field(description="keccak-256 of the bytes read (null when none were read)")
    detail: str = Field(description="why, in English")
    document: dict[str, Any] | None = Field(default=None, description="the parsed JSON, when the bytes are JSON")


class OutcomeReport(PublishedOutcome):
    verification: ContentCheck


def outcome_view(o: Outcome) -> OutcomeVersion:
    return OutcomeVersion(proposal_id=str(o.proposal_id), version=o.version, status=OutcomeStatus.word_of(o.status),
                          report_uri=o.report_uri, content_hash=o.content_hash, publisher=o.publisher,
                          block_number=o.block_number, tx_hash=o.tx_hash)


def publish(services: Services, who: Principal, *, proposal_id: int, status: str, summary_ja: str, summary_en: str,
            body_ja: str, body_en: str, links: list[str]) -> relay.JobView:
    city = who.require(Role.CITY)
    try:
        number = OutcomeStatus.of_word(status)
    except ValueError as exc:
        raise InvalidInput(f"status: {exc}", field="status") from None
    report = {"schema": REPORT_SCHEMA, "proposal_id": str(proposal_id), "status": status,
              "summary": {"ja": summary_ja, "en": summary_en}, "body": {"ja": body_ja, "en": body_en},
              "links": links, "publisher": city}
    registry = services.contract("OutcomeRegistry")
    with services.transaction() as session:
        cid, content_hash = documents.pin_json(services, session, kind="outcome-report", document=report,
                                               pinned_by=city)
        # Unknown proposal, voting not ended, ...: refused now with the registry's own error.
        chain_checks.would_succeed(services, registry.functions.publishOutcome(
            proposal_id, number, f"ipfs://{cid}", bytes.fromhex(content_hash[2:])), services.keys.city.address)
        count = session.scalar(select(func.count()).select_from(Outcome).where(
            Outcome.chain_id == services.chain_id, Outcome.proposal_id == proposal_id)) or 0
        job, _ = relay.accept(
            session, payload=PublishOutcomeJob(proposal_id, int(number), f"ipfs://{cid}", content_hash),
            dedupe_key=f"publish-outcome:{services.chain_id}:{proposal_id}:{cid}:{count}",
            requested_by=city, signer="city", sender=services.keys.city.address)
        view = relay.JobView.of(job)
    services.dispatch(view.id)
    return view


def feed(services: Services, *, page: int, per_page: int) -> OutcomePage:
    """Every published outcome version, newest first, with the proposal's titles."""
    with services.session() as session:
        base = select(Outcome).where(Outcome.chain_id == services.chain_id)
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = session.scalars(base.order_by(Outcome.block_number.desc(), Outcome.log_index.desc())
                               .offset((page - 1) * per_page).limit(per_page)).all()
        titles = {d.proposal_id: d for d in session.scalars(select(ProposalDocument).where(
            ProposalDocument.proposal_id.in_([o.proposal_id for o in rows])))} if rows else {}
        items = []
        for o in rows:
            doc = titles.get(o.proposal_id)
            items.append(PublishedOutcome(**outcome_view(o).model_dump(), title_ja=doc.title_ja if doc else None,
                                          title_en=doc.title_en if doc else None))
    return {"items": items, "total": total, "page": page, "per_page": per_page}


# ---------------------------------------------------------------------- checking a report against the chain

#: The result of comparing pinned content with the hash the chain recorded for it.
VERIFIED, MISMATCH, UNAVAILABLE = "verified", "mismatch", "unavailable"


def verify_content(services: Services, *, uri: str | None, content_hash: str | None,
                   data: bytes | None = None) -> ContentCheck:
    """Fetch the bytes `uri` (ipfs://<cid>) names from the content store and compare their keccak-256 with
    `content_hash`, the hash the chain recorded (an outcome's content hash, a proposal's document hash).

    `data`: the content's bytes when the caller read them already (verified against the CID), not fetched again.
    Never raises for a missing or bad document: a public page shows why it could not be verified.
    Returns a `ContentCheck`.
    """
    from backend.ipfs.store import ContentIntegrityError, parse_ipfs_uri  # as Services.content: only when used

    result: dict[str, Any] = {"uri": uri, "content_hash": content_hash, "computed_hash": None, "document": None}
    if not uri or not content_hash:
        return ContentCheck(**result, status=UNAVAILABLE, detail="the chain records no content URI or hash for it")
    try:
        cid = parse_ipfs_uri(uri)
        if data is None:
            data = services.content.get(cid)
    except ContentIntegrityError as exc:
        # The store's bytes do not even hash to the CID: whatever they are, they are not the published content.
        # (Its message names CIDs and sizes only: `ipfs.store.verify`.)
        return ContentCheck(**result, status=MISMATCH, detail=str(exc))
    except KanazawaDaoError as exc:  # not there, or the store is away; its message names folders or nodes: logged
        log.warning("content for %s unavailable: %s", uri, exc)
        return ContentCheck(**result, status=UNAVAILABLE,
                            detail=f"the content at {uri} could not be fetched from the content store")
    computed = "0x" + keccak(data).hex()
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    result.update(computed_hash=computed, document=document if isinstance(document, dict) else None)
    if computed.lower() != content_hash.lower():
        return ContentCheck(**result, status=MISMATCH,
                            detail=f"the content at {uri} hashes to {computed}, but the chain records {content_hash}")
    return ContentCheck(**result, status=VERIFIED, detail=f"keccak-256 of the content at {uri} equals the on-chain hash")


def report(services: Services, *, proposal_id: int, version: int) -> OutcomeReport:
    """One published outcome version with the proposal's titles and its report, checked against the chain
    (`verification`, as `verify_content` gives it)."""
    with services.session() as session:
        o = session.scalar(select(Outcome).where(Outcome.chain_id == services.chain_id,
                                                 Outcome.proposal_id == proposal_id, Outcome.version == version))
        if o is None:
            raise NotFound(f"no outcome version {version} for proposal {proposal_id}")
        doc = session.scalar(select(ProposalDocument).where(ProposalDocument.proposal_id == proposal_id))
        item = PublishedOutcome(**outcome_view(o).model_dump(), title_ja=doc.title_ja if doc else None,
                                title_en=doc.title_en if doc else None)
    return OutcomeReport(**item.model_dump(),
                         verification=verify_content(services, uri=item.report_uri, content_hash=item.content_hash))
