"""Metaverse events and their attendance badges.

An organisation creates an event (a space on a metaverse platform, a time window, one of its attendance badge
types). Attendance arrives two ways:

- the platform's webhook, signed with HMAC-SHA256 over `f"{timestamp}.{delivery_id}.".encode() + raw body` with
  the event's webhook secret; a stale timestamp or a delivery id seen before is refused, and the id is signed, so a
  captured delivery cannot be replayed, not even under a new id. Entries outside the event window (with a grace for clock skew) are reported and skipped, the rest kept.
- the attendee's own EIP-712 `CheckIn`, signed with the code announced in the space, during the event. The signature
  authenticates the attendee; a signed check-in (its EIP-712 digest, however it is signed) is used once.

After the event a planning pass (`plan_attendance_badges`, a sweep hook of the worker) splits the attendees who are
members and do not hold the badge yet into relay jobs of `attendance_batch_size` recipients, minted by the
organisation's issuer key. Non-members get no badge (soulbound badges are for members only: the POAP lesson).

Consistency: every writer of an event's attendance (webhook, check-in, planning) starts its transaction by updating
the event row. That serialises them per event on both databases (a row lock on PostgreSQL; on SQLite the database
write lock, taken at the first write because the driver opens its transaction there), so duplicates, replays and
planning are decided on data no concurrent writer can change underneath. Attendance recorded after an event was
planned clears `badges_planned_at` in the same transaction, so the next pass plans it: a late webhook is never lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import is_address, is_checksum_address, to_checksum_address
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from backend.domain.vocabulary import BadgeKind, JobKind, JobStatus, Role
from backend.models._common import utcnow
from backend.models.chain import BadgeBalance, BadgeType, MembershipCard, Proposal
from backend.models.metaverse_event import Attendance, CheckInUse, MetaverseEvent, WebhookDelivery
from backend.models.organisation import Organisation
from backend.models.proposal_document import ProposalDocument
from backend.models.relay import RelayJob
from backend.services import relay
from backend.services.context import Services
from backend.services.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    InvalidSignature,
    NotAuthenticated,
    NotFound,
    Replayed,
)
from backend.services.roles import Principal

#: Check-in codes are read aloud or shown in a 3D space: no 0/O, 1/I/L look-alikes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_EVENT_LENGTH = dt.timedelta(days=7)
#: Clock skew allowed between the platform and the event window for webhook `attended_at`.
WEBHOOK_GRACE = dt.timedelta(minutes=5)
MAX_WEBHOOK_ATTENDEES = 1000
MAX_DELIVERY_ID = 80
#: A signed check-in is accepted this long after (or before) its `timestamp`.
CHECK_IN_FRESHNESS = 300
NOT_A_MEMBER = "not a member: no badge"
ALREADY_HELD = "already holds this badge"

#: Off-chain message: no verifyingContract in the domain.
CHECK_IN_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
]
CHECK_IN_TYPES = {
    "CheckIn": [
        {"name": "eventId", "type": "uint256"},
        {"name": "code", "type": "string"},
        {"name": "attendee", "type": "address"},
        {"name": "timestamp", "type": "uint256"},
    ]
}


@relay.job_kind
@dataclass(frozen=True)
class MintBadgesJob(relay.JobPayload):
    """One batch of an event's attendance badges, minted by the organisation's issuer key (`CommunityBadges.mint`)."""

    kind: ClassVar[JobKind] = JobKind.MINT_BADGES
    badge_type_id: int
    recipients: list[str]
    event_id: int

    def to_json(self) -> dict[str, Any]:
        return {"badge_type_id": self.badge_type_id, "recipients": list(self.recipients), "event_id": self.event_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MintBadgesJob:
        return cls(int(data["badge_type_id"]), list(data["recipients"]), int(data["event_id"]))

    def call(self, services: Services):
        return services.contract("CommunityBadges").functions.mint(self.badge_type_id, self.recipients)


class WebhookNotAuthentic(NotAuthenticated):
    slug, title = "webhook-not-authentic", "The webhook is not authentic"


@dataclass(frozen=True)
class EventIn:
    title_ja: str
    title_en: str
    description: str
    space: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    badge_type_id: int
    proposal_id: int | None



# ---------------------------------------------------------------------- what the service answers with


class EventView(BaseModel):
    id: int
    organisation_id: int
    title_ja: str
    title_en: str
    description: str
    space: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    state: str = Field(description="upcoming | ongoing | ended")
    badge_type_id: int
    proposal_id: str | None
    attendance_count: int
    badges_minted: int
    created_at: dt.datetime


class CreatedEvent(EventView):
    checkin_code: str = Field(description="announce it in the space; shown once (only its hash is kept)")
    webhook_secret: str = Field(description="give it to the platform to sign attendance webhooks; shown once")


class EventPage(BaseModel):
    items: list[EventView]
    total: int
    page: int
    per_page: int


class WebhookRejection(BaseModel):
    index: int
    error: str


class WebhookResult(BaseModel):
    recorded: int
    duplicates: int = Field(description="attendees already recorded, or listed twice")
    rejected: list[WebhookRejection] = Field(description="entries skipped (malformed, outside the event window)")


class CheckInResult(BaseModel):
    event_id: int
    attendee: str
    source: str = Field(description="webhook | check-in: how the attendance was first recorded")
    attended_at: dt.datetime
    duplicate: bool = Field(description="the attendee was already recorded; nothing new was written")


class BadgeStatus(BaseModel):
    status: str = Field(description="pending | minted | failed | not-a-member | already-held")
    job_id: str | None
    tx_hash: str | None
    note: str | None


class AttendanceView(BaseModel):
    event_id: int
    badge_type_id: int
    attendee: str
    source: str
    attended_at: dt.datetime
    recorded_at: dt.datetime
    badge: BadgeStatus


def _code_hash(code: str) -> str:
    """SHA-256 of the code as announced; what a person types for "K7MQ2XPA" may have any case, spaces, a hyphen."""
    return hashlib.sha256(code.strip().upper().replace("-", "").replace(" ", "").encode()).hexdigest()


def _state(event: MetaverseEvent, now: dt.datetime) -> str:
    if now < event.starts_at:
        return "upcoming"
    return "ongoing" if now <= event.ends_at else "ended"


def _event(session: Session, event_id: int) -> MetaverseEvent:
    event = session.get(MetaverseEvent, event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    return event


def _lock(session: Session, event_id: int) -> MetaverseEvent:
    """Start a transaction on an event's attendance with a write to its row (see the module docstring)."""
    if session.execute(update(MetaverseEvent).where(MetaverseEvent.id == event_id)
                       .values(updated_at=utcnow())).rowcount == 0:
        raise NotFound(f"no event {event_id}")
    return session.get(MetaverseEvent, event_id, populate_existing=True)


