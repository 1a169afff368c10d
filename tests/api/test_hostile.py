"""Hostile input against the whole API, in process against the real stack (chain, database, worker):

- schemathesis over the OpenAPI description: every operation, generated valid and invalid requests, signed in as
  the city (the widest role, so requests get past authorisation); no 5xx, every status documented, every body
  matching its declared schema (and content type). Then every read with real ids, so the success bodies of a
  world with an organisation, an issue, an event, a proposal and relay jobs are checked too.
- Sign-In with Ethereum attacks beyond tests/api/test_auth.py (statements, resources and lines smuggled into a
  signed message, a nonce burnt by someone else's attempt, expired and forged session tokens, huge messages).
- Oversized bodies on every write endpoint (413 problem document, nothing written), with and without a length, and
  an oversized import upload.
- Script and HTML in imported issues are shown escaped on the results page (posted issues: test_results_page.py).

Replayed webhook deliveries and signed check-ins are refused in tests/api/test_events.py (test_webhook_attendance,
test_signed_check_ins); rate limits are in tests/api/test_rate_limits.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import hypothesis
import pytest
import schemathesis
from eth_account import Account
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select, update

from backend.config import Settings
from backend.models import Base
from backend.models.auth import ApiSession
from frontend_api.app import create_app
from tests.api.test_authorisation import MATRIX, Actors, actors  # noqa: F401 - `actors` is a fixture used here
from tests.api_stack import problem as _problem
from tests.api_stack import sign_text, siwe_message

#: Generated requests per operation in schemathesis' fuzzing phase (valid and invalid ones); its examples and
#: coverage phases (boundary values, missing and wrong-typed parts) add their own. About a minute for all operations.
MAX_EXAMPLES = 10
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({
    "seed": 2025,  # the same requests on every run: a failure reproduces
    "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
})
#: The OpenAPI description as the app serves it (it does not depend on the stack's state).
SPEC = create_app(Settings(), services=object()).openapi()  # type: ignore[arg-type]
SCHEMA = schemathesis.openapi.from_dict(SPEC, config=CONFIG)
OPERATIONS = sorted((method.upper(), path) for path, item in SPEC["paths"].items() for method in item)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]




# ---------------------------------------------------------------------- schemathesis


@SCHEMA.parametrize()
@hypothesis.settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers(case, stack, actors):
    """One test per operation. Runs after `actors` made a world, so small generated ids often name real rows."""
    # Logging out would end the session every other operation uses: that one gets a session of its own.
    headers = stack.sign_in(Account.create()) if case.path == "/auth/logout" else actors.headers["city"]
    case.call_and_validate(app=stack.api.app, headers=headers, checks=CHECKS)


def _job(response) -> str:
    assert response.status_code in (200, 202), response.text
    return response.json()["id"]


def test_every_read_of_real_resources_answers_as_described(stack, actors):
    org, member, city = actors.headers["organisation"], actors.accounts["member"], actors.headers["city"]
    badge_job = _job(stack.api.post(f"/organisations/{actors.organisation_id}/badge-types", headers=org,
                                    json={"name": "Hostile perk", "kind": "perk"}))
    invitation = stack.api.post(f"/organisations/{actors.organisation_id}/invitations", headers=org,
                                json={"invitee": Account.create().address, "segment": 2}).json()
    claim_job = _job(stack.api.post("/claims", json={"invitation": invitation["invitation"],
                                                     "signature": invitation["signature"]}))
    stack.dao.start_voting(int(actors.proposal_id))  # past the voting delay: the proposal is active
    ballot_job = _job(stack.api.post("/ballots", json=stack.ballot(int(actors.proposal_id), member, 1)))
    assert stack.api.post(f"/issues/{actors.issue_id}/comments", headers=city, json={"body": "検証"}).status_code == 201
    dataset = stack.api.get("/open-data").json()[0]["id"]
    values = {"issue_id": actors.issue_id, "organisation_id": actors.organisation_id, "event_id": actors.event_id,
              "proposal_id": actors.proposal_id, "dataset_id": dataset}
    job_ids = {"/ballots/{job_id}": ballot_job, "/claims/{job_id}": claim_job, "/jobs/{job_id}": badge_job}
    queries = {"/ballots/typed-data": {"proposal_id": actors.proposal_id, "support": 1, "voter": member.address},
               "/events/{event_id}/check-in-typed-data": {"attendee": member.address, "code": "ABCD2345"},
               "/events": {"organisation_id": actors.organisation_id},
               "/issues": {"q": "Matrix"}}
    checked = {}
    for method, path in OPERATIONS:
        if method != "GET":
            continue
        params = {name: job_ids.get(path) if name == "job_id" else values[name]
                  for name in (p["name"] for p in SPEC["paths"][path]["get"].get("parameters", []) if p["in"] == "path")}
        case = SCHEMA[path]["GET"].Case(path_parameters=params, query=queries.get(path))
        headers = stack.sign_in(member) if path == "/events/{event_id}/attendance/me" else city
        response = case.call_and_validate(app=stack.api.app, headers=headers, checks=CHECKS)
        checked[path] = response.status_code
    # the reads of real rows succeed (the member did not attend the event: 404 is the documented answer there)
    misses = {p: s for p, s in checked.items() if s != 200 and p != "/events/{event_id}/attendance/me"}
    assert not misses, misses


# ---------------------------------------------------------------------- Sign-In with Ethereum


def _nonce(stack) -> str:
    return stack.api.get("/auth/nonce").json()["nonce"]


def _verify(stack, message: str, signature: str):
    response = stack.api.post("/auth/verify", json={"message": message, "signature": signature})
    stack.api.cookies.clear()
    return response


def test_resources_and_lines_smuggled_into_a_signed_message_are_refused(stack):
    victim = Account.create()
    message = siwe_message(victim.address, _nonce(stack))
    signature = sign_text(victim, message)
    # the signature covers every line: appended resources, a changed URI or an extra line void it
    for tampered in (message + "\nResources:\n- https://evil.example/grant/city",
                     message.replace("URI: http://testserver", "URI: http://testserver/../evil"),
                     message.replace("Sign in to the Kanazawa co-creation DAO.",
                                     "Sign in to the Kanazawa co-creation DAO.\nURI: http://evil.example")):
        response = _verify(stack, tampered, signature)
        assert response.status_code in (401, 422), response.text
        assert response.json()["type"].rsplit("/", 1)[1] in ("sign-in-refused", "invalid-input")
    # the nonce was burnt by the first attempt: not even the genuine message opens a session now
    assert "already used" in _problem(_verify(stack, message, signature), 401, "sign-in-refused")["detail"]


def test_a_signed_statement_or_resources_grant_nothing(stack):
    """A message may carry any statement and resources (the wallet shows them to its owner); roles come from the
    chain only."""
    account = Account.create()
    message = siwe_message(account.address, _nonce(stack)).replace(
        "Sign in to the Kanazawa co-creation DAO.", "I am the city of Kanazawa: grant me every role.")
    message += "\nResources:\n- urn:kanazawa-dao:role:city\n- https://testserver/organisations"
    response = _verify(stack, message, sign_text(account, message))
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == []
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    assert stack.api.get("/auth/me", headers=headers).json()["roles"] == []
    _problem(stack.api.post("/organisations", headers=headers, json={
        "name_ja": "偽", "name_en": "Fake", "admin_address": account.address}), 403, "forbidden")


def test_a_signature_of_another_address_or_another_message(stack):
    attacker, victim = Account.create(), Account.create()
    # the victim's genuine signature, lifted from a message for another site, on a message naming the victim here
    elsewhere = siwe_message(victim.address, _nonce(stack), domain="other.example", uri="https://other.example")
    lifted = sign_text(victim, elsewhere)
    here = siwe_message(victim.address, _nonce(stack))
    assert "does not verify" in _problem(_verify(stack, here, lifted), 401, "sign-in-refused")["detail"]
    # the attacker's own valid signature on a message naming the victim
    named = siwe_message(victim.address, _nonce(stack))
    _problem(_verify(stack, named, sign_text(attacker, named)), 401, "sign-in-refused")
    # a 65-byte signature that recovers to nobody in particular
    junk = siwe_message(victim.address, _nonce(stack))
    _problem(_verify(stack, junk, "0x" + "ff" * 65), 401, "sign-in-refused")


def test_a_nonce_used_by_someone_else_is_spent(stack):
    """Nonces are single-use bearer values: whoever fetched one, the first attempt with it (valid or not) burns it."""
    alice, mallory = Account.create(), Account.create()
    nonce = _nonce(stack)  # fetched by Alice's front end
    spoiled = siwe_message(mallory.address, nonce)
    _problem(_verify(stack, spoiled, sign_text(alice, spoiled)), 401, "sign-in-refused")  # mallory's bad try
    genuine = siwe_message(alice.address, nonce)
    assert "already used" in _problem(_verify(stack, genuine, sign_text(alice, genuine)), 401,
                                      "sign-in-refused")["detail"]
    assert _verify(stack, *(lambda m: (m, sign_text(alice, m)))(siwe_message(alice.address, _nonce(stack)))).status_code == 200


def test_expired_revoked_and_forged_session_tokens_are_anonymous(stack):
    account = Account.create()
    headers = stack.sign_in(account)
    token = headers["Authorization"].split()[1]
    assert stack.api.get("/auth/me", headers=headers).json()["address"] == account.address
    with stack.services.transaction() as session:
        session.execute(update(ApiSession).where(ApiSession.token_hash == hashlib.sha256(token.encode()).hexdigest())
                        .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    forged = {"Authorization": "Bearer " + "A" * 43}
    for who in (headers, forged, {"Authorization": "Bearer "}, {"Cookie": "kanazawa_dao_session=" + token}):
        assert stack.api.get("/auth/me", headers=who).json()["address"] is None
        _problem(stack.api.post("/issues", headers=who, json={"title": "t", "body": "b", "category": "culture"}),
                 401, "not-authenticated")
        _problem(stack.api.post("/auth/logout", headers=who), 401, "not-authenticated")
        stack.api.cookies.clear()


def test_huge_sign_in_messages_are_refused_before_any_work(stack):
    account = Account.create()
    long_statement = siwe_message(account.address, _nonce(stack)).replace(
        "Sign in to the Kanazawa co-creation DAO.", "x" * 5000)
    body = _problem(_verify(stack, long_statement, sign_text(account, long_statement)), 422, "invalid-input")
    assert body["errors"][0]["location"][-1] == "message"
    huge = json.dumps({"message": "x" * (2 << 20), "signature": "0x00"})
    _problem(stack.api.post("/auth/verify", content=huge, headers={"content-type": "application/json"}), 413,
             "too-large")


# ---------------------------------------------------------------------- oversized bodies


def _row_counts(stack) -> dict[str, int]:
    with stack.services.session() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table)) for table in Base.metadata.sorted_tables}


@pytest.mark.parametrize("streamed", [False, True], ids=["with-length", "chunked"])
def test_oversized_bodies_are_refused_on_every_write_endpoint(stack, actors, streamed):
    limit = stack.settings.max_body_bytes
    before = _row_counts(stack)
    for (method, path), (build, _roles) in sorted(MATRIX.items()):
        spec = build(actors)
        size = (stack.settings.max_import_bytes if path == "/issues/import" else limit) + 1
        payload = b'{"padding": "' + b"x" * (size - 15) + b'"}'
        assert len(payload) == size
        content = (payload[i:i + 65536] for i in range(0, len(payload), 65536)) if streamed else payload
        headers = {**actors.headers["city"], "content-type": "application/json", **spec.get("headers", {})}
        response = stack.api.request(method, path.format(**spec.get("path", {})), headers=headers, content=content,
                                     params=spec.get("params"))
        _problem(response, 413, "too-large")
    assert _row_counts(stack) == before


def test_an_import_may_be_larger_than_other_bodies_but_not_unbounded(stack, actors):
    city = {**actors.headers["city"], "content-type": "text/csv"}
    # over the general limit, under the import limit: read and imported (the oversized row is reported, not fatal)
    rows = stack.settings.max_body_bytes // 100_000 + 1  # bodies too long for an issue, each reported as an error
    big = "external_id,title,body\n" + "".join(f"big-{i},Big,{'x' * 100_000}\n" for i in range(rows))
    assert len(big) > stack.settings.max_body_bytes
    response = stack.api.post("/issues/import", params={"source": "hostile"}, content=big.encode(), headers=city)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 0 and len(response.json()["errors"]) == rows
    before = _row_counts(stack)
    huge = b"external_id,title\n" + b"h-1,huge\n" * (stack.settings.max_import_bytes // 9 + 1)
    _problem(stack.api.post("/issues/import", params={"source": "hostile"}, content=huge, headers=city), 413,
             "too-large")
    assert _row_counts(stack) == before


# ---------------------------------------------------------------------- imported text on the results page


def test_script_and_html_in_imported_issues_are_shown_escaped(stack, actors):
    xss = '<script>alert(1)</script><img src=x onerror=alert(1)>'
    rows = [{"external_id": "x-1", "title": "Imported " + xss, "body": xss, "location_name": xss,
             "skills_wanted": ["<script>alert(1)</script>"], "external_url": 'https://example.org/"><script>alert(2)</script>'},
            {"external_id": "x-2", "title": "Link", "external_url": "javascript:alert(3)"}]
    response = stack.api.post("/issues/import", params={"source": "hostile-html"}, json=rows,
                              headers=actors.headers["city"])
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 1 and [e["external_id"] for e in report["errors"]] == ["x-2"], report  # not http(s)
    issue = stack.api.get("/issues", params={"source": "hostile-html"}).json()["items"][0]
    for url in (f"/results/issues/{issue['id']}?lang=en", "/results/issues?source=hostile-html&lang=en",
                "/results/issues?q=Imported&lang=en"):
        page = stack.api.get(url)
        assert page.status_code == 200, url
        assert "<script" not in page.text and "<img" not in page.text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, url
    detail = stack.api.get(f"/results/issues/{issue['id']}?lang=en").text
    assert 'href="https://example.org/&#34;&gt;&lt;script&gt;' in detail or "example.org/%22" in detail
