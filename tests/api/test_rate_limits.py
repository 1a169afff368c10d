"""Rate limits on writes (frontend_api/ratelimit.py): per client and per address, 429 problem documents with
Retry-After, buckets that refill, X-Forwarded-For believed only from a trusted proxy, signature-authenticated
endpoints limited per signer, the webhook in a bucket of its own per client, reads never limited (but the nonce,
which stores a row), nobody exempt by default.

The module's stack serves the suite's own TestClient, which is exempt (an in-process caller, like the operator's
tools on loopback): each test here builds an app of its own over the same services, with limits on and small
buckets, and reaches it as clients with IP addresses of their own.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from backend.config import Settings
from frontend_api.app import create_app
from tests.api_stack import sign_text, siwe_message
from tests.dao import RESIDENT

CLIENT_BURST, ADDRESS_BURST = 5, 3
ISSUE = {"title": "Rate-limited issue", "body": "body", "category": "culture"}


@pytest.fixture
def make_client(stack):
    """`make_client(ip, **settings)`: a client at `ip` of a fresh app (fresh buckets) with limits on."""
    apps: dict[str, Any] = {}
    clients: list[TestClient] = []

    def make(ip: str = "203.0.113.10", **overrides: Any) -> TestClient:
        key = repr(sorted(overrides.items()))
        if key not in apps:
            settings = stack.settings.model_copy(update={
                # slow refills (a token every 10 s): a busy machine does not refill a bucket within a test
                "rate_limit_enabled": True, "rate_limit_per_client": 6, "rate_limit_client_burst": CLIENT_BURST,
                "rate_limit_per_address": 6, "rate_limit_address_burst": ADDRESS_BURST,
                "rate_limit_exempt_clients": [], "rate_limit_trusted_proxies": [], **overrides})
            apps[key] = create_app(settings, services=stack.services)
        client = TestClient(apps[key], client=(ip, 40000), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _limited(response, who: str) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/rate-limited") and body["status"] == 429 and who in body["detail"], body
    retry = int(response.headers["retry-after"])
    assert retry >= 1 and body["retry_after"] == retry
    return retry


def _anonymous_write(client: TestClient, **kwargs):
    return client.post("/issues", json=ISSUE, **kwargs)  # refused for its role (401) when it gets through


def test_per_client_limit_refuses_with_retry_after_and_refills(make_client):
    client = make_client("203.0.113.10", rate_limit_per_client=60)  # a token a second
    started, accepted = time.monotonic(), 0
    while (response := _anonymous_write(client)).status_code == 401 and accepted < 50:
        accepted += 1
    # the burst, plus at most what refilled meanwhile
    assert CLIENT_BURST <= accepted <= CLIENT_BURST + int(time.monotonic() - started) + 1
    retry = _limited(response, "this client")
    assert retry == 1
    # reads are never limited, nor is /health
    assert client.get("/issues").status_code == 200 and client.get("/health").status_code == 200
    time.sleep(retry)
    assert _anonymous_write(client).status_code == 401  # refilled
    # another client's burst is its own
    other = make_client("198.51.100.20", rate_limit_per_client=60)
    assert [_anonymous_write(other).status_code for _ in range(CLIENT_BURST)] == [401] * CLIENT_BURST


def test_a_refused_write_writes_nothing(stack, make_client):
    member = stack.dao.issue(RESIDENT)
    stack.index()
    session = stack.sign_in(member)
    client = make_client("203.0.113.11")
    created = [client.post("/issues", headers=session, json=ISSUE).status_code for _ in range(ADDRESS_BURST)]
    assert created == [201] * ADDRESS_BURST
    _limited(client.post("/issues", headers=session, json=ISSUE), member.address.lower())
    mine = stack.api.get("/issues", params={"author": member.address}).json()
    assert mine["total"] == ADDRESS_BURST


def test_per_address_limit_follows_the_session_across_clients(stack, make_client):
    account = Account.create()
    session = stack.sign_in(account)
    statuses = []
    for ip in ("203.0.113.21", "203.0.113.22", "203.0.113.23", "203.0.113.24"):  # a fresh client each time
        statuses.append(make_client(ip).post("/issues", headers=session, json=ISSUE))
    assert [r.status_code for r in statuses[:ADDRESS_BURST]] == [403] * ADDRESS_BURST  # signed in, no role
    _limited(statuses[ADDRESS_BURST], account.address.lower())
    # another address from the same client is not limited by it; nor is the same person's read
    assert make_client("203.0.113.24").post("/issues", headers=stack.sign_in(Account.create()),
                                            json=ISSUE).status_code == 403
    assert make_client("203.0.113.24").get("/auth/me", headers=session).json()["address"] == account.address


def test_a_spoofed_forwarded_for_is_ignored(make_client):
    client = make_client("203.0.113.30")
    statuses = [_anonymous_write(client, headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code
                for i in range(CLIENT_BURST + 1)]
    assert statuses == [401] * CLIENT_BURST + [429]  # still one client, whatever it claims to forward for


def test_a_trusted_proxy_names_the_client(make_client):
    proxy = make_client("10.0.0.2", rate_limit_trusted_proxies=["10.0.0.0/8"])

    def via_proxy(forwarded: str):
        return _anonymous_write(proxy, headers={"X-Forwarded-For": forwarded})

    # two clients behind the proxy: a bucket each
    assert [via_proxy("198.51.100.1").status_code for _ in range(CLIENT_BURST)] == [401] * CLIENT_BURST
    _limited(via_proxy("198.51.100.1"), "this client")
    assert via_proxy("198.51.100.2").status_code == 401
    # a client prepending hops of its own is still the hop the proxy saw (the right-most untrusted one),
    # and a chain of trusted proxies is walked through
    _limited(via_proxy("192.0.2.99, 198.51.100.1"), "this client")
    _limited(via_proxy("192.0.2.99, 198.51.100.1, 10.0.0.7"), "this client")
    # without X-Forwarded-For the proxy itself is the client
    assert _anonymous_write(proxy).status_code == 401


def _junk(kind: str, address: str) -> tuple[str, dict]:
    """A signed write naming `address` with a signature that does not verify."""
    sig = "0x" + "11" * 65
    if kind == "ballot":
        return "/ballots", {"proposal_id": "1", "support": 1, "voter": address, "nonce": "0", "signature": sig}
    if kind == "claim":
        return "/claims", {"invitation": {"invitee": address, "segment": 1, "issuer": Account.create().address,
                                          "nonce": "1", "expiry": "1"}, "signature": sig}
    if kind == "check-in":
        return "/events/1/check-ins", {"attendee": address, "code": "ABCD2345", "timestamp": 0, "signature": sig}
    return "/auth/verify", {"message": siwe_message(address, "abcdefgh12345678"), "signature": sig}


SIGNED = ["ballot", "claim", "check-in", "sign-in"]


@pytest.mark.parametrize("kind", SIGNED)
def test_junk_naming_someone_does_not_use_up_their_limit(make_client, kind):
    """Anyone can type an address: requests whose signature does not verify take only the sender's tokens."""
    victim = Account.create().address
    for i in range(ADDRESS_BURST + 2):
        path, body = _junk(kind, victim)
        assert make_client(f"203.0.113.{80 + i}").post(path, json=body).status_code not in (429, 500)