def _counts(session: Session, event_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(attendance, badges minted) per event."""
    if not event_ids:
        return {}
    attended = dict(session.execute(select(Attendance.event_id, func.count()).where(
        Attendance.event_id.in_(event_ids)).group_by(Attendance.event_id)).all())
    minted = dict(session.execute(select(Attendance.event_id, func.count())
                                  .join(RelayJob, RelayJob.id == Attendance.mint_job_id)
                                  .where(Attendance.event_id.in_(event_ids), RelayJob.status == "confirmed")
                                  .group_by(Attendance.event_id)).all())
    return {i: (attended.get(i, 0), minted.get(i, 0)) for i in event_ids}


def _view(event: MetaverseEvent, counts: tuple[int, int], now: dt.datetime) -> EventView:
    return EventView(**{"id": event.id, "organisation_id": event.organisation_id, "title_ja": event.title_ja,
            "title_en": event.title_en, "description": event.description, "space": event.space,
            "starts_at": event.starts_at, "ends_at": event.ends_at, "state": _state(event, now),
            "badge_type_id": event.badge_type_id,
            "proposal_id": None if event.proposal_id is None else str(event.proposal_id),
            "attendance_count": counts[0], "badges_minted": counts[1], "created_at": event.created_at})


# ---------------------------------------------------------------------- events


def _proposal_known(session: Session, chain_id: int, proposal_id: int) -> bool:
    """Indexed, or drafted here and not indexed yet."""
    return session.get(Proposal, (chain_id, proposal_id)) is not None or session.scalar(
        select(ProposalDocument.id).where(ProposalDocument.proposal_id == proposal_id)) is not None


def create(services: Services, who: Principal, *, data: EventIn) -> CreatedEvent:
    """Create an event of the signed-in organisation. The check-in code and the webhook secret are in the answer
    and nowhere else: only the code's hash is kept, and the secret is never shown again."""
    who.require(Role.ORGANISATION)
    starts_at, ends_at = data.starts_at, data.ends_at
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("starts_at and ends_at must carry a time zone (e.g. 2026-05-01T19:00:00+09:00)")
    starts_at, ends_at = starts_at.astimezone(dt.timezone.utc), ends_at.astimezone(dt.timezone.utc)
    if ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at")
    if ends_at - starts_at > MAX_EVENT_LENGTH:
        raise InvalidInput(f"an event lasts at most {MAX_EVENT_LENGTH.days} days")
    chain_id = services.chain_id
    code, secret = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)), secrets.token_hex(32)
    with services.transaction() as session:
        org = session.get(Organisation, who.organisation_id)
        badge_type = session.get(BadgeType, (chain_id, data.badge_type_id))
        if badge_type is None or badge_type.issuer != org.issuer_address:
            raise InvalidInput(f"badge type {data.badge_type_id} is not a badge type of {org.name_en} as indexed "
                               "(a badge type just created appears once its job is confirmed and indexed)")
        if badge_type.kind != BadgeKind.ATTENDANCE:
            raise InvalidInput(f"badge type {data.badge_type_id} is not an attendance badge type")
        if data.proposal_id is not None and not _proposal_known(session, chain_id, data.proposal_id):
            raise InvalidInput(f"no proposal {data.proposal_id}")
        event = MetaverseEvent(organisation_id=org.id, title_ja=data.title_ja, title_en=data.title_en,
                               description=data.description, space=data.space, starts_at=starts_at, ends_at=ends_at,
                               proposal_id=data.proposal_id, badge_type_id=data.badge_type_id,
                               checkin_code_hash=_code_hash(code), webhook_secret=secret)
        session.add(event)
        session.flush()
        view = _view(event, (0, 0), utcnow())
    return CreatedEvent(**view.model_dump(), checkin_code=code, webhook_secret=secret)


