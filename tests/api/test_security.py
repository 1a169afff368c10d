"""The findings of an outside probe, each written as the attack and the answer it must now get (issue: sign-in CPU
exhaustion, spoofed proposal documents, hidden actions, the cache leak, CSV injection, forged client addresses,
and the smaller ones). Against the real stack: chain, database, worker, and `kanazawa-dao serve` where uvicorn
itself is part of the finding."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from eth_account import Account
from eth_utils import keccak
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from backend.models.auth import ApiSession, SiweNonce
from backend.services import auth
from backend.toolchain.anvil import free_port
from frontend_api.app import create_app
from tests.api.test_events import Org, _check_in, _create_event, _now, org  # noqa: F401 - `org` is a fixture
from tests.api_stack import REPO_ROOT, sign_text, siwe_message
from tests.api_stack import problem as _problem
from tests.dao import FOR, ISSUER_ROLE, RESIDENT

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141




def _member(stack):
    (account,) = stack.dao.members([RESIDENT])
    stack.index()
    return account, stack.sign_in(account)


# ---------------------------------------------------------------------- 1. sign-in CPU exhaustion (high)


def test_the_probes_sign_in_message_answers_in_milliseconds_and_health_stays_fast(stack):
    """`POST /auth/verify {"message": "x" * 3990, "signature": "0x"}` took 12-22 s (super-linear ABNF parsing) and
    two in parallel slowed /health to 1.7 s. Now: a 422 in milliseconds, nothing written, /health unaffected."""
    attack = {"message": "x" * 3990, "signature": "0x"}
    with stack.services.session() as session:
        nonces_before = session.scalar(select(func.count()).select_from(SiweNonce))

    def attack_once():
        started = time.perf_counter()
        response = stack.api.post("/auth/verify", json=attack)
        return response, time.perf_counter() - started

    with ThreadPoolExecutor(4) as pool:
        attacks = [pool.submit(attack_once) for _ in range(8)]
        started = time.perf_counter()
        health = stack.api.get("/health")
        health_s = time.perf_counter() - started
        results = [a.result() for a in attacks]
    for response, elapsed in results:
        body = _problem(response, 422, "invalid-input")
        assert body["errors"][0]["location"] == ["body", "message"]
        assert elapsed < 0.5, elapsed
    assert health.status_code == 200 and health_s < 1.0, health_s
    with stack.services.session() as session:
        assert session.scalar(select(func.count()).select_from(SiweNonce)) == nonces_before


# ---------------------------------------------------------------------- 2. spoofed documents, hidden actions (high)


def _city_proposal(stack, title_en: str, actions=None) -> dict:
    city = stack.sign_in(stack.dao.city)
    response = stack.api.post("/proposals", headers=city, json={
        "title_ja": "鼓門のライトアップ", "title_en": title_en, "body_ja": "鼓門を照らす。", "body_en": "Light the gate.",
        "category": "culture", "actions": actions or []})
    assert response.status_code == 202, response.text
    body = response.json()
    assert stack.wait_job(body["job"]["id"])["status"] == "confirmed"
    stack.index()
    return body


def test_a_title_that_imitates_the_document_trailer_is_refused(stack):
    genuine = _city_proposal(stack, "Genuine proposal " + uuid.uuid4().hex[:6])
    forged = f"ipfs://{genuine['document_cid']}\ndocument-hash: {genuine['document_hash']}"
    city = stack.sign_in(stack.dao.city)
    for field, value in (("title_ja", forged), ("title_en", f"x ipfs://{genuine['document_cid']}"),
                         ("title_en", "a\nb"), ("title_ja", "document-hash: 0x00")):
        body = {"title_ja": "題", "title_en": "Title", "body_ja": "本文", "body_en": "Body", "category": "culture",
                field: value}
        problem = _problem(stack.api.post("/proposals", headers=city, json=body), 422, "invalid-input")
        assert problem["errors"][0]["location"] == ["body", field], problem


def test_a_proposal_made_on_chain_with_another_proposals_trailer_is_not_shown_as_verified(stack):
    """The probe's attack: a proposal whose description carries `ipfs://<another proposal's document>
    document-hash: <its hash>`, made directly on chain (anyone may propose), and whose only action grants the city's
    admin role to the attacker. The API, the CSV and the results page must not show the other document as this
    proposal's, and must show the action with a warning."""
    dao = stack.dao
    genuine = _city_proposal(stack, "Light up the gate " + uuid.uuid4().hex[:6])
    original = stack.api.get(f"/proposals/{genuine['proposal_id']}").json()
    attacker = Account.create()
    dao.fund(attacker)
    grant = dao.card.functions.grantRole(bytes(32), attacker.address)._encode_transaction_data()
    heading = f"{original['title_ja']} / {original['title_en']}"
    for description in (
            f"{heading}\n\nipfs://{genuine['document_cid']}\ndocument-hash: {genuine['document_hash']}",
            f"ipfs://{genuine['document_cid']}\ndocument-hash: {genuine['document_hash']}\n\nthe real text comes last"):
        dao.client.transact(dao.governor.functions.propose([dao.card.address], [0], [bytes.fromhex(grant[2:])],
                                                           description), attacker)
        spoof_id = dao.governor.functions.hashProposal([dao.card.address], [0], [bytes.fromhex(grant[2:])],
                                                       keccak(text=description)).call()
        stack.index()
        detail = stack.api.get(f"/proposals/{spoof_id}").json()
        assert detail["document_uri"] is None and detail["document_hash"] is None and detail["document"] is None
        assert detail["document_verification"]["status"] != "verified", detail["document_verification"]
        (action,) = detail["decoded_actions"]
        assert action["target_name"] == "MembershipCard" and action["function"] == "grantRole"
        assert action["arguments"]["role"].startswith("DEFAULT_ADMIN_ROLE")
        assert action["arguments"]["account"] == attacker.address
        assert "changes-roles" in action["warnings"]
        page = stack.api.get(f"/results/proposals/{spoof_id}?lang=en")
        assert page.status_code == 200
        assert 'data-verification="verified"' not in page.text
        assert "grantRole(bytes32,address)" in page.text and "It changes roles" in page.text
        assert 'data-warnings="changes-roles"' in page.text
        exported = list(csv.reader(io.StringIO(stack.api.get("/open-data/proposals.csv?lang=en").text)))
        header, body_rows = exported[0], exported[1:]
        row = dict(zip(header, next(r for r in body_rows if r[0] == str(spoof_id))))
        assert row["Document URI"] == "" and row["Document hash"] == "", row
    # The genuine proposal is untouched: verified, its signal action shown as such.
    again = stack.api.get(f"/proposals/{genuine['proposal_id']}").json()
    assert again["document_verification"]["status"] == "verified", again["document_verification"]
    assert again["document_uri"] == f"ipfs://{genuine['document_cid']}"
    assert [a["kind"] for a in again["decoded_actions"]] == ["signal"]


def test_every_action_is_shown_decoded_or_raw(stack):
    """Actions on our contracts are decoded (the issuer role named), value transfers and unknown contracts warned
    about, raw calldata shown when it cannot be decoded."""
    dao = stack.dao
    outsider = Account.create().address
    grant_issuer = dao.card.functions.grantRole(ISSUER_ROLE, outsider)._encode_transaction_data()
    actions = [{"target": dao.card.address, "calldata": grant_issuer},
               {"target": outsider, "value": "1000", "calldata": "0x"},
               {"target": dao.outcomes.address, "calldata": "0xdeadbeef"}]
    drafted = _city_proposal(stack, "Actions " + uuid.uuid4().hex[:6], actions=actions)
    decoded = stack.api.get(f"/proposals/{drafted['proposal_id']}").json()["decoded_actions"]
    assert decoded[0]["signature"] == "grantRole(bytes32,address)" and "ISSUER_ROLE" in decoded[0]["arguments"]["role"]
    assert decoded[0]["warnings"] == ["changes-roles"]
    assert decoded[1]["value"] == "1000" and "moves-funds" in decoded[1]["warnings"] and decoded[1]["target_name"] is None
    assert decoded[2]["function"] is None and decoded[2]["calldata"] == "0xdeadbeef"
    assert "unknown-function" in decoded[2]["warnings"]
    page = stack.api.get(f"/results/proposals/{drafted['proposal_id']}").text
    assert "0xdeadbeef" in page and "grantRole(bytes32,address)" in page and "資金やトークンを移動します" in page


# ---------------------------------------------------------------------- 3. no signed-in answer in the shared cache


def test_a_session_cookie_with_a_space_never_reaches_the_shared_cache(stack, org):
    """`GET /events/1/attendance/me` with `Cookie: kanazawa_dao_session =<token>` was cached, and the next anonymous
    request got that member's attendance with `X-Cache: hit`."""
    member, headers = _member(stack)
    token = headers["Authorization"].split()[1]
    event = _create_event(stack, org, _now() - dt.timedelta(minutes=5), _now() + dt.timedelta(hours=1))
    checked_in = stack.api.post(f"/events/{event['id']}/check-ins",
                                json=_check_in(stack, event["id"], member, event["checkin_code"]))
    assert checked_in.status_code == 201, checked_in.text
    settings = stack.settings.model_copy(update={"read_cache_seconds": 30.0})
    with TestClient(create_app(settings, services=stack.services), raise_server_exceptions=False) as cached:
        for path in (f"/events/{event['id']}/attendance/me", "/proposals", f"/events/{event['id']}"):
            mine = cached.get(path, headers={"Cookie": f"kanazawa_dao_session ={token}"})
            assert mine.status_code == 200, (path, mine.text)
            assert mine.headers["cache-control"] == "private, no-store", path
            assert mine.headers.get("x-cache") is None, path  # not even looked up
            anonymous = cached.get(path)
            assert anonymous.headers.get("x-cache") != "hit", path
            if path.endswith("/me"):
                assert anonymous.status_code == 401 and member.address not in anonymous.text


# ---------------------------------------------------------------------- 4. CSV injection


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(stack):
    _, headers = _member(stack)
    tag = uuid.uuid4().hex[:6]
    titles = [f'=HYPERLINK("https://evil.example/{tag}","click")', f"+1+1 {tag}", f"-2+3 {tag}", f"@SUM(A1) {tag}",
              f"\t=1 {tag}", f"\r=1 {tag}"]
    for title in titles:
        response = stack.api.post("/issues", headers=headers, json={"title": title, "body": "b", "category": "culture"})
        assert response.status_code == 201, response.text
    exported = list(csv.reader(io.StringIO(stack.api.get("/open-data/issues.csv?lang=en").text)))
    cells = sorted(row[1] for row in exported[1:] if tag in row[1])
    stored = sorted(r["title"] for r in stack.api.get("/open-data/issues.json").json()["rows"] if tag in r["title"])
    assert len(stored) == len(titles) and all(t[:1] in "=+-@" for t in stored)  # titles are stored stripped
    assert cells == sorted("'" + t for t in stored), cells  # the JSON keeps the text as it is; the CSV defuses it
    from backend.services.open_data import _cell

    assert [_cell(v) for v in ("\t=1", "\r=1", "=1", "a=1", -3, -2.5, None)] == \
        ["'\t=1", "'\r=1", "'=1", "a=1", "-3", "-2.5", ""]
    index = {d["id"]: d for d in stack.api.get("/open-data").json()}
    assert "apostrophe" in index["issues"]["description"]


# ---------------------------------------------------------------------- 5. client addresses from trusted proxies only


def test_forwarded_for_is_ignored_by_the_served_api_without_a_trusted_proxy(stack):
    """uvicorn believed X-Forwarded-For from 127.0.0.1, so a local proxy or a forged header moved a client to a
    fresh bucket. `kanazawa-dao serve` now leaves the client address to the rate limiter, which believes only the
    configured proxies: the same client with a new X-Forwarded-For each time is still one client."""
    port = free_port()
    env = {**stack.env, "KANAZAWA_DAO_RATE_LIMIT_EXEMPT_CLIENTS": "[]", "KANAZAWA_DAO_RATE_LIMIT_CLIENT_BURST": "3",
           "KANAZAWA_DAO_RATE_LIMIT_PER_CLIENT": "6"}
    log = stack.tmp / f"serve-{port}.log"
    process = subprocess.Popen([sys.executable, "-m", "scripts.cli", "serve", "--port", str(port)], cwd=REPO_ROOT,
                               env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        statuses = [httpx.post(f"{base}/issues", json={"title": "t", "body": "b", "category": "culture"},
                               headers={"X-Forwarded-For": f"198.51.100.{i}"}, timeout=10).status_code
                    for i in range(5)]
        assert statuses[:3] == [401] * 3 and statuses[3:] == [429, 429], statuses
    finally:
        process.terminate()
        process.wait(timeout=20)


# ---------------------------------------------------------------------- 6. the rest (low)


def test_old_nonces_and_sessions_are_deleted(stack):
    nonce = stack.api.get("/auth/nonce").json()["nonce"]
    account = Account.create()
    headers = stack.sign_in(account)
    token_hash = hashlib.sha256(headers["Authorization"].split()[1].encode()).hexdigest()
    long_ago = dt.datetime.now(dt.timezone.utc) - auth.KEEP_ENDED - dt.timedelta(minutes=1)
    with stack.services.transaction() as session:
        session.execute(update(SiweNonce).where(SiweNonce.nonce == nonce).values(expires_at=long_ago))
        session.execute(update(ApiSession).where(ApiSession.token_hash == token_hash).values(expires_at=long_ago))
    assert auth.forget_ended(stack.services) >= 2
    with stack.services.session() as session:
        assert session.get(SiweNonce, nonce) is None and session.get(ApiSession, token_hash) is None
    fresh = stack.api.get("/auth/nonce").json()["nonce"]
    auth.forget_ended(stack.services)
    with stack.services.session() as session:
        assert session.get(SiweNonce, fresh) is not None  # live ones stay


def _signed_delivery(secret: str, delivery: str, body: bytes, timestamp: str | None = None) -> dict:
    timestamp = timestamp or str(int(time.time()))
    mac = hmac.new(secret.encode(), f"{timestamp}.{delivery}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Kanazawa-Timestamp": timestamp, "X-Kanazawa-Delivery": delivery,
            "X-Kanazawa-Signature": f"sha256={mac}"}


def test_a_captured_webhook_cannot_be_sent_again_under_another_delivery_id(stack, org):
    event = _create_event(stack, org, _now() - dt.timedelta(minutes=5), _now() + dt.timedelta(hours=1))
    body = json.dumps({"attendees": [{"address": Account.create().address,
                                      "attended_at": _now().isoformat()}]}).encode()
    headers = _signed_delivery(event["webhook_secret"], "delivery-1", body)
    first = stack.api.post(f"/events/{event['id']}/webhook", content=body, headers=headers)
    assert first.status_code == 200 and first.json()["recorded"] == 1, first.text
    _problem(stack.api.post(f"/events/{event['id']}/webhook", content=body, headers=headers), 409, "replayed")
    _problem(stack.api.post(f"/events/{event['id']}/webhook", content=body,
                            headers={**headers, "X-Kanazawa-Delivery": "delivery-2"}), 401, "webhook-not-authentic")
    for stamp in ("²", "12a", "", "１２３"):  # a superscript two and full-width digits are not unix seconds
        bad = {**_signed_delivery(event["webhook_secret"], "delivery-3", body), "X-Kanazawa-Timestamp": stamp}
        response = stack.api.post(f"/events/{event['id']}/webhook", content=body,
                                  headers={k: v.encode() if k == "X-Kanazawa-Timestamp" else v for k, v in bad.items()})
        assert response.status_code in (400, 401), (stamp, response.text)  # an empty header is "missing": 401
        assert response.status_code == 401 or response.json()["type"].endswith("/bad-request")


def test_a_replayed_check_in_with_a_malleated_signature_is_replayed(stack, org):
    member, _ = _member(stack)
    event = _create_event(stack, org, _now() - dt.timedelta(minutes=5), _now() + dt.timedelta(hours=1))
    check_in = _check_in(stack, event["id"], member, event["checkin_code"])
    first = stack.api.post(f"/events/{event['id']}/check-ins", json=check_in)
    assert first.status_code == 201, first.text
    raw = bytes.fromhex(check_in["signature"][2:])
    twin = raw[:32] + (N - int.from_bytes(raw[32:64], "big")).to_bytes(32, "big") + bytes([55 - raw[64]])
    for signature in (twin, raw[:64] + bytes([raw[64] - 27])):
        _problem(stack.api.post(f"/events/{event['id']}/check-ins", json={**check_in, "signature": "0x" + signature.hex()}),
                 409, "replayed")


def test_attendance_overlap_below_five_is_suppressed(stack, org):
    """One organisation linking its event to a proposal could learn who of its voters attended another's event:
    counts between 1 and 4 are withheld."""
    dao = stack.dao
    voter = dao.members([RESIDENT])[0]
    drafted = _city_proposal(stack, "Overlap " + uuid.uuid4().hex[:6])
    proposal_id = int(drafted["proposal_id"])
    dao.advance_to(dao.governor.functions.proposalSnapshot(proposal_id).call() + 1)
    assert stack.wait_job(stack.api.post("/ballots", json=stack.ballot(proposal_id, voter, FOR)).json()["id"])["status"] \
        == "confirmed"
    event = stack.api.post("/events", headers=org.staff, json={
        "title_ja": "重なり", "title_en": "Overlap", "space": "Kanazawa Metaverse",
        "starts_at": (_now() - dt.timedelta(minutes=5)).isoformat(),
        "ends_at": (_now() + dt.timedelta(hours=1)).isoformat(), "badge_type_id": org.badge_type_id,
        "proposal_id": str(proposal_id)}).json()
    assert stack.api.post(f"/events/{event['id']}/check-ins",
                          json=_check_in(stack, event["id"], voter, event["checkin_code"])).status_code == 201
    stack.index()
    overlap = stack.api.get(f"/proposals/{proposal_id}").json()["attendance_overlap"]
    assert overlap == {"related_events": 1, "voters_who_attended": None, "suppressed": True}
    page = stack.api.get(f"/results/proposals/{proposal_id}?lang=en").text
    assert "fewer than 5" in page


def test_numbers_too_large_are_422_not_500(stack):
    city = stack.sign_in(stack.dao.city)
    too_big = str(2**256)
    huge_id = "9" * 78
    invitation, signature = stack.dao.invitation(Account.create().address, RESIDENT, nonce=88_001)
    claim = {"invitation": {**invitation, "nonce": str(invitation["nonce"]), "expiry": too_big},
             "signature": "0x" + signature.hex()}
    assert _problem(stack.api.post("/claims", json=claim), 422, "invalid-input")
    draft = {"title_ja": "題", "title_en": "Title", "body_ja": "本文", "body_en": "Body", "category": "culture",
             "issue_ids": [2**63]}
    _problem(stack.api.post("/proposals", headers=city, json=draft), 422, "invalid-input")
    outcome = {"status": "adopted", "summary_ja": "要約", "summary_en": "Summary"}
    _problem(stack.api.post(f"/proposals/{huge_id}/outcomes", headers=city, json=outcome), 422, "invalid-input")
    unknown = str(2**255 + 12345)  # a uint256, but no such proposal: the registry's own refusal
    body = _problem(stack.api.post(f"/proposals/{unknown}/outcomes", headers=city, json=outcome), 409,
                    "refused-by-chain")
    assert body["error"]
    for path in (f"/proposals/{huge_id}", f"/ballots/typed-data?proposal_id={huge_id}&support=1&voter="
                 f"{Account.create().address}"):
        _problem(stack.api.get(path), 422, "invalid-input")
    assert stack.api.get(f"/results/proposals/{huge_id}").status_code == 404


def test_no_server_path_in_any_error(stack):
    """A document whose content is gone from the store: the API's 503 and the page say so without naming the
    store's folder (or any file of the server)."""
    drafted = _city_proposal(stack, "Lost document " + uuid.uuid4().hex[:6])
    stack.services.documents.clear()
    path = stack.settings.content_dir
    stored = list(path.rglob(drafted["document_cid"] + "*")) or [p for p in path.rglob("*") if drafted["document_cid"] in p.name]
    assert stored, "the document's file in the local store"
    saved = [(p, p.read_bytes()) for p in stored]
    try:
        for p, _ in saved:
            p.unlink()
        stack.services.documents.clear()
        for response in (stack.api.get(f"/proposals/{drafted['proposal_id']}/document"),
                         stack.api.get(f"/proposals/{drafted['proposal_id']}"),
                         stack.api.get(f"/results/proposals/{drafted['proposal_id']}")):
            assert str(path) not in response.text and str(REPO_ROOT) not in response.text and "/tmp/" not in response.text
            assert response.status_code in (200, 503), response.text
    finally:
        for p, data in saved:
            p.write_bytes(data)


def test_cookie_authenticated_writes_from_another_site_are_refused(stack):
    member, headers = _member(stack)
    token = headers["Authorization"].split()[1]
    cookie = {"Cookie": f"kanazawa_dao_session={token}"}
    issue = {"title": "from elsewhere", "body": "b", "category": "culture"}
    for foreign in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"}):
        _problem(stack.api.post("/issues", json=issue, headers={**cookie, **foreign}), 403, "cross-site")
    for own in ({"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}, {}):
        assert stack.api.post("/issues", json=issue, headers={**cookie, **own}).status_code == 201
    # A bearer token is not sent by a browser on its own: another site cannot forge it.
    assert stack.api.post("/issues", json=issue, headers={**headers, "Origin": "https://evil.example"}).status_code == 201
    stack.api.cookies.clear()


def test_links_come_from_the_public_url_never_the_host_header(stack):
    index = stack.api.get("/open-data", headers={"Host": "evil.example"}).json()
    assert all(d["formats"]["csv"].startswith("http://testserver/open-data/") for d in index)
    redirect = stack.api.get("/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "/results"


def test_security_headers_on_every_answer(stack):
    nonce = stack.api.get("/auth/nonce")
    for response in (stack.api.get("/proposals"), stack.api.get("/open-data/issues.csv"), stack.api.get("/nowhere"),
                     stack.api.get("/results"), nonce, stack.api.post("/issues", json={}), stack.api.get("/docs")):
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url
    assert nonce.headers["cache-control"] == "no-store"
    account = Account.create()
    message = siwe_message(account.address, nonce.json()["nonce"])
    verified = stack.api.post("/auth/verify", json={"message": message, "signature": sign_text(account, message)})
    assert verified.status_code == 200 and "no-store" in verified.headers["cache-control"]
    stack.api.cookies.clear()


def test_the_api_documentation_runs_only_its_own_scripts(stack):
    for path, script in (("/docs", "/docs/static/swagger-ui-bundle.js"), ("/redoc", "/docs/static/redoc.standalone.js")):
        page = stack.api.get(path)
        assert page.status_code == 200 and f'src="{script}"' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "cdn" not in page.text.lower()
        assert page.headers["x-frame-options"] == "DENY"
        asset = stack.api.get(script)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
        assert len(asset.content) > 100_000
    assert stack.api.get("/docs/static/../../etc/passwd").status_code == 404
    assert stack.api.get("/docs/static/secret.py").status_code == 404
