"""The API as an outside client meets it, against the standards' own rules: a ballot the chain would refuse is never
accepted (or is normalised first), a ballot or claim that fails after it was accepted never locks its signer out,
and Sign-In with Ethereum checks the scheme and the URI as EIP-4361 says ("the domain and, if present, the scheme,
in the message MUST correspond to the origin"; the message "MUST be checked for conformance ... against expected
values after parsing")."""

from __future__ import annotations

import time

from eth_account import Account
from sqlalchemy import func, select

from backend.chain import eip712
from backend.models.auth import SiweNonce
from backend.models.relay import RelayJob
from backend.services.ballots import _separator
from tests.api_stack import problem as _problem
from tests.api_stack import sign_text, siwe_message
from tests.dao import AGAINST, CULTURE, FOR, ISSUER_ROLE, RESIDENT

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141




def _jobs(stack) -> int:
    with stack.services.session() as session:
        return session.scalar(select(func.count()).select_from(RelayJob))


def _active(stack, description: str):
    proposal = stack.dao.propose(description, CULTURE)
    stack.dao.start_voting(proposal)
    return proposal


def _with_v(ballot: dict, v: int) -> dict:
    raw = bytes.fromhex(ballot["signature"][2:])
    return {**ballot, "signature": "0x" + (raw[:64] + bytes([v])).hex()}


# ---------------------------------------------------------------------- signatures the chain would refuse


def test_a_v_0_or_1_ballot_is_the_same_ballot_and_lands(stack):
    """Some wallets give v as 0/1 (the parity) instead of 27/28; OpenZeppelin's ECDSA (ecrecover) accepts only
    27/28. The API rewrites v, so the ballot lands; the same ballot spelled either way is one job."""
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active(stack, "Conformance: v as parity")
    ballot = stack.ballot(proposal.proposal_id, voter, FOR)
    parity = _with_v(ballot, bytes.fromhex(ballot["signature"][2:])[64] - 27)
    first = stack.api.post("/ballots", json=parity)
    assert first.status_code == 202, first.text
    again = stack.api.post("/ballots", json=ballot)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert stack.wait_job(first.json()["id"])["status"] == "confirmed"
    assert stack.dao.governor.functions.hasVoted(proposal.proposal_id, voter.address).call()


def test_whoever_posts_a_flipped_v_first_cannot_silence_the_voter(stack):
    """The lock-out attack: someone holding a voter's signed ballot posts it with v flipped to 0/1 before the voter
    does. It is the voter's own ballot, counted as they signed it."""
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active(stack, "Conformance: lock-out attempt")
    ballot = stack.ballot(proposal.proposal_id, voter, AGAINST)
    attack = stack.api.post("/ballots", json=_with_v(ballot, bytes.fromhex(ballot["signature"][2:])[64] - 27))
    genuine = stack.api.post("/ballots", json=ballot)
    assert genuine.status_code in (200, 202) and genuine.json()["id"] == attack.json()["id"]
    assert stack.wait_job(genuine.json()["id"])["status"] == "confirmed"
    assert stack.dao.tallies(proposal)[RESIDENT] == (1, 0, 0)


