"""/events: metaverse events of organisations. Public reads show counts only, never who attended; attendance
arrives from the platform's signed webhook or the attendee's signed check-in; each attendee sees their own
attendance and badge; attendance badges are minted after the event (by the worker, or now by the organisation)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from backend.services import metaverse_events
from backend.services.metaverse_events import (
    AttendanceView,
    CheckInResult,
    CreatedEvent,
    EventPage,
    EventView,
    WebhookResult,
)
from frontend_api.deps import PrincipalDep, ServicesDep
from frontend_api.routes import MAX_PAGE, MAX_ROW_ID
from frontend_api.schemas import ADDRESS_PATTERN, Address, Hex, JobOut, Uint256Str

router = APIRouter(prefix="/events", tags=["events"])
EventId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the event's id")]


class EventIn(BaseModel):
    title_ja: str = Field(min_length=1, max_length=200, examples=["鼓門デジタル能楽の夕べ"])
    title_en: str = Field(min_length=1, max_length=200, examples=["Digital Noh evening at the Tsuzumi-mon gate"])
    description: str = Field(default="", max_length=5000)
    space: str = Field(min_length=1, max_length=300, description="the platform and the space (name or URL)",
                       examples=["Kanazawa Metaverse: Tsuzumi-mon gate plaza"])
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description="after starts_at, at most 7 days later")
    badge_type_id: int = Field(ge=1, le=2**63 - 1, description="an attendance badge type of the organisation (as indexed)")
    proposal_id: Uint256Str | None = Field(default=None, description="the proposal the event discusses (uint256, decimal)")


WEBHOOK_BODY = {
    "type": "object", "required": ["attendees"],
    "properties": {"attendees": {"type": "array", "maxItems": metaverse_events.MAX_WEBHOOK_ATTENDEES, "items": {
        "type": "object", "required": ["address", "attended_at"],
        "properties": {"address": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
                       "attended_at": {"type": "string", "format": "date-time"}}}}},
}


class CheckInIn(BaseModel):
    attendee: str = Address
    code: str = Field(min_length=1, max_length=32)
    timestamp: int = Field(ge=0, le=2**63 - 1, description="unix seconds, as signed")
    signature: str = Hex


class MintPlanOut(BaseModel):
    jobs: list[JobOut] = Field(description="every mint job of the event, one per batch of recipients")


@router.post("", status_code=201, response_model=CreatedEvent,
             summary="Create an event of your organisation (the organisation only)")
def create_event(body: EventIn, svc: ServicesDep, who: PrincipalDep) -> CreatedEvent:
    return metaverse_events.create(svc, who, data=metaverse_events.EventIn(
        body.title_ja, body.title_en, body.description, body.space, body.starts_at, body.ends_at, body.badge_type_id,
        None if body.proposal_id is None else int(body.proposal_id)))


@router.get("", response_model=EventPage, summary="Events with their attendance counts")
def list_events(svc: ServicesDep, when: str | None = Query(default=None, pattern="^(upcoming|past)$",
                                                            description="upcoming: not ended yet, soonest first; "
                                                                        "past: latest first"),
                organisation_id: int | None = Query(default=None, ge=1, le=MAX_ROW_ID),
                page: int = Query(default=1, ge=1, le=MAX_PAGE),
                per_page: int = Query(default=20, ge=1, le=100)) -> EventPage:
    return metaverse_events.list_events(svc, when=when, organisation_id=organisation_id, page=page, per_page=per_page)


@router.get("/{event_id}", response_model=EventView, summary="One event with its attendance counts")
def get_event(event_id: EventId, svc: ServicesDep) -> EventView:
    return metaverse_events.get(svc, event_id=event_id)


@router.post("/{event_id}/webhook", response_model=WebhookResult,
             summary="Attendance from the metaverse platform (HMAC-signed)",
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"application/json": {"schema": WEBHOOK_BODY}}}},
             description="Headers: `X-Kanazawa-Timestamp` (unix seconds), `X-Kanazawa-Delivery` (unique per "
                         "delivery, printable ASCII), `X-Kanazawa-Signature: sha256=<hex HMAC-SHA256(webhook secret, "
                         "'<timestamp>.<delivery id>.' + raw body)>`. A stale timestamp or a bad signature is 401, "
                         "a malformed header 400, a delivery id seen before is 409 `replayed`.")
async def webhook(event_id: EventId, request: Request, svc: ServicesDep,
                  x_kanazawa_timestamp: str | None = Header(default=None),
                  x_kanazawa_signature: str | None = Header(default=None),
                  x_kanazawa_delivery: str | None = Header(default=None)) -> WebhookResult:
    body = await request.body()  # the signature covers the exact bytes
    return await run_in_threadpool(metaverse_events.record_webhook, svc, event_id=event_id, timestamp=x_kanazawa_timestamp,
                                   signature=x_kanazawa_signature, delivery_id=x_kanazawa_delivery, body=body)


@router.get("/{event_id}/check-in-typed-data", summary="The EIP-712 check-in to sign, stamped now")
def get_check_in_typed_data(event_id: EventId, svc: ServicesDep, attendee: str = Query(pattern=ADDRESS_PATTERN),
                            code: str = Query(min_length=1, max_length=32)) -> dict[str, Any]:
    return metaverse_events.check_in_typed_data(svc, event_id=event_id, attendee=attendee, code=code)


@router.post("/{event_id}/check-ins", status_code=201, response_model=CheckInResult,
             summary="Check in with the event's code, signed by the attendee (no sign-in needed)",
             responses={200: {"model": CheckInResult, "description": "the attendee was already recorded"}})
def post_check_in(event_id: EventId, body: CheckInIn, response: Response, svc: ServicesDep) -> CheckInResult:
    result = metaverse_events.check_in(svc, event_id=event_id, attendee=body.attendee, code=body.code,
                                       timestamp=body.timestamp, signature=body.signature)
    if result.duplicate:
        response.status_code = 200
    return result


@router.get("/{event_id}/attendance/me", response_model=AttendanceView,
            summary="Your own attendance and badge (signed in)")
def get_my_attendance(event_id: EventId, svc: ServicesDep, who: PrincipalDep) -> AttendanceView:
    return metaverse_events.my_attendance(svc, who, event_id=event_id)


@router.post("/{event_id}/mint-badges", status_code=202, response_model=MintPlanOut,
             summary="Plan the attendance badges of your ended event now, retrying failed batches (the organisation)")
def mint_badges(event_id: EventId, svc: ServicesDep, who: PrincipalDep) -> MintPlanOut:
    return MintPlanOut(jobs=[JobOut.of(j) for j in metaverse_events.mint_badges_now(svc, who, event_id=event_id)])
