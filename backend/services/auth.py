"""Sign-In with Ethereum (EIP-4361) with the `siwe` package, and the sessions it opens.

Checked on verify, cheapest first, so that a hostile message costs microseconds and writes nothing:
1. the size (`MAX_MESSAGE_CHARS`), then the message's lines, parsed in one linear pass (`parse_message`; siwe's
   ABNF parser is super-linear: a 4,000-character message took seconds of CPU);
2. what the message says against what this service expects, after parsing (EIP-4361 "Verifying a signed
   message"): the domain is this service's authority, the scheme, if present, is its scheme, the URI's scheme,
   host and port are this service's (parsed, not prefix-matched: `http://host@evil.example` names evil.example),
   the chain id is ours, issued-at is not in the future nor older than a nonce lives, expiration / not-before hold;
3. the nonce: one we issued, unexpired and unused; burnt by this attempt, whatever its signature;
4. the signature is the address's (EOA), or the address is a contract wallet that accepts it (EIP-1271, asked
   through the chain).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import siwe
from sqlalchemy import delete, or_, update

from backend.models._common import utcnow
from backend.models.auth import ApiSession, SiweNonce
from backend.services.context import Services
from backend.services.errors import InvalidInput, NotAuthenticated

CLOCK_SKEW = dt.timedelta(seconds=60)


class SignInRefused(NotAuthenticated):
    slug, title = "sign-in-refused", "Sign-in refused"


@dataclass(frozen=True)
class SignedIn:
    token: str
    address: str
    expires_at: dt.datetime


def expected_domain(public_url: str) -> str:
    return urlsplit(public_url).netloc


#: The longest sign-in message accepted, in characters. EIP-4361 messages are a dozen short lines; a statement and
#: a few resources (EIP-5573 capabilities included) stay well below this. Longer ones are refused before parsing.
MAX_MESSAGE_CHARS = 4000

_HEADER = re.compile(r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*)://)?(?P<domain>[^/?#\s]+) "
                     r"wants you to sign in with your Ethereum account:")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
#: The fields after the statement, in the order EIP-4361 fixes; (name, label, required).
_FIELDS = (("uri", "URI", True), ("version", "Version", True), ("chain_id", "Chain ID", True),
           ("nonce", "Nonce", True), ("issued_at", "Issued At", True), ("expiration_time", "Expiration Time", False),
           ("not_before", "Not Before", False), ("request_id", "Request ID", False))


def parse_message(message: str) -> siwe.SiweMessage:
    """Parse an EIP-4361 message in one pass over its lines (linear in its length), into siwe's model, whose
    validators check each value (EIP-55 address, URI, ISO 8601 times, nonce). The result serialises back to exactly
    `message`, or the message is refused: what is verified below is what was signed, byte for byte.
    InvalidInput (422) names what is wrong."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise InvalidInput(f"the sign-in message is {len(message)} characters; at most {MAX_MESSAGE_CHARS} are "
                           "accepted", field="message")
    lines = message.split("\n")

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(f"not an EIP-4361 sign-in message: {why}", field="message")

    header = _HEADER.fullmatch(lines[0])
    if header is None:
        raise refuse("the first line must be '<domain> wants you to sign in with your Ethereum account:'")
    if len(lines) < 9 or not _ADDRESS.fullmatch(lines[1]) or lines[2] != "":
        raise refuse("the second line must be the address, followed by an empty line")
    fields: dict = {"scheme": header["scheme"], "domain": header["domain"], "address": lines[1]}
    at = 3
    if lines[at] != "":  # a statement: one line, then an empty line
        fields["statement"] = lines[at]
        at += 1
    if lines[at] != "":
        raise refuse("the statement must be one line, followed by an empty line")
    at += 1
    for name, label, required in _FIELDS:
        prefix = f"{label}: "
        if at < len(lines) and lines[at].startswith(prefix):
            fields[name] = lines[at][len(prefix):]
            at += 1
        elif required:
            raise refuse(f"line {at + 1} must be '{prefix}...'")
    if at < len(lines):
        if lines[at] != "Resources:":
            raise refuse(f"line {at + 1} is not a field of a sign-in message")
        resources = [line[2:] for line in lines[at + 1:] if line.startswith("- ")]
        if not resources or len(resources) != len(lines) - at - 1:
            raise refuse("'Resources:' must be followed by lines '- <URI>'")
        fields["resources"] = resources
    try:
        parsed = siwe.SiweMessage(**fields)
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError and the ISO 8601 parser's errors
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise refuse(reason) from None
    if parsed.prepare_message() != message:
        raise refuse("it is not in the canonical EIP-4361 form (a field spelled differently)")
    return parsed


def _origin(url: SplitResult) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme.lower())
    return url.scheme.lower(), (url.hostname or "").lower(), url.port or default


