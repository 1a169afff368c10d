"""A small client of the public HTTP API, signing as a member, an organisation or the city would in a wallet.

The demo seeder drives the service through it, so the demo data takes the paths users take: Sign-In with Ethereum,
EIP-712 ballots, invitations and check-ins, HMAC-signed webhooks, relayed transactions followed to confirmation.
It is also a worked example for front-end and metaverse developers (docs/api-guide.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount


class ApiError(Exception):
    """A problem document (RFC 9457) from the API, or a transport failure."""

    def __init__(self, method: str, path: str, status: int, problem: dict[str, Any]) -> None:
        self.status, self.problem = status, problem
        super().__init__(f"{method} {path}: {status} {problem.get('title', '')}: {problem.get('detail', problem)}")


def _signature(signed: Any) -> str:
    return "0x" + bytes(signed.signature).hex()


def _typed(data: dict[str, Any], *int_fields: str) -> dict[str, Any]:
    """The API sends uint256 values as decimal strings (JSON numbers lose precision); the signer wants ints."""
    return {**data, "message": {**data["message"], **{f: int(data["message"][f]) for f in int_fields}}}


class DaoClient:
    def __init__(self, base_url: str, *, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._chain_id: int | None = None

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ plain requests

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        """Send; a 4xx/5xx answer not listed in `ok` raises ApiError with the problem document."""
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400 and response.status_code not in ok:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:300]}
            raise ApiError(method, path, response.status_code, problem)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    # ------------------------------------------------------------------ service state

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health", ok=(503,)).json()

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            chain = self.health().get("chain")
            if not chain:
                raise RuntimeError("the API cannot reach the chain (GET /health)")
            self._chain_id = chain["chain_id"]
        return self._chain_id

    def wait_indexed(self, *, timeout: float = 120) -> None:
        """Until the indexer has caught up with the chain's head: what the API reads is then what the chain says."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.health()
            indexer = report.get("indexer") or {}
            if indexer.get("lag") == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the indexer has not caught up after {timeout:.0f} s: {report}")
            time.sleep(0.3)

    def wait_job(self, job_id: str, *, timeout: float = 120) -> dict[str, Any]:
        """Follow a relayed transaction until it is confirmed; a failed job raises with the chain's reason."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/jobs/{job_id}")
            if job["status"] == "confirmed":
                return job
            if job["status"] == "failed":
                raise RuntimeError(f"relayed {job['kind']} {job_id} failed: {job['error']}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"relayed {job['kind']} {job_id} still {job['status']} after {timeout:.0f} s "
                                   "(is the worker running? see its log)")
            time.sleep(0.2)

    # ------------------------------------------------------------------ signing in

    def siwe_message(self, address: str, nonce: str) -> str:
        """An EIP-4361 message for this service: its host as the domain, its origin as the URI."""
        issued = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return "\n".join([
            f"{urlsplit(self.base_url).netloc} wants you to sign in with your Ethereum account:", address, "",
            "Sign in to the Kanazawa co-creation DAO.", "", f"URI: {self.base_url}", "Version: 1",
            f"Chain ID: {self.chain_id}", f"Nonce: {nonce}", f"Issued At: {issued}"])

    def sign_in(self, account: LocalAccount) -> dict[str, str]:
        """Headers of a session for `account` (the bearer token; the cookie is not kept)."""
        nonce = self.get("/auth/nonce")["nonce"]
        message = self.siwe_message(account.address, nonce)
        signature = _signature(account.sign_message(encode_defunct(text=message)))
        token = self.request("POST", "/auth/verify", json={"message": message, "signature": signature}).json()["token"]
        self.http.cookies.clear()
        return {"Authorization": f"Bearer {token}"}

    def roles(self, headers: dict[str, str]) -> set[str]:
        return set(self.get("/auth/me", headers=headers)["roles"])

    # ------------------------------------------------------------------ member actions (no gas, no session needed)

    def claim(self, member: LocalAccount, invitation: dict[str, Any]) -> str:
        """Claim a card with an invitation the organisation signed for `member`. Returns the relay job id."""
        assert invitation["invitation"]["invitee"] == member.address
        body = {"invitation": invitation["invitation"], "signature": invitation["signature"]}
        return self.post("/claims", json=body)["id"]

    def ballot(self, proposal_id: str, voter: LocalAccount, support: int) -> str | None:
        """Sign and submit a ballot (0 against, 1 for, 2 abstain). Returns the job id; None if already voted."""
        data = self.get("/ballots/typed-data", params={"proposal_id": proposal_id, "support": support,
                                                       "voter": voter.address})
        signature = _signature(voter.sign_message(encode_typed_data(full_message=_typed(data, "proposalId", "nonce"))))
        response = self.request("POST", "/ballots", ok=(409,), json={
            "proposal_id": proposal_id, "support": support, "voter": voter.address,
            "nonce": data["message"]["nonce"], "signature": signature})
        if response.status_code == 409:
            if response.json().get("type", "").endswith(("/already-voted", "/replayed")) or \
                    "already" in response.json().get("detail", ""):
                return None
            raise ApiError("POST", "/ballots", 409, response.json())
        return response.json()["id"]

    def check_in(self, event_id: int, attendee: LocalAccount, code: str) -> dict[str, Any]:
        data = self.get(f"/events/{event_id}/check-in-typed-data", params={"attendee": attendee.address, "code": code})
        signature = _signature(attendee.sign_message(encode_typed_data(full_message=_typed(data, "eventId", "timestamp"))))
        return self.post(f"/events/{event_id}/check-ins", json={
            "attendee": attendee.address, "code": code, "timestamp": int(data["message"]["timestamp"]),
            "signature": signature})

    # ------------------------------------------------------------------ a metaverse platform

    def webhook(self, event_id: int, secret: str, attendees: list[tuple[str, dt.datetime]]) -> dict[str, Any]:
        """Deliver attendance as the platform does: HMAC-SHA256 over `<timestamp>.<delivery id>.<raw body>`."""
        body = json.dumps({"attendees": [{"address": a, "attended_at": at.isoformat()} for a, at in attendees]},
                          separators=(",", ":")).encode()
        timestamp, delivery = str(int(time.time())), uuid.uuid4().hex
        digest = hmac.new(secret.encode(), f"{timestamp}.{delivery}.".encode() + body, hashlib.sha256).hexdigest()
        return self.post(f"/events/{event_id}/webhook", content=body, headers={
            "content-type": "application/json", "X-Kanazawa-Timestamp": timestamp,
            "X-Kanazawa-Signature": f"sha256={digest}", "X-Kanazawa-Delivery": delivery})