def list_events(services: Services, *, when: str | None, organisation_id: int | None, page: int,
                per_page: int) -> dict[str, Any]:
    """Upcoming (not ended yet, soonest first), past (latest first) or all (latest start first)."""
    now = utcnow()
    query = select(MetaverseEvent)
    if organisation_id is not None:
        query = query.where(MetaverseEvent.organisation_id == organisation_id)
    if when == "upcoming":
        query = query.where(MetaverseEvent.ends_at >= now).order_by(MetaverseEvent.starts_at, MetaverseEvent.id)
    elif when == "past":
        query = query.where(MetaverseEvent.ends_at < now).order_by(MetaverseEvent.ends_at.desc(),
                                                                   MetaverseEvent.id.desc())
    elif when is None:
        query = query.order_by(MetaverseEvent.starts_at.desc(), MetaverseEvent.id.desc())
    else:
        raise InvalidInput("when must be upcoming or past")
    with services.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.offset((page - 1) * per_page).limit(per_page)).all()
        counts = _counts(session, [e.id for e in rows])
        items = [_view(e, counts[e.id], now) for e in rows]
    return EventPage(items=items, total=total, page=page, per_page=per_page)


def get(services: Services, *, event_id: int) -> EventView:
    with services.session() as session:
        event = _event(session, event_id)
        return _view(event, _counts(session, [event_id])[event_id], utcnow())


# ---------------------------------------------------------------------- attendance