def _sign_in(client: TestClient, stack, account) -> Any:
    message = siwe_message(account.address, stack.api.get("/auth/nonce").json()["nonce"])
    return client.post("/auth/verify", json={"message": message, "signature": sign_text(account, message)})


def test_sign_ins_are_limited_per_address_however_it_is_spelled(stack, make_client):
    account = Account.create()
    for i in range(ADDRESS_BURST):
        assert _sign_in(make_client(f"203.0.113.{40 + i}"), stack, account).status_code == 200
    _limited(_sign_in(make_client("203.0.113.44"), stack, account), account.address.lower())
    for spelling in (account.address.lower(), "0x" + account.address[2:].upper()):
        path, body = _junk("sign-in", spelling)
        _limited(make_client("203.0.113.45").post(path, json=body), account.address.lower())
    assert _sign_in(make_client("203.0.113.44"), stack, Account.create()).status_code == 200  # someone else


def test_ballots_are_limited_per_voter(stack, make_client):
    voter = stack.dao.issue(RESIDENT)
    stack.index()
    drafted = stack.api.post("/proposals", headers=stack.sign_in(stack.dao.city), json={
        "title_ja": "制限", "title_en": "Limits", "body_ja": "本文", "body_en": "Body", "category": "culture"})
    assert drafted.status_code == 202, drafted.text
    assert stack.wait_job(drafted.json()["job"]["id"])["status"] == "confirmed"
    stack.dao.start_voting(int(drafted.json()["proposal_id"]))  # past the voting delay
    stack.index()
    ballot = stack.ballot(int(drafted.json()["proposal_id"]), voter, 1)
    # one new ballot a minute for this test's voters, whichever client relays it
    first = make_client("203.0.113.90", rate_limit_address_burst=1).post("/ballots", json=ballot)
    assert first.status_code == 202, first.text
    retry = _limited(make_client("203.0.113.91", rate_limit_address_burst=1).post("/ballots", json=ballot),
                     voter.address.lower())
    assert 1 <= retry <= 10  # a token every 10 s
    path, other = _junk("ballot", Account.create().address)
    assert make_client("203.0.113.91", rate_limit_address_burst=1).post(path, json=other).status_code == 422


