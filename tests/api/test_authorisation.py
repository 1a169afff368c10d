"""The authorisation matrix: every write endpoint x every role (not signed in, signed in without a role, member,
organisation, city). A role that may not gets 401 (not signed in) or 403 (signed in) as a problem document, and
nothing is written; a role that may is not refused for its role. Endpoints authenticated by a signature (ballots,
claims, check-ins, webhooks, sign-in) answer the same whatever the session.

The matrix must list every write operation of the OpenAPI description: a new endpoint without a row fails here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from tests.api.test_organisations import register
from tests.dao import RESIDENT

ROLES = ("anonymous", "no-role", "member", "organisation", "city")


@dataclass
class Actors:
    headers: dict[str, dict[str, str]]
    accounts: dict[str, Any]
    organisation_id: int
    issue_id: int
    event_id: int
    proposal_id: str


@pytest.fixture(scope="module")
def actors(stack) -> Actors:
    dao = stack.dao
    member, *supporters = dao.members([RESIDENT] * 4)
    admin = Account.create()
    org = register(stack, admin, "Matrix organisation")
    stack.index()
    accounts = {"no-role": Account.create(), "member": member, "organisation": admin, "city": dao.city}
    headers = {"anonymous": {}, **{role: stack.sign_in(account) for role, account in accounts.items()}}
    issue = stack.api.post("/issues", headers=headers["member"], json={
        "title": "Matrix issue", "body": "body", "category": "culture"}).json()
    for supporter in supporters:
        assert stack.api.post(f"/issues/{issue['id']}/supports", headers=stack.sign_in(supporter)).status_code == 201
    job = stack.api.post(f"/organisations/{org['id']}/badge-types", headers=headers["organisation"], json={
        "name": "Matrix attendance", "kind": "attendance"}).json()
    badge_type_id = stack.wait_job(job["id"])["result"]["badge_type_id"]
    stack.index()
    now = dt.datetime.now(dt.timezone.utc)
    event = stack.api.post("/events", headers=headers["organisation"], json={
        "title_ja": "行列", "title_en": "Matrix", "space": "test space", "starts_at": (now - dt.timedelta(hours=2)).isoformat(),
        "ends_at": (now - dt.timedelta(hours=1)).isoformat(), "badge_type_id": badge_type_id})
    assert event.status_code == 201, event.text
    proposal = stack.api.post("/proposals", headers=headers["city"], json={
        "title_ja": "行列提案", "title_en": "Matrix proposal", "body_ja": "本文", "body_en": "Body", "category": "culture"})
    assert proposal.status_code == 202, proposal.text
    assert stack.wait_job(proposal.json()["job"]["id"])["status"] == "confirmed"
    stack.index()
    return Actors(headers, accounts, org["id"], issue["id"], event.json()["id"], proposal.json()["proposal_id"])


Request = Callable[[Actors], dict[str, Any]]


def _unique() -> str:
    return uuid.uuid4().hex[:8]


#: (method, OpenAPI path) -> (request builder, roles allowed; None = authenticated by a signature, not a session)
MATRIX: dict[tuple[str, str], tuple[Request, set[str] | None]] = {
    ("POST", "/auth/logout"): (lambda a: {}, {"no-role", "member", "organisation", "city"}),
    ("POST", "/auth/verify"): (lambda a: {"json": {"message": "x", "signature": "0x00"}}, None),
    ("POST", "/organisations"): (lambda a: {"json": {"name_ja": "団体" + _unique(), "name_en": "Org " + _unique(),
                                                      "admin_address": Account.create().address}}, {"city"}),
    ("POST", "/organisations/{organisation_id}/invitations"): (
        lambda a: {"path": {"organisation_id": a.organisation_id},
                   "json": {"invitee": Account.create().address, "segment": 2}}, {"organisation"}),
    ("POST", "/organisations/{organisation_id}/badge-types"): (
        lambda a: {"path": {"organisation_id": a.organisation_id}, "json": {"name": "Perk", "kind": "perk"}},
        {"organisation"}),
    ("POST", "/issues"): (lambda a: {"json": {"title": "Issue " + _unique(), "body": "b", "category": "culture"}},
                          {"member", "organisation", "city"}),
    ("PATCH", "/issues/{issue_id}"): (lambda a: {"path": {"issue_id": a.issue_id}, "json": {"status": "open"}},
                                      {"member"}),  # the member is the author: only the author edits
    ("POST", "/issues/{issue_id}/supports"): (lambda a: {"path": {"issue_id": a.issue_id}}, {"member"}),
    ("DELETE", "/issues/{issue_id}/supports"): (  # withdraws one's own support: anyone signed in may ask
        lambda a: {"path": {"issue_id": a.issue_id}}, {"no-role", "member", "organisation", "city"}),
    ("POST", "/issues/{issue_id}/comments"): (lambda a: {"path": {"issue_id": a.issue_id}, "json": {"body": "良い"}},
                                              {"member", "organisation", "city"}),
    ("POST", "/issues/import"): (lambda a: {"params": {"source": "matrix"}, "content": "external_id,title\nm1,Imported\n",
                                            "headers": {"content-type": "text/csv"}}, {"city"}),
    ("POST", "/proposals"): (lambda a: {"json": {"title_ja": "提案" + _unique(), "title_en": "P", "body_ja": "b",
                                                 "body_en": "b", "category": "culture", "issue_ids": [a.issue_id]}},
                             {"member", "city"}),
    ("POST", "/proposals/{proposal_id}/outcomes"): (
        lambda a: {"path": {"proposal_id": a.proposal_id},
                   "json": {"status": "adopted", "summary_ja": "採択", "summary_en": "Adopted"}}, {"city"}),
    # The matrix's proposal is still active: the city gets 409 (not yet succeeded), the others 401/403.
    ("POST", "/proposals/{proposal_id}/queue"): (lambda a: {"path": {"proposal_id": a.proposal_id}}, {"city"}),
    ("POST", "/proposals/{proposal_id}/execute"): (lambda a: {"path": {"proposal_id": a.proposal_id}}, {"city"}),
    ("POST", "/events"): (lambda a: {"json": {"title_ja": "催し", "title_en": "Event", "space": "s",
                                              "starts_at": "2030-01-01T10:00:00+09:00",
                                              "ends_at": "2030-01-01T12:00:00+09:00", "badge_type_id": 999}},
                          {"organisation"}),
    ("POST", "/events/{event_id}/mint-badges"): (lambda a: {"path": {"event_id": a.event_id}}, {"organisation"}),
    ("POST", "/events/{event_id}/check-ins"): (
        lambda a: {"path": {"event_id": a.event_id},
                   "json": {"attendee": Account.create().address, "code": "ABCDEFGH", "timestamp": 0,
                            "signature": "0x" + "11" * 65}}, None),
    ("POST", "/events/{event_id}/webhook"): (
        lambda a: {"path": {"event_id": a.event_id}, "content": b'{"attendees": []}',
                   "headers": {"X-Kanazawa-Timestamp": "0", "X-Kanazawa-Signature": "sha256=00",
                               "X-Kanazawa-Delivery": _unique(), "content-type": "application/json"}}, None),
    ("POST", "/ballots"): (lambda a: {"json": {"proposal_id": a.proposal_id, "support": 1,
                                               "voter": Account.create().address, "nonce": "0",
                                               "signature": "0x" + "11" * 65}}, None),
    ("POST", "/claims"): (lambda a: {"json": {"invitation": {"invitee": Account.create().address, "segment": 1,
                                                             "issuer": Account.create().address, "nonce": "1",
                                                             "expiry": "1"}, "signature": "0x" + "11" * 65}}, None),
}


def test_the_matrix_covers_every_write_endpoint(stack):
    spec = stack.api.get("/openapi.json").json()
    writes = {(method.upper(), path) for path, item in spec["paths"].items() for method in item
              if method in ("post", "put", "patch", "delete")}
    assert writes == set(MATRIX)


def _call(stack, actors: Actors, role: str, method: str, path: str, build: Request):
    spec = build(actors)
    url = path.format(**spec.get("path", {}))
    session = actors.headers[role]
    if path == "/auth/logout" and role != "anonymous":  # a session of its own: the other rows keep theirs
        session = stack.sign_in(actors.accounts[role])
    headers = {**session, **spec.get("headers", {})}
    return stack.api.request(method, url, headers=headers, json=spec.get("json"), content=spec.get("content"),
                             params=spec.get("params"))


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=[f"{m} {p}" for m, p in sorted(MATRIX)])
def test_every_role_on_every_write_endpoint(stack, actors, method, path):
    build, allowed = MATRIX[(method, path)]
    results = {}
    for role in ROLES:
        response = _call(stack, actors, role, method, path, build)
        results[role] = response.status_code
        if allowed is None:
            continue
        if role in allowed:
            assert response.status_code not in (401, 403), f"{role}: {response.status_code} {response.text}"
        else:
            expected = 401 if role == "anonymous" else 403
            assert response.status_code == expected, f"{role}: {response.status_code} {response.text}"
            assert response.headers["content-type"] == "application/problem+json"
    if allowed is None:
        assert len(set(results.values())) == 1, f"a signature-authenticated endpoint depends on the session: {results}"