def _record(session: Session, event: MetaverseEvent, attended: dict[str, dt.datetime], source: str) -> int:
    """Record whoever is not recorded yet (call under `_lock`). Returns how many were new."""
    known = set(session.scalars(select(Attendance.attendee).where(
        Attendance.event_id == event.id, Attendance.attendee.in_(list(attended)))))
    new = [Attendance(event_id=event.id, attendee=a, source=source, attended_at=t.astimezone(dt.timezone.utc))
           for a, t in attended.items() if a not in known]
    session.add_all(new)
    if new and event.badges_planned_at is not None:
        event.badges_planned_at = None  # late attendance: the next planning pass picks it up
    return len(new)


_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses
_DELIVERY_ID = re.compile(r"[\x21-\x7e]{1,%d}" % MAX_DELIVERY_ID)  # printable ASCII, no spaces


def webhook_signature(secret: str, timestamp: str, delivery_id: str, body: bytes) -> str:
    """The platform's signature of a delivery: hex HMAC-SHA256 with the event's secret over
    `<timestamp>.<delivery id>.` + the raw body. The delivery id is covered, so a captured delivery cannot be sent
    again under a fresh id."""
    return hmac.new(secret.encode(), f"{timestamp}.{delivery_id}.".encode() + body, hashlib.sha256).hexdigest()


def _authenticate_webhook(secret: str, timestamp: str | None, delivery_id: str | None, signature: str | None,
                          body: bytes, *, tolerance: int) -> None:
    if not timestamp or not signature or not delivery_id:
        raise WebhookNotAuthentic("X-Kanazawa-Timestamp, X-Kanazawa-Delivery and X-Kanazawa-Signature headers are "
                                  "required")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise BadRequest("X-Kanazawa-Timestamp must be unix seconds in ASCII digits")
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise BadRequest(f"X-Kanazawa-Delivery must be 1 to {MAX_DELIVERY_ID} printable ASCII characters without "
                         "spaces, unique per delivery")
    expected = webhook_signature(secret, timestamp, delivery_id, body)
    given = signature.strip().lower().removeprefix("sha256=")
    if not hmac.compare_digest(expected.encode(), given.encode("ascii", "replace")):
        raise WebhookNotAuthentic("the signature does not match: expected sha256=<hex HMAC-SHA256 with the event's "
                                  "webhook secret over '<timestamp>.<delivery id>.' + the raw body>")
    if abs(utcnow().timestamp() - int(timestamp)) > tolerance:
        raise WebhookNotAuthentic(f"the timestamp {timestamp} is not within {tolerance} s of the server's clock: "
                                  "sign each delivery (and each retry) with the current time")