def test_the_webhook_has_a_bucket_of_its_own_per_client_whatever_the_event(make_client):
    """A platform reports many events: webhooks draw on a bucket of their own per client, shared by every event id,
    so naming other (even non-existent) events gives no fresh bucket, and the client's other writes keep theirs."""
    client = make_client("203.0.113.50", rate_limit_webhook_burst=CLIENT_BURST, rate_limit_webhooks_per_client=6)
    headers = {"X-Kanazawa-Timestamp": "0", "X-Kanazawa-Signature": "sha256=00", "X-Kanazawa-Delivery": "d",
               "content-type": "application/json"}

    def deliver(event_id: int):
        return client.post(f"/events/{event_id}/webhook", content=b'{"attendees": []}', headers=headers)

    assert all(deliver(1).status_code != 429 for _ in range(CLIENT_BURST))
    _limited(deliver(1), "this client")
    _limited(deliver(2), "this client")  # another event id: the same bucket
    _limited(deliver(9_999_999), "this client")
    assert _anonymous_write(client).status_code == 401  # the client's other writes have theirs


def test_nobody_is_exempt_by_default(stack, make_client):
    """Exemptions are the operator's decision: by default a loopback client is limited like any other (a proxy on
    the same host would otherwise make every client the exempt 127.0.0.1); `kanazawa-dao up` exempts this machine
    on the devnet explicitly."""
    assert Settings.model_fields["rate_limit_exempt_clients"].default == []
    defaults = {"rate_limit_exempt_clients": Settings.model_fields["rate_limit_exempt_clients"].default}
    for ip in ("127.0.0.1", "::1"):
        client = make_client(ip, **defaults)
        assert [_anonymous_write(client).status_code for _ in range(CLIENT_BURST + 1)][-1] == 429
    devnet = {"rate_limit_exempt_clients": ["127.0.0.0/8", "::1", "local"]}  # what `up` sets
    for ip in ("127.0.0.1", "::1", "testclient"):  # the last: no IP address at all (in-process)
        client = make_client(ip, **devnet)
        assert [_anonymous_write(client).status_code for _ in range(CLIENT_BURST + 2)] == [401] * (CLIENT_BURST + 2)


def test_a_forwarded_for_header_moves_nobody_without_a_trusted_proxy(make_client):
    """With no trusted proxy configured, X-Forwarded-For is ignored: a forged header does not give a client a
    fresh bucket."""
    client = make_client("203.0.113.80")
    statuses = [client.post("/issues", json=ISSUE, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(CLIENT_BURST + 1)]
    assert statuses[-1] == 429, statuses


def test_nonces_are_limited_per_client(make_client):
    """GET /auth/nonce stores every nonce it hands out: it takes from the client's bucket like a write."""
    client = make_client("203.0.113.81")
    statuses = [client.get("/auth/nonce").status_code for _ in range(CLIENT_BURST + 1)]
    assert statuses[:CLIENT_BURST] == [200] * CLIENT_BURST
    _limited(client.get("/auth/nonce"), "this client")


def test_the_off_switch_and_zero_limits(make_client):
    off = make_client("203.0.113.70", rate_limit_enabled=False)
    assert {_anonymous_write(off).status_code for _ in range(CLIENT_BURST + 2)} == {401}
    no_client_limit = make_client("203.0.113.71", rate_limit_per_client=0)
    assert {_anonymous_write(no_client_limit).status_code for _ in range(CLIENT_BURST + 2)} == {401}


def test_the_openapi_description_documents_429_on_writes_only(stack):
    spec = stack.api.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("post", "put", "patch", "delete") or (method, path) == ("get", "/auth/nonce"):
                limited = op["responses"]["429"]
                assert limited["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
                assert "Retry-After" in limited["headers"], (method, path)
            else:
                assert "429" not in op["responses"], (method, path)


def test_bad_settings_are_refused_at_start(stack):
    for setting in ("rate_limit_trusted_proxies", "rate_limit_exempt_clients"):
        with pytest.raises(ValueError, match=setting):
            create_app(stack.settings.model_copy(update={setting: ["proxy.example"]}), services=stack.services)
