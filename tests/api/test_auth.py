"""Sign-In with Ethereum: a valid sign-in opens a session (bearer and cookie) whose roles come from the indexed
chain; every kind of bad sign-in is refused with a problem document."""

from __future__ import annotations

import datetime as dt

from eth_account import Account

from tests.api_stack import sign_text, siwe_message
from tests.dao import RESIDENT


def _nonce(stack) -> str:
    response = stack.api.get("/auth/nonce")
    assert response.status_code == 200
    return response.json()["nonce"]


def _verify(stack, message: str, signature: str):
    return stack.api.post("/auth/verify", json={"message": message, "signature": signature})


def test_sign_in_opens_a_session_with_roles_from_the_chain(stack):
    member = stack.dao.issue(RESIDENT)
    stack.index()
    headers = stack.sign_in(member)
    me = stack.api.get("/auth/me", headers=headers).json()
    assert me["address"] == member.address
    assert me["roles"] == ["member"] and me["segment"] == RESIDENT

    city = stack.sign_in(stack.dao.city)
    assert "city" in stack.api.get("/auth/me", headers=city).json()["roles"]

    anyone = stack.sign_in(Account.create())
    assert stack.api.get("/auth/me", headers=anyone).json()["roles"] == []


def test_cookie_session_and_logout(stack):
    account = Account.create()
    nonce = _nonce(stack)
    message = siwe_message(account.address, nonce)
    response = _verify(stack, message, sign_text(account, message))
    assert response.status_code == 200
    assert "kanazawa_dao_session" in response.cookies
    token = response.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert stack.api.get("/auth/me", headers=headers).json()["address"] == account.address
    assert stack.api.post("/auth/logout", headers=headers).status_code == 204
    assert stack.api.get("/auth/me", headers=headers).json()["address"] is None
    stack.api.cookies.clear()


def _refused(response, words: str):
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/sign-in-refused") and body["status"] == 401
    assert words in body["detail"], body["detail"]


def test_wrong_domain(stack):
    account = Account.create()
    message = siwe_message(account.address, _nonce(stack), domain="evil.example", uri="http://evil.example")
    _refused(_verify(stack, message, sign_text(account, message)), "evil.example")


def test_wrong_uri(stack):
    account = Account.create()
    message = siwe_message(account.address, _nonce(stack), uri="http://evil.example/login")
    _refused(_verify(stack, message, sign_text(account, message)), "URI")


def test_reused_nonce(stack):
    account = Account.create()
    message = siwe_message(account.address, _nonce(stack))
    signature = sign_text(account, message)
    assert _verify(stack, message, signature).status_code == 200
    _refused(_verify(stack, message, signature), "already used")


def test_unknown_nonce(stack):
    account = Account.create()
    message = siwe_message(account.address, "madeupnonce123")
    _refused(_verify(stack, message, sign_text(account, message)), "nonce")


def test_expired_message(stack):
    account = Account.create()
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    message = siwe_message(account.address, _nonce(stack), issued_at=past - dt.timedelta(minutes=1), expiration=past)
    _refused(_verify(stack, message, sign_text(account, message)), "expired")


def test_issued_in_the_future(stack):
    account = Account.create()
    message = siwe_message(account.address, _nonce(stack),
                           issued_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    _refused(_verify(stack, message, sign_text(account, message)), "future")


def test_wrong_chain(stack):
    account = Account.create()
    message = siwe_message(account.address, _nonce(stack), chain_id=1)
    _refused(_verify(stack, message, sign_text(account, message)), "chain 1")


def test_tampered_message(stack):
    account = Account.create()
    message = siwe_message(account.address, _nonce(stack))
    signature = sign_text(account, message)
    tampered = message.replace("Sign in to the Kanazawa", "Sign in to the Kanazawa (and give away everything)")
    _refused(_verify(stack, tampered, signature), "does not verify")


def test_wrong_signer(stack):
    account, other = Account.create(), Account.create()
    message = siwe_message(account.address, _nonce(stack))
    _refused(_verify(stack, message, sign_text(other, message)), "does not verify")


def test_malformed_message_and_signature(stack):
    response = _verify(stack, "hello, sign me in", "0x00")
    assert response.status_code == 422 and response.json()["type"].endswith("/invalid-input")
    response = stack.api.post("/auth/verify", json={"message": "x", "signature": "not hex"})
    assert response.status_code == 422 and response.json()["errors"][0]["location"][-1] == "signature"