def _attendees(body: bytes, starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime
               ) -> tuple[dict[str, dt.datetime], int, list[dict[str, Any]]]:
    """The valid entries of a delivery (first time per attendee), the number of repeats, and the rejected entries."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput('the body must be JSON: {"attendees": [{"address": ..., "attended_at": ...}]}') from None
    entries = document.get("attendees") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InvalidInput("the body must be a JSON object with a list `attendees`")
    if len(entries) > MAX_WEBHOOK_ATTENDEES:
        raise InvalidInput(f"at most {MAX_WEBHOOK_ATTENDEES} attendees per delivery ({len(entries)} sent): split it")
    earliest, latest = starts_at - WEBHOOK_GRACE, min(ends_at, now) + WEBHOOK_GRACE
    attended: dict[str, dt.datetime] = {}
    repeats, rejected = 0, []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            rejected.append({"index": index, "error": "each attendee must be an object {address, attended_at}"})
            continue
        address = entry.get("address")
        if not isinstance(address, str) or not is_address(address):
            rejected.append({"index": index, "error": "address must be a 0x-prefixed 20-byte hex address"})
            continue
        try:
            at = dt.datetime.fromisoformat(entry.get("attended_at"))
        except (TypeError, ValueError):
            rejected.append({"index": index, "error": "attended_at must be an ISO-8601 date-time"})
            continue
        if at.tzinfo is None:
            rejected.append({"index": index, "error": "attended_at must carry a time zone"})
            continue
        if not earliest <= at <= latest:
            rejected.append({"index": index, "error": f"attended_at {at.isoformat()} is outside the event window "
                                                      f"({starts_at.isoformat()} to {ends_at.isoformat()})"})
            continue
        address = to_checksum_address(address)
        if address in attended:
            repeats += 1
        else:
            attended[address] = at
    return attended, repeats, rejected


def record_webhook(services: Services, *, event_id: int, timestamp: str | None, signature: str | None,
                   delivery_id: str | None, body: bytes) -> dict[str, Any]:
    """Record the attendance a platform delivery reports. The delivery id is kept in the same transaction as the
    attendance, so a delivery that failed can be sent again with the same id, and one that succeeded cannot."""
    with services.session() as session:
        event = _event(session, event_id)
        secret, starts_at, ends_at = event.webhook_secret, event.starts_at, event.ends_at
    _authenticate_webhook(secret, timestamp, delivery_id, signature, body,
                          tolerance=services.settings.webhook_tolerance)
    attended, repeats, rejected = _attendees(body, starts_at, ends_at, utcnow())
    # Delivery ids are the platform's; scoped by event so one organisation's ids never block another's.
    key = f"{event_id}:{delivery_id}"
    with services.transaction() as session:
        event = _lock(session, event_id)
        if session.get(WebhookDelivery, key) is not None:
            raise Replayed(f"delivery {delivery_id!r} was already received for event {event_id}")
        session.add(WebhookDelivery(delivery_id=key, event_id=event_id))
        recorded = _record(session, event, attended, "webhook") if attended else 0
    return WebhookResult(recorded=recorded, duplicates=repeats + len(attended) - recorded, rejected=rejected)


def _check_in_data(services: Services, message: dict[str, Any]) -> dict[str, Any]:
    return {"types": {"EIP712Domain": CHECK_IN_DOMAIN_TYPE, **CHECK_IN_TYPES}, "primaryType": "CheckIn",
            "domain": {"name": "Kanazawa DAO", "version": "1", "chainId": services.chain_id}, "message": message}


def check_in_typed_data(services: Services, *, event_id: int, attendee: str, code: str) -> dict[str, Any]:
    """The `CheckIn` to sign, stamped now. The code is not checked here (that would let anyone test codes
    without signing anything)."""
    if not is_checksum_address(attendee):
        raise InvalidInput("attendee must be an EIP-55 checksummed address")
    with services.session() as session:
        _event(session, event_id)
    return _check_in_data(services, {"eventId": event_id, "code": code, "attendee": attendee,
                                     "timestamp": int(utcnow().timestamp())})


def check_in(services: Services, *, event_id: int, attendee: str, code: str, timestamp: int,
             signature: str) -> dict[str, Any]:
    """Record the attendee's own signed check-in. Returns the attendance with `duplicate` true when the attendee was
    already recorded (nothing new is written but the signature, which can never be used again)."""
    if not is_checksum_address(attendee):
        raise InvalidInput("attendee must be an EIP-55 checksummed address")
    full = _check_in_data(services, {"eventId": event_id, "code": code, "attendee": attendee, "timestamp": timestamp})
    try:
        signable = encode_typed_data(full_message=full)
        signer = Account.recover_message(signable, signature=signature)
    except Exception:  # noqa: BLE001 - malformed signatures raise several kinds
        raise InvalidSignature("the signature is malformed (65 bytes r, s, v expected)", field="signature") from None
    # What was signed, not how: the malleated twin of a signature (or v spelled 0/1) is the same check-in.
    digest = "0x" + _hash_eip191_message(signable).hex()
    if signer != attendee:
        raise InvalidSignature(f"the check-in is signed by {signer}, not by the attendee {attendee}")
    now = utcnow()
    if abs(now.timestamp() - timestamp) > CHECK_IN_FRESHNESS:
        raise InvalidInput(f"the check-in was signed for {timestamp}, more than {CHECK_IN_FRESHNESS} s from now: "
                           "sign a fresh one (GET /events/{id}/check-in-typed-data)")
    with services.transaction() as session:
        event = _lock(session, event_id)
        starts_at, ends_at = event.starts_at, event.ends_at
        if not starts_at <= now <= ends_at:
            raise Conflict(f"outside the event window: check-ins are accepted from {starts_at.isoformat()} to "
                           f"{ends_at.isoformat()}", starts_at=starts_at.isoformat(), ends_at=ends_at.isoformat())
        if not hmac.compare_digest(_code_hash(code), event.checkin_code_hash):
            raise InvalidInput("the check-in code is not this event's code (it is announced in the event's space)")
        if session.get(CheckInUse, digest) is not None:
            raise Replayed("this signed check-in was already used; a check-in is signed once")
        session.add(CheckInUse(digest=digest, event_id=event_id, attendee=attendee))
        recorded = _record(session, event, {attendee: now}, "check-in")
        attendance = session.get(Attendance, (event_id, attendee))
        return CheckInResult(event_id=event_id, attendee=attendee, source=attendance.source,
                             attended_at=attendance.attended_at, duplicate=recorded == 0)


def my_attendance(services: Services, who: Principal, *, event_id: int) -> AttendanceView:
    """The signed-in caller's own attendance, with the state of their badge."""
    address = who.require_signed_in()
    with services.session() as session:
        event = _event(session, event_id)
        attendance = session.get(Attendance, (event_id, address))
        if attendance is None:
            raise NotFound(f"{address} has no attendance recorded for event {event_id}")
        job = session.get(RelayJob, attendance.mint_job_id) if attendance.mint_job_id else None
        badge = {"status": "pending", "job_id": job.id if job else None, "tx_hash": None,
                 "note": attendance.badge_note}
        if attendance.badge_note == NOT_A_MEMBER:
            badge["status"] = "not-a-member"
        elif attendance.badge_note == ALREADY_HELD:
            badge["status"] = "already-held"
        elif job is not None and job.status in (JobStatus.INCLUDED.value, JobStatus.CONFIRMED.value):  # on chain (included: not final yet)
            badge.update(status="minted", tx_hash=job.tx_hash)
        elif job is not None and job.status == JobStatus.FAILED.value:
            badge.update(status="failed", note=job.error)
        elif job is None:
            badge["note"] = "badges are minted after the event ends"
        return AttendanceView(event_id=event_id, badge_type_id=event.badge_type_id, attendee=address,
                              source=attendance.source, attended_at=attendance.attended_at,
                              recorded_at=attendance.recorded_at, badge=BadgeStatus(**badge))