def check_message(services: Services, parsed: siwe.SiweMessage, now: dt.datetime) -> None:
    """Refuse (SignInRefused) a message that does not name this service, its chain and the present: step 2 of the
    module notes. Pure: no database, no chain."""
    settings = services.settings
    public = urlsplit(settings.public_url)
    domain = expected_domain(settings.public_url)
    if parsed.domain.lower() != domain.lower():
        raise SignInRefused(f"the message is for {parsed.domain!r}, this service is {domain!r}")
    if parsed.scheme is not None and parsed.scheme.lower() != public.scheme.lower():
        raise SignInRefused(f"the message names the scheme {parsed.scheme!r}, this service is served over "
                            f"{public.scheme!r}")
    try:
        uri = urlsplit(str(parsed.uri))
        origin = _origin(uri)
    except ValueError:  # a port out of range
        raise SignInRefused(f"the message's URI {parsed.uri} is not a URI of this service") from None
    base_path = public.path.rstrip("/")
    if ("@" in uri.netloc or origin != _origin(public)
            or not (uri.path == base_path or uri.path.startswith(base_path + "/") or (not base_path and not uri.path))):
        raise SignInRefused(f"the message's URI {parsed.uri} is not a URI of this service ({settings.public_url})")
    if parsed.chain_id != services.chain_id:
        raise SignInRefused(f"the message is for chain {parsed.chain_id}, this service runs on chain {services.chain_id}")
    issued = parsed.issued_at._datetime
    if issued > now + CLOCK_SKEW:
        raise SignInRefused("the message's issued-at is in the future")
    if issued < now - dt.timedelta(seconds=settings.siwe_nonce_ttl) - CLOCK_SKEW:
        raise SignInRefused("the message was issued too long ago: sign a new one")
    if parsed.expiration_time is not None and now >= parsed.expiration_time._datetime:
        raise SignInRefused("the message has expired")
    if parsed.not_before is not None and now <= parsed.not_before._datetime:
        raise SignInRefused("the message is not valid yet (not-before)")


def new_nonce(services: Services) -> tuple[str, dt.datetime]:
    nonce = siwe.generate_nonce()
    expires = utcnow() + dt.timedelta(seconds=services.settings.siwe_nonce_ttl)
    with services.transaction() as session:
        session.add(SiweNonce(nonce=nonce, expires_at=expires))
    return nonce, expires


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def verify(services: Services, message: str, signature: str) -> SignedIn:
    settings = services.settings
    parsed = parse_message(message)
    now = utcnow()
    check_message(services, parsed, now)

    # Burn the nonce, atomically: a replay, or a second try with the same nonce, finds it used.
    with services.transaction() as session:
        burnt = session.execute(
            update(SiweNonce).where(SiweNonce.nonce == parsed.nonce, SiweNonce.used_at.is_(None),
                                    SiweNonce.expires_at > now).values(used_at=now)).rowcount
    if burnt != 1:
        raise SignInRefused("the nonce is unknown, expired or already used: get a new one from GET /auth/nonce")

    try:
        # The service's own provider (its JSON-RPC transport) for the EIP-1271 check of a contract wallet.
        parsed.verify(signature, nonce=parsed.nonce, timestamp=now, provider=services.chain.w3.provider)
    except siwe.ExpiredMessage:
        raise SignInRefused("the message has expired") from None
    except siwe.NotYetValidMessage:
        raise SignInRefused("the message is not valid yet (not-before)") from None
    except siwe.VerificationError as exc:
        raise SignInRefused(f"the signature does not verify for {parsed.address} ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - malformed hex and similar
        raise SignInRefused(f"the signature does not verify for {parsed.address} ({exc})") from None

    token = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(seconds=settings.session_ttl)
    if parsed.expiration_time is not None:
        expires = min(expires, parsed.expiration_time._datetime)
    with services.transaction() as session:
        session.add(ApiSession(token_hash=_token_hash(token), address=parsed.address, chain_id=parsed.chain_id,
                               expires_at=expires))
    return SignedIn(token, parsed.address, expires)


def session_address(services: Services, token: str) -> str | None:
    """The address of a live session, or None."""
    with services.session() as session:
        row = session.get(ApiSession, _token_hash(token))
        if row is None or row.revoked_at is not None:
            return None
        return row.address if row.expires_at > utcnow() else None


def logout(services: Services, token: str) -> bool:
    with services.transaction() as session:
        return session.execute(update(ApiSession).where(ApiSession.token_hash == _token_hash(token),
                                                        ApiSession.revoked_at.is_(None))
                               .values(revoked_at=utcnow())).rowcount == 1


#: How long used or expired nonces and ended sessions are kept (for a look at recent sign-ins), then deleted.
KEEP_ENDED = dt.timedelta(hours=24)


def forget_ended(services: Services) -> int:
    """Delete nonces and sessions that ended more than KEEP_ENDED ago (a sweep hook of the worker): nonces are
    handed to anyone who asks, so without this their table only grows. Returns how many rows went."""
    cutoff = utcnow() - KEEP_ENDED
    with services.transaction() as session:
        nonces = session.execute(delete(SiweNonce).where(or_(SiweNonce.expires_at < cutoff,
                                                             SiweNonce.used_at < cutoff))).rowcount
        sessions = session.execute(delete(ApiSession).where(or_(ApiSession.expires_at < cutoff,
                                                                ApiSession.revoked_at < cutoff))).rowcount
    return nonces + sessions
