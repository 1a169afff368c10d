"""/auth: Sign-In with Ethereum (EIP-4361). GET /auth/nonce, POST /auth/verify, POST /auth/logout, GET /auth/me."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from backend.services import auth
from backend.services.roles import principal_of
from frontend_api.deps import SESSION_COOKIE, PrincipalDep, ServicesDep, session_token

router = APIRouter(prefix="/auth", tags=["auth"])


class NonceOut(BaseModel):
    nonce: str
    expires_at: dt.datetime
    domain: str = Field(description="the domain the sign-in message must name")
    uri: str = Field(description="the URI the sign-in message must carry")
    chain_id: int


class VerifyIn(BaseModel):
    message: str = Field(max_length=auth.MAX_MESSAGE_CHARS, description="the EIP-4361 message, exactly as signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]*$", max_length=20000)


class SessionOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; also set as an HttpOnly cookie")
    address: str
    expires_at: dt.datetime
    roles: list[str]


class MeOut(BaseModel):
    address: str | None
    roles: list[str]
    organisation_id: int | None
    segment: int | None


@router.get("/nonce", response_model=NonceOut, summary="A single-use nonce for a sign-in message")
def get_nonce(svc: ServicesDep) -> NonceOut:
    nonce, expires = auth.new_nonce(svc)
    return NonceOut(nonce=nonce, expires_at=expires, domain=auth.expected_domain(svc.settings.public_url),
                    uri=svc.settings.public_url, chain_id=svc.chain_id)


@router.post("/verify", response_model=SessionOut, summary="Sign in: verify a signed EIP-4361 message")
def verify(body: VerifyIn, response: Response, svc: ServicesDep) -> SessionOut:
    signed = auth.verify(svc, body.message, body.signature)
    response.set_cookie(SESSION_COOKIE, signed.token, httponly=True, samesite="lax",
                        secure=svc.settings.public_url.startswith("https://"),
                        max_age=int((signed.expires_at - dt.datetime.now(dt.timezone.utc)).total_seconds()))
    with svc.session() as session:
        who = principal_of(session, svc.chain_id, signed.address)
    return SessionOut(token=signed.token, address=signed.address, expires_at=signed.expires_at,
                      roles=sorted(who.roles))


@router.post("/logout", status_code=204, summary="End the current session")
def logout(request: Request, response: Response, svc: ServicesDep, who: PrincipalDep) -> Response:
    who.require_signed_in()
    token = session_token(request)
    auth.logout(svc, token)
    response.delete_cookie(SESSION_COOKIE)
    response.status_code = 204
    return response


@router.get("/me", response_model=MeOut, summary="Who the current session is, and its roles")
def me(who: PrincipalDep) -> MeOut:
    return MeOut(address=who.address, roles=sorted(who.roles), organisation_id=who.organisation_id,
                 segment=who.segment)