# ---------------------------------------------------------------------- badges


def _mint_job_ids(event_id: int):
    return select(Attendance.mint_job_id).where(Attendance.event_id == event_id, Attendance.mint_job_id.is_not(None))


def _plan(services: Services, event_id: int, *, requested_by: str | None = None,
          retry_failed: bool = False) -> list[str]:
    """Plan the badges of one ended event's unplanned attendees into mint jobs. Returns the new jobs' ids."""
    chain_id, batch_size, now = services.chain_id, services.settings.attendance_batch_size, utcnow()
    new_jobs: list[str] = []
    with services.transaction() as session:
        event = _lock(session, event_id)
        if event.ends_at > now:
            return []
        if retry_failed:
            failed = list(session.scalars(select(RelayJob.id).where(RelayJob.id.in_(_mint_job_ids(event_id)),
                                                                    RelayJob.status == JobStatus.FAILED.value)))
            if failed:
                session.execute(update(Attendance).where(Attendance.event_id == event_id,
                                                         Attendance.mint_job_id.in_(failed)).values(mint_job_id=None))
        waiting = select(Attendance.attendee).where(Attendance.event_id == event_id,
                                                    Attendance.mint_job_id.is_(None), Attendance.badge_note.is_(None))
        attendees = list(session.scalars(waiting.order_by(Attendance.recorded_at, Attendance.attendee)))
        members = set(session.scalars(select(MembershipCard.member).where(
            MembershipCard.chain_id == chain_id, MembershipCard.active.is_(True), MembershipCard.member.in_(waiting))))
        # Holders as indexed, and recipients of this badge type's mints not indexed yet (another event's batch in
        # flight): a second copy would refuse the whole batch (CommunityBadgesAlreadyHeld).
        held = set(session.scalars(select(BadgeBalance.holder).where(
            BadgeBalance.chain_id == chain_id, BadgeBalance.badge_type_id == event.badge_type_id,
            BadgeBalance.balance > 0, BadgeBalance.holder.in_(waiting))))
        minted = aliased(Attendance)
        held |= set(session.scalars(
            select(minted.attendee).join(MetaverseEvent, MetaverseEvent.id == minted.event_id)
            .join(RelayJob, RelayJob.id == minted.mint_job_id)
            .where(MetaverseEvent.badge_type_id == event.badge_type_id, minted.attendee.in_(waiting),
                   RelayJob.status != JobStatus.FAILED.value)))
        for note, who in ((NOT_A_MEMBER, [a for a in attendees if a not in members]),
                          (ALREADY_HELD, [a for a in attendees if a in members and a in held])):
            if who:
                session.execute(update(Attendance).where(Attendance.event_id == event_id,
                                                         Attendance.attendee.in_(who)).values(badge_note=note))
        recipients = [a for a in attendees if a in members and a not in held]
        if recipients:
            org = session.get(Organisation, event.organisation_id)
            prefix = f"mint-badges:{chain_id}:{event_id}:"
            # Batch numbers continue after earlier passes (late attendance, retried batches): keys never repeat.
            batch_no = session.scalar(select(func.count()).select_from(RelayJob).where(
                RelayJob.kind == JobKind.MINT_BADGES.value, RelayJob.dedupe_key.startswith(prefix)))
            for start in range(0, len(recipients), batch_size):
                batch = recipients[start:start + batch_size]
                job, _ = relay.accept(
                    session, payload=MintBadgesJob(event.badge_type_id, batch, event_id),
                    dedupe_key=f"{prefix}{batch_no}", requested_by=requested_by or org.issuer_address,
                    signer=f"organisation:{org.id}", sender=org.issuer_address)
                session.execute(update(Attendance).where(Attendance.event_id == event_id,
                                                         Attendance.attendee.in_(batch)).values(mint_job_id=job.id))
                new_jobs.append(job.id)
                batch_no += 1
        event.badges_planned_at = now
    for job_id in new_jobs:
        services.dispatch(job_id)
    return new_jobs


