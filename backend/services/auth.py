"""Sign-In with Ethereum (EIP-4361) with the `siwe` package, and the sessions it opens.

Checked on verify: the nonce is one we issued, unexpired and unused (it is burnt by the first attempt, valid or
not); domain and URI name this service (`public_url`); the chain id is ours; issued-at is not in the future and
not older than a nonce lives; expiration / not-before hold; the signature is the address's (EOA), or the address
is a contract wallet that accepts it (EIP-1271, asked through the chain).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import siwe
from sqlalchemy import update
from web3 import HTTPProvider

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
    try:
        parsed = siwe.SiweMessage.from_message(message)
    except Exception as exc:  # noqa: BLE001 - the grammar and pydantic raise many kinds
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200] or "it does not follow the grammar"
        raise InvalidInput(f"not an EIP-4361 sign-in message: {reason}") from None

    now = utcnow()
    # Burn the nonce first, atomically: a replay, or a second try with the same nonce, finds it used.
    with services.transaction() as session:
        burnt = session.execute(
            update(SiweNonce).where(SiweNonce.nonce == parsed.nonce, SiweNonce.used_at.is_(None),
                                    SiweNonce.expires_at > now).values(used_at=now)).rowcount
    if burnt != 1:
        raise SignInRefused("the nonce is unknown, expired or already used: get a new one from GET /auth/nonce")

    domain = expected_domain(settings.public_url)
    if parsed.domain != domain:
        raise SignInRefused(f"the message is for {parsed.domain!r}, this service is {domain!r}")
    if not str(parsed.uri).startswith(settings.public_url.rstrip("/")):
        raise SignInRefused(f"the message's URI {parsed.uri} is not under {settings.public_url}")
    if parsed.chain_id != services.chain_id:
        raise SignInRefused(f"the message is for chain {parsed.chain_id}, this service runs on chain {services.chain_id}")
    issued = parsed.issued_at._datetime
    if issued > now + CLOCK_SKEW:
        raise SignInRefused("the message's issued-at is in the future")
    if issued < now - dt.timedelta(seconds=settings.siwe_nonce_ttl) - CLOCK_SKEW:
        raise SignInRefused("the message was issued too long ago: sign a new one")
    try:
        parsed.verify(signature, domain=domain, nonce=parsed.nonce, timestamp=now,
                      provider=HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 10}))
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
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.timezone.utc)
        return row.address if expires > utcnow() else None


def logout(services: Services, token: str) -> bool:
    with services.transaction() as session:
        return session.execute(update(ApiSession).where(ApiSession.token_hash == _token_hash(token),
                                                        ApiSession.revoked_at.is_(None))
                               .values(revoked_at=utcnow())).rowcount == 1