def test_signatures_no_rewriting_makes_acceptable_are_refused_naming_the_field(stack):
    """EIP-2098 compact (64-byte) signatures, v outside 0/1/27/28, s in the upper half (OpenZeppelin refuses
    malleable signatures) and a signature of the right digest by the wrong key: 422 naming `signature`, nothing
    written, and the voter's correct ballot afterwards is accepted."""
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active(stack, "Conformance: refused signatures")
    ballot = stack.ballot(proposal.proposal_id, voter, FOR)
    raw = bytes.fromhex(ballot["signature"][2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    compact = r + ((v - 27) << 255 | s).to_bytes(32, "big")  # EIP-2098: yParity in the top bit of s
    other = Account.create()
    digest = eip712.ballot_digest(_separator(stack.services), proposal_id=proposal.proposal_id, support=FOR,
                                  voter=voter.address, nonce=int(ballot["nonce"]))
    digest_by_other = "0x" + bytes(other.unsafe_sign_hash(digest).signature).hex()
    before = _jobs(stack)
    for signature, words in (("0x" + compact.hex(), "EIP-2098"),
                             ("0x" + (raw[:64] + bytes([29])).hex(), "out of range"),
                             ("0x" + (r + (N - s).to_bytes(32, "big") + bytes([55 - v])).hex(), "upper half"),
                             (digest_by_other, other.address)):
        body = _problem(stack.api.post("/ballots", json={**ballot, "signature": signature}), 422, "invalid-signature")
        assert words in body["detail"], body
        assert body["errors"][0]["location"] == ["body", "signature"]
    assert _jobs(stack) == before
    accepted = stack.api.post("/ballots", json=ballot)
    assert accepted.status_code == 202, accepted.text
    assert stack.wait_job(accepted.json()["id"])["status"] == "confirmed"


# ---------------------------------------------------------------------- failing after 202 never locks anyone out


def test_proposal_closed_before_relay_frees_the_nonce(stack):
    """Accepted while Active, the deadline passes before the worker relays it: the job fails with the governor's
    reason, and the voter's next ballot, signed for the same on-chain nonce, is accepted and lands. The failed
    ballot posted again is refused (the proposal is closed), and nothing is written for it."""
    voter = stack.dao.members([RESIDENT])[0]
    closing = _active(stack, "Conformance: closes before relay")
    stack.stop_worker()
    try:
        late = stack.ballot(closing.proposal_id, voter, FOR)
        job = stack.api.post("/ballots", json=late)
        assert job.status_code == 202
        stack.dao.end_voting(closing)
        later = _active(stack, "Conformance: the next proposal")
    finally:
        stack.start_worker()
    failed = stack.wait_job(job.json()["id"])
    assert failed["status"] == "failed" and "GovernorUnexpectedProposalState" in failed["error"], failed
    before = _jobs(stack)
    _problem(stack.api.post("/ballots", json=late), 409, "refused-by-chain")
    assert _jobs(stack) == before
    nxt = stack.ballot(later.proposal_id, voter, AGAINST)
    assert nxt["nonce"] == late["nonce"]  # the failed ballot held nothing
    accepted = stack.api.post("/ballots", json=nxt)
    assert accepted.status_code == 202, accepted.text
    assert stack.wait_job(accepted.json()["id"])["status"] == "confirmed"
    assert stack.dao.tallies(later)[RESIDENT] == (1, 0, 0)


def test_an_earlier_failed_ballot_fails_the_later_one_in_words_and_signing_again_works(stack):
    """Two ballots of one voter in flight (nonces 0 and 1); the first fails for good, so the second's signature,
    for nonce 1, can never verify. It fails saying so, and the voter's ballot signed again (nonce 0) lands."""
    voter = stack.dao.members([RESIDENT])[0]
    first = _active(stack, "Conformance: first of two")
    stack.dao.wait_seconds(20)
    second = _active(stack, "Conformance: second of two")  # its deadline is 20 s after the first's
    stack.stop_worker()
    try:
        a = stack.api.post("/ballots", json=stack.ballot(first.proposal_id, voter, FOR))
        b = stack.api.post("/ballots", json=stack.ballot(second.proposal_id, voter, FOR))
        assert (a.status_code, b.status_code) == (202, 202)
        stack.dao.end_voting(first)
        assert stack.dao.state(second) == "Active"
    finally:
        stack.start_worker()
    assert stack.wait_job(a.json()["id"])["status"] == "failed"
    failed = stack.wait_job(b.json()["id"])
    assert failed["status"] == "failed" and "sign the ballot again" in failed["error"], failed
    again = stack.ballot(second.proposal_id, voter, FOR)
    assert again["nonce"] == "0"
    accepted = stack.api.post("/ballots", json=again)
    assert accepted.status_code == 202, accepted.text
    assert stack.wait_job(accepted.json()["id"])["status"] == "confirmed"


def test_a_voter_who_voted_directly_meanwhile_is_not_blocked_later(stack):
    """The voter casts their vote themselves (castVote, with their own ETH) while the relayed ballot waits: the job
    fails (GovernorAlreadyCastVote) and their next relayed ballot, with the same nonce, is accepted."""
    voter = stack.dao.members([RESIDENT])[0]
    stack.dao.fund(voter)
    here, there = _active(stack, "Conformance: voted directly"), None
    stack.stop_worker()
    try:
        job = stack.api.post("/ballots", json=stack.ballot(here.proposal_id, voter, FOR))
        assert job.status_code == 202
        stack.dao.client.transact(stack.dao.governor.functions.castVote(here.proposal_id, AGAINST), voter)
        there = _active(stack, "Conformance: after voting directly")
    finally:
        stack.start_worker()
    failed = stack.wait_job(job.json()["id"])
    assert failed["status"] == "failed" and "GovernorAlreadyCastVote" in failed["error"], failed
    accepted = stack.api.post("/ballots", json=stack.ballot(there.proposal_id, voter, FOR))
    assert accepted.status_code == 202, accepted.text
    assert stack.wait_job(accepted.json()["id"])["status"] == "confirmed"
    assert stack.dao.tallies(here)[RESIDENT] == (1, 0, 0)  # the direct vote, once


def test_a_card_revoked_after_the_snapshot_still_counts(stack):
    """The governor counts the card held at the proposal's snapshot (CityGovernor `_countVote`): a card revoked
    after it, while the ballot waits to be relayed, does not fail the ballot."""
    voter = stack.dao.members([RESIDENT])[0]
    proposal = _active(stack, "Conformance: revoked after the snapshot")
    stack.stop_worker()
    try:
        job = stack.api.post("/ballots", json=stack.ballot(proposal.proposal_id, voter, FOR))
        assert job.status_code == 202
        stack.dao.client.transact(stack.dao.card.functions.revoke(voter.address), stack.dao.issuer)
    finally:
        stack.start_worker()
    assert stack.wait_job(job.json()["id"])["status"] == "confirmed"
    assert stack.dao.tallies(proposal)[RESIDENT] == (0, 1, 0)


def test_a_claim_that_failed_does_not_block_the_invitation_nonce(stack):
    """A claim accepted, then refused on chain (the issuer lost its role before the relay): once the issuer may
    issue again, the same invitation is accepted afresh and lands; an issuer signature with v 0/1 is rewritten."""
    invitee = Account.create()
    invitation, signature = stack.dao.invitation(invitee.address, RESIDENT, nonce=77_001)
    body = {"invitation": {**invitation, "nonce": str(invitation["nonce"]), "expiry": str(invitation["expiry"])},
            "signature": "0x" + (signature[:64] + bytes([signature[64] - 27])).hex()}
    card, city, issuer = stack.dao.card, stack.dao.city, stack.dao.issuer
    stack.stop_worker()
    try:
        job = stack.api.post("/claims", json=body)
        assert job.status_code == 202, job.text
        stack.dao.client.transact(card.functions.revokeRole(ISSUER_ROLE, issuer.address), city)
    finally:
        stack.start_worker()
    try:
        failed = stack.wait_job(job.json()["id"])
        assert failed["status"] == "failed" and "MembershipCardInvalidIssuer" in failed["error"], failed
    finally:
        stack.dao.client.transact(card.functions.grantRole(ISSUER_ROLE, issuer.address), city)
    again = stack.api.post("/claims", json=body)
    assert again.status_code == 202 and again.json()["id"] != job.json()["id"], again.text
    assert stack.wait_job(again.json()["id"])["status"] == "confirmed"
    assert card.functions.balanceOf(invitee.address).call() == 1


def test_claim_numbers_out_of_range_are_422(stack):
    invitee = Account.create()
    invitation, signature = stack.dao.invitation(invitee.address, RESIDENT, nonce=77_002)
    for field in ("nonce", "expiry"):
        body = {"invitation": {**invitation, "nonce": str(invitation["nonce"]), "expiry": str(invitation["expiry"]),
                               field: str(2**256)}, "signature": "0x" + signature.hex()}
        problem = _problem(stack.api.post("/claims", json=body), 422, "invalid-input")
        assert problem["errors"][0]["location"] == ["body", "invitation", field]


# ---------------------------------------------------------------------- Sign-In with Ethereum: scheme and URI


def _nonce(stack) -> str:
    return stack.api.get("/auth/nonce").json()["nonce"]


def _verify(stack, message: str, account):
    response = stack.api.post("/auth/verify", json={"message": message, "signature": sign_text(account, message)})
    stack.api.cookies.clear()
    return response


def _unused(stack, nonce: str) -> bool:
    with stack.services.session() as session:
        return session.get(SiweNonce, nonce).used_at is None


def test_the_scheme_of_the_message_must_be_the_services(stack):
    """This service is `http://testserver`: a message whose first line names `https://testserver` is refused, one
    naming `http://` is accepted, and one without a scheme is accepted (EIP-4361: the scheme is optional)."""
    account = Account.create()
    nonce = _nonce(stack)
    https = "https://" + siwe_message(account.address, nonce)
    assert "scheme" in _problem(_verify(stack, https, account), 401, "sign-in-refused")["detail"]
    assert _unused(stack, nonce)  # refused before the nonce: the genuine message still works
    assert _verify(stack, "http://" + siwe_message(account.address, nonce), account).status_code == 200
    assert _verify(stack, siwe_message(account.address, _nonce(stack)), account).status_code == 200


def test_an_http_message_to_an_https_service_is_refused(stack):
    from backend.services import auth
    from backend.services.errors import ServiceError
    from frontend_api.problems import status_of

    account = Account.create()
    secure = stack.settings.model_copy(update={"public_url": "https://testserver"})

    class AsHttps:  # the same services, as an https deployment sees them
        settings, chain_id = secure, stack.services.chain_id

    for message, refused in (("http://" + siwe_message(account.address, "abcdefgh12", uri="https://testserver"), True),
                             ("https://" + siwe_message(account.address, "abcdefgh12", uri="https://testserver"), False),
                             (siwe_message(account.address, "abcdefgh12", uri="http://testserver"), True)):
        parsed = auth.parse_message(message)
        try:
            auth.check_message(AsHttps, parsed, auth.utcnow())
            outcome = False
        except ServiceError as exc:
            assert status_of(exc) == 401
            outcome = True
        assert outcome is refused, message


def test_uris_whose_authority_is_not_the_service_are_refused(stack):
    """Parsed and compared (scheme, host, port), never prefix-matched: userinfo that hides another host, a longer
    host name, another port or scheme."""
    account = Account.create()
    for uri in ("http://testserver@evil.example/login", "http://user:pw@testserver/login",
                "http://testserver.evil.example/", "http://testserver:8443/", "https://testserver/",
                "http://evil.example/?next=http://testserver/", "ftp://testserver/"):
        nonce = _nonce(stack)
        body = _problem(_verify(stack, siwe_message(account.address, nonce, uri=uri), account), 401, "sign-in-refused")
        assert "URI" in body["detail"], (uri, body)
        assert _unused(stack, nonce), uri
    for uri in ("http://testserver", "http://testserver/", "http://TESTSERVER:80/members/login?x=1"):
        assert _verify(stack, siwe_message(account.address, _nonce(stack), uri=uri), account).status_code == 200, uri


def test_worst_sign_in_message_of_the_allowed_size_answers_in_milliseconds(stack):
    """EIP-4361 messages are parsed in one linear pass: the probe's 3,990 characters of junk, and the longest
    well-formed message allowed (a 3,700-character statement), answer fast, with no nonce spent."""
    from backend.services.auth import MAX_MESSAGE_CHARS

    account = Account.create()
    nonce = _nonce(stack)
    message = siwe_message(account.address, nonce)
    longest = message.replace("Sign in to the Kanazawa co-creation DAO.",
                              "y" * (MAX_MESSAGE_CHARS - len(message) + len("Sign in to the Kanazawa co-creation DAO.")))
    assert len(longest) == MAX_MESSAGE_CHARS
    cases = [("x" * 3990, "0x"), ("x" * MAX_MESSAGE_CHARS, "0x"), ("\n" * MAX_MESSAGE_CHARS, "0x"),
             (("a wants you to sign in with your Ethereum account:\n" * 80)[:MAX_MESSAGE_CHARS], "0x"),
             (longest.replace("URI: http://testserver", "URI: http://evilserver"), sign_text(account, longest))]
    for text, signature in cases:
        started = time.perf_counter()
        response = stack.api.post("/auth/verify", json={"message": text, "signature": signature})
        elapsed = time.perf_counter() - started
        assert response.status_code in (401, 422), response.text
        assert elapsed < 0.25, (elapsed, text[:60])  # the probe's input took 12-22 s before
    assert _unused(stack, nonce)
    assert _verify(stack, longest, account).status_code == 200