def plan_attendance_badges(services: Services) -> int:
    """The worker's sweep hook: plan every ended event with attendance not planned yet. Idempotent, and safe when
    two sweeps run at once (each event is planned under its row's lock). Returns the number of new mint jobs."""
    with services.session() as session:
        event_ids = list(session.scalars(select(MetaverseEvent.id).where(
            MetaverseEvent.ends_at <= utcnow(), MetaverseEvent.badges_planned_at.is_(None))
            .order_by(MetaverseEvent.ends_at)))
    return sum(len(_plan(services, event_id)) for event_id in event_ids)


def mint_badges_now(services: Services, who: Principal, *, event_id: int) -> list[relay.JobView]:
    """The organisation plans its ended event now instead of waiting for the sweep, and retries batches that failed
    (after fixing the cause, e.g. a revoked issuer role). Returns every mint job of the event."""
    with services.session() as session:
        event = _event(session, event_id)
        address = who.require_organisation(event.organisation_id)
        if event.ends_at > utcnow():
            raise Conflict(f"event {event_id} ends at {event.ends_at.isoformat()}: badges are minted after it")
    _plan(services, event_id, requested_by=address, retry_failed=True)
    with services.session() as session:
        jobs = session.scalars(select(RelayJob).where(RelayJob.id.in_(_mint_job_ids(event_id)))
                               .order_by(RelayJob.created_at, RelayJob.dedupe_key))
        return [relay.JobView.of(j) for j in jobs]
