"""Metaverse events through the real API and worker: an organisation creates an event with one of its attendance
badge types; attendance arrives from the platform's HMAC-signed webhook or the attendee's EIP-712 check-in
(replays, stale signatures, out-of-window entries refused); attendees see their own attendance, the public only
counts; after the event the worker mints the badges to members, in batches, exactly once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from backend.models.relay import RelayJob
from backend.services.metaverse_events import CODE_ALPHABET, plan_attendance_badges
from tests.api.test_organisations import register
from tests.api_stack import problem as _problem
from tests.dao import RESIDENT


@dataclass
class Org:
    id: int
    admin: LocalAccount
    staff: dict[str, str]
    badge_type_id: int
    perk_type_id: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)




def _anonymous(stack):
    """The API client without the session cookie the last sign-in left in it."""
    stack.api.cookies.clear()
    return stack.api


def _badge_type(stack, org_id: int, staff: dict[str, str], kind: str) -> str:
    response = stack.api.post(f"/organisations/{org_id}/badge-types", headers=staff,
                              json={"name": f"Noh evening ({kind})", "description": "鼓門", "kind": kind})
    assert response.status_code == 202, response.text
    return response.json()["id"]


@pytest.fixture(scope="module")
def org(stack) -> Org:
    admin = Account.create()
    registered = register(stack, admin)
    staff = stack.sign_in(admin)
    jobs = [_badge_type(stack, registered["id"], staff, kind) for kind in ("attendance", "perk")]
    attendance, perk = (stack.wait_job(j) for j in jobs)
    assert attendance["status"] == perk["status"] == "confirmed", (attendance, perk)
    stack.index()
    return Org(registered["id"], admin, staff, attendance["result"]["badge_type_id"], perk["result"]["badge_type_id"])


def _event_body(org: Org, starts_at: dt.datetime, ends_at: dt.datetime, **extra) -> dict:
    return {"title_ja": "鼓門デジタル能楽の夕べ", "title_en": "Digital Noh evening", "description": "能楽",
            "space": "Kanazawa Metaverse: Tsuzumi-mon gate plaza", "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(), "badge_type_id": org.badge_type_id, **extra}


def _create_event(stack, org: Org, starts_at: dt.datetime, ends_at: dt.datetime) -> dict:
    response = stack.api.post("/events", headers=org.staff, json=_event_body(org, starts_at, ends_at))
    assert response.status_code == 201, response.text
    return response.json()


def _past_event(stack, org: Org) -> dict:
    return _create_event(stack, org, _now() - dt.timedelta(hours=2), _now() - dt.timedelta(hours=1))


def _webhook(stack, event: dict, attendees: list[dict], *, delivery: str | None = None,
             timestamp: int | None = None, secret: str | None = None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps({"attendees": attendees}).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    delivery = delivery or uuid.uuid4().hex
    mac = hmac.new((secret or event["webhook_secret"]).encode(), f"{stamp}.{delivery}.".encode() + body, hashlib.sha256)
    return stack.api.post(f"/events/{event['id']}/webhook", content=body, headers={
        "Content-Type": "application/json", "X-Kanazawa-Timestamp": stamp,
        "X-Kanazawa-Signature": "sha256=" + mac.hexdigest(), "X-Kanazawa-Delivery": delivery})


def _at(event: dict, minutes_after_start: float) -> str:
    return (dt.datetime.fromisoformat(event["starts_at"]) + dt.timedelta(minutes=minutes_after_start)).isoformat()


def _check_in(stack, event_id: int, signer: LocalAccount, code: str, *, attendee: str | None = None,
              timestamp: int | None = None) -> dict:
    """A check-in as a front end makes it: fetch the typed data, sign it (optionally another timestamp)."""
    attendee = attendee or signer.address
    response = stack.api.get(f"/events/{event_id}/check-in-typed-data", params={"attendee": attendee, "code": code})
    assert response.status_code == 200, response.text
    data = response.json()
    if timestamp is not None:
        data["message"]["timestamp"] = timestamp
    signature = bytes(signer.sign_message(encode_typed_data(full_message=data)).signature)
    return {"attendee": attendee, "code": code, "timestamp": data["message"]["timestamp"],
            "signature": "0x" + signature.hex()}


def _members(stack, count: int) -> list[LocalAccount]:
    members = [stack.dao.issue(RESIDENT) for _ in range(count)]
    stack.index()
    return members


def _wait(condition, *, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached after {timeout} s"
        time.sleep(0.3)


def _badge(stack, account: LocalAccount, org: Org) -> int:
    return stack.dao.badges.functions.balanceOf(account.address, org.badge_type_id).call()


def _minted(stack, event_id: int) -> int:
    return stack.api.get(f"/events/{event_id}").json()["badges_minted"]


# ---------------------------------------------------------------------- events


def test_create_event_and_public_views(stack, org):
    starts, ends = _now() + dt.timedelta(days=1), _now() + dt.timedelta(days=1, hours=2)
    _problem(_anonymous(stack).post("/events", json=_event_body(org, starts, ends)), 401, "not-authenticated")
    member = stack.sign_in(_members(stack, 1)[0])
    _problem(stack.api.post("/events", headers=member, json=_event_body(org, starts, ends)), 403, "forbidden")

    def refused(**change) -> str:
        body = {**_event_body(org, starts, ends), **change}
        return _problem(stack.api.post("/events", headers=org.staff, json=body), 422, "invalid-input")["detail"]

    assert "after starts_at" in refused(ends_at=(starts - dt.timedelta(minutes=1)).isoformat())
    assert "7 days" in refused(ends_at=(starts + dt.timedelta(days=8)).isoformat())
    assert "ends_at" in refused(ends_at="2026-05-01T21:00:00")  # no time zone
    assert "not an attendance badge type" in refused(badge_type_id=org.perk_type_id)
    assert "not a badge type of" in refused(badge_type_id=999_999)
    assert "no proposal" in refused(proposal_id="12345")

    created = _create_event(stack, org, starts, ends)
    assert len(created["checkin_code"]) == 8 and set(created["checkin_code"]) <= set(CODE_ALPHABET)
    assert len(bytes.fromhex(created["webhook_secret"])) == 32
    assert created["organisation_id"] == org.id and created["state"] == "upcoming"
    assert dt.datetime.fromisoformat(created["starts_at"]) == starts

    public = stack.api.get(f"/events/{created['id']}")
    assert public.status_code == 200
    shown = public.json()
    assert shown["attendance_count"] == 0 and shown["badges_minted"] == 0
    assert "checkin_code" not in shown and "webhook_secret" not in shown
    assert created["checkin_code"] not in public.text and created["webhook_secret"] not in public.text

    upcoming = stack.api.get("/events", params={"when": "upcoming", "organisation_id": org.id}).json()
    assert created["id"] in [e["id"] for e in upcoming["items"]]
    past = stack.api.get("/events", params={"when": "past", "organisation_id": org.id}).json()
    assert created["id"] not in [e["id"] for e in past["items"]]
    assert stack.api.get("/events", params={"organisation_id": org.id + 1000}).json()["total"] == 0
    _problem(stack.api.get("/events/999999"), 404, "not-found")


# ---------------------------------------------------------------------- webhook


def test_webhook_attendance(stack, org):
    event = _past_event(stack, org)
    first, second, late = _members(stack, 3)
    outsider = Account.create()
    entries = [
        {"address": first.address, "attended_at": _at(event, 5)},
        {"address": second.address.lower(), "attended_at": _at(event, 10)},  # platforms may send lower case
        {"address": first.address, "attended_at": _at(event, 20)},  # the same attendee again
        {"address": outsider.address, "attended_at": _at(event, 30)},
        {"address": Account.create().address, "attended_at": _at(event, -60)},  # before the event
        {"address": Account.create().address, "attended_at": _at(event, 180)},  # after it
        {"address": "0x1234", "attended_at": _at(event, 5)},
        {"address": Account.create().address, "attended_at": "2026-05-01T19:00:00"},  # no time zone
        "not an object",
    ]

    # Not authentic: a wrong secret, a stale or missing timestamp. Nothing is written, the delivery id stays free.
    delivery = "platform-delivery-1"
    _problem(_webhook(stack, event, entries, delivery=delivery, secret="00" * 32), 401, "webhook-not-authentic")
    stale = _problem(_webhook(stack, event, entries, delivery=delivery, timestamp=int(time.time()) - 3600), 401,
                     "webhook-not-authentic")
    assert "timestamp" in stale["detail"]
    no_headers = stack.api.post(f"/events/{event['id']}/webhook", json={"attendees": []})
    _problem(no_headers, 401, "webhook-not-authentic")
    _problem(_webhook(stack, event, [], delivery=delivery, raw=b"{not json"), 422, "invalid-input")
    _problem(_webhook(stack, event, [{"address": first.address, "attended_at": _at(event, 1)}] * 1001,
                      delivery=delivery), 422, "invalid-input")
    assert stack.api.get(f"/events/{event['id']}").json()["attendance_count"] == 0

    response = _webhook(stack, event, entries, delivery=delivery)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["recorded"] == 3 and result["duplicates"] == 1
    assert [r["index"] for r in result["rejected"]] == [4, 5, 6, 7, 8]
    assert "outside the event window" in result["rejected"][0]["error"]

    _problem(_webhook(stack, event, entries, delivery=delivery), 409, "replayed")
    again = _webhook(stack, event, entries[:4]).json()  # a new delivery with the same people
    assert again == {"recorded": 0, "duplicates": 4, "rejected": []}

    public = stack.api.get(f"/events/{event['id']}")
    assert public.json()["attendance_count"] == 3
    listed = stack.api.get("/events", params={"when": "past", "organisation_id": org.id})
    for text in (public.text.lower(), listed.text.lower()):
        assert all(a.address.lower()[2:] not in text for a in (first, second, outsider))

    # The event is over: the worker mints the members' badges; the outsider gets none.
    _wait(lambda: _minted(stack, event["id"]) == 2, what="badges of the first delivery minted")
    assert _badge(stack, first, org) == _badge(stack, second, org) == 1
    mine = stack.api.get(f"/events/{event['id']}/attendance/me", headers=stack.sign_in(outsider)).json()
    assert mine["badge"]["status"] == "not-a-member" and mine["source"] == "webhook"
    assert _badge(stack, outsider, org) == 0

    # A late delivery after the badges were planned: a later pass plans it.
    late_result = _webhook(stack, event, [{"address": late.address, "attended_at": _at(event, 50)}]).json()
    assert late_result["recorded"] == 1
    _wait(lambda: _minted(stack, event["id"]) == 3, what="the late attendee's badge minted")
    assert _badge(stack, late, org) == 1
    mine = stack.api.get(f"/events/{event['id']}/attendance/me", headers=stack.sign_in(late)).json()
    assert mine["badge"]["status"] == "minted" and mine["badge"]["tx_hash"].startswith("0x")


# ---------------------------------------------------------------------- check-ins


def test_signed_check_ins(stack, org):
    member, other_member = _members(stack, 2)
    outsider, stranger = Account.create(), Account.create()
    member_session, stranger_session = stack.sign_in(member), stack.sign_in(stranger)
    later = _create_event(stack, org, _now() + dt.timedelta(hours=1), _now() + dt.timedelta(hours=2))
    event = _create_event(stack, org, _now() - dt.timedelta(minutes=1), _now() + dt.timedelta(seconds=5))
    code, url = event["checkin_code"], f"/events/{event['id']}/check-ins"

    signed = _check_in(stack, event["id"], member, code.lower()[:4] + "-" + code.lower()[4:])  # as typed
    response = stack.api.post(url, json=signed)
    assert response.status_code == 201, response.text
    assert response.json()["duplicate"] is False and response.json()["source"] == "check-in"
    _problem(stack.api.post(url, json=signed), 409, "replayed")
    again = stack.api.post(url, json=_check_in(stack, event["id"], member, code, timestamp=signed["timestamp"] - 1))
    assert again.status_code == 200 and again.json()["duplicate"] is True

    _problem(stack.api.post(url, json=_check_in(stack, event["id"], other_member, "WRONG234")), 422, "invalid-input")
    forged = _check_in(stack, event["id"], outsider, code, attendee=other_member.address)
    _problem(stack.api.post(url, json=forged), 422, "invalid-signature")
    stale = _check_in(stack, event["id"], other_member, code, timestamp=int(time.time()) - 600)
    assert "fresh" in _problem(stack.api.post(url, json=stale), 422, "invalid-input")["detail"]
    early = _check_in(stack, later["id"], other_member, later["checkin_code"])
    assert "outside the event window" in _problem(stack.api.post(f"/events/{later['id']}/check-ins", json=early),
                                                  409, "conflict")["detail"]
    assert stack.api.post(url, json=_check_in(stack, event["id"], outsider, code)).status_code == 201
    assert stack.api.get(f"/events/{event['id']}").json()["attendance_count"] == 2

    mine = stack.api.get(f"/events/{event['id']}/attendance/me", headers=member_session)
    assert mine.status_code == 200, mine.text
    assert mine.json()["attendee"] == member.address and mine.json()["badge"]["status"] == "pending"
    _problem(stack.api.get(f"/events/{event['id']}/attendance/me", headers=stranger_session), 404, "not-found")
    _problem(_anonymous(stack).get(f"/events/{event['id']}/attendance/me"), 401, "not-authenticated")
    _problem(stack.api.post(f"/events/{event['id']}/mint-badges", headers=org.staff), 409, "conflict")

    time.sleep(max(0.0, (dt.datetime.fromisoformat(event["ends_at"]) - _now()).total_seconds()) + 0.5)
    late = _check_in(stack, event["id"], other_member, code)
    _problem(stack.api.post(url, json=late), 409, "conflict")
    assert stack.api.get(f"/events/{event['id']}").json()["attendance_count"] == 2  # nothing written

    _wait(lambda: _minted(stack, event["id"]) == 1, what="the member's badge minted")
    badge = stack.api.get(f"/events/{event['id']}/attendance/me", headers=member_session).json()["badge"]
    assert badge["status"] == "minted" and _badge(stack, member, org) == 1
    assert _badge(stack, other_member, org) == 0 and _badge(stack, outsider, org) == 0
    receipt = stack.dao.w3.eth.get_transaction_receipt(badge["tx_hash"])
    assert receipt["status"] == 1


# ---------------------------------------------------------------------- badges


def test_badges_minted_in_batches_exactly_once(stack, org, monkeypatch):
    members = _members(stack, 5)
    holder, outsider = _members(stack, 1)[0], Account.create()
    issuer = stack.services.keys.organisation(org.id)
    stack.dao.client.transact(stack.dao.badges.functions.mint(org.badge_type_id, [holder.address]), issuer)
    stack.index()  # the holder already holds the badge type (from an earlier event, say)
    other_admin = Account.create()
    register(stack, other_admin, "Kanazawa Jazz Street")
    event = _past_event(stack, org)

    stack.stop_worker()  # plan here, with a small batch size, before the worker's sweep does
    try:
        everyone = [*members, holder, outsider]
        recorded = _webhook(stack, event, [{"address": a.address, "attended_at": _at(event, 1)} for a in everyone])
        assert recorded.json()["recorded"] == 7
        _problem(stack.api.post(f"/events/{event['id']}/mint-badges", headers=stack.sign_in(other_admin)), 403,
                 "forbidden")
        monkeypatch.setattr(stack.settings, "attendance_batch_size", 2)
        with ThreadPoolExecutor(4) as pool:  # sweeps running at once plan each attendee once
            assert sum(pool.map(lambda _: plan_attendance_badges(stack.services), range(4))) == 3
        planned = stack.api.post(f"/events/{event['id']}/mint-badges", headers=org.staff)
        assert planned.status_code == 202, planned.text
        jobs = planned.json()["jobs"]
        assert len(jobs) == 3 and {j["kind"] for j in jobs} == {"mint-badges"}
        assert plan_attendance_badges(stack.services) == 0
        with stack.services.session() as session:
            batches = [session.get(RelayJob, j["id"]).payload["recipients"] for j in jobs]
        assert sorted(len(b) for b in batches) == [1, 2, 2]
        assert sorted(a for b in batches for a in b) == sorted(m.address for m in members)
    finally:
        stack.start_worker()
    assert [stack.wait_job(j["id"])["status"] for j in jobs] == ["confirmed"] * 3
    assert [_badge(stack, m, org) for m in members] == [1] * 5
    assert _badge(stack, outsider, org) == 0 and _badge(stack, holder, org) == 1

    stack.index()
    assert plan_attendance_badges(stack.services) == 0
    with stack.services.session() as session:
        count = session.scalar(select(func.count()).select_from(RelayJob).where(
            RelayJob.dedupe_key.startswith(f"mint-badges:{stack.services.chain_id}:{event['id']}:")))
    assert count == 3
    shown = stack.api.get(f"/events/{event['id']}").json()
    assert shown["attendance_count"] == 7 and shown["badges_minted"] == 5

    statuses = {a.address: stack.api.get(f"/events/{event['id']}/attendance/me", headers=stack.sign_in(a)).json()
                for a in (members[0], holder, outsider)}
    assert statuses[members[0].address]["badge"]["status"] == "minted"
    assert statuses[members[0].address]["badge"]["tx_hash"] in {stack.wait_job(j["id"])["tx_hash"] for j in jobs}
    assert statuses[holder.address]["badge"]["status"] == "already-held"
    assert statuses[outsider.address]["badge"]["status"] == "not-a-member"
