"""Request dependencies: the services context and the caller's principal (from a bearer token or the session
cookie, roles from the indexed chain)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.services import auth
from backend.services.context import Services
from backend.services.roles import ANYONE, Principal, principal_of

SESSION_COOKIE = "kanazawa_dao_session"


def services(request: Request) -> Services:
    return request.app.state.services


def session_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


def principal(request: Request, svc: Services = Depends(services)) -> Principal:
    token = session_token(request)
    if not token:
        return ANYONE
    address = auth.session_address(svc, token)
    if address is None:
        return ANYONE
    with svc.session() as session:
        return principal_of(session, svc.chain_id, address)


#: Typed dependencies for routes: `def get(svc: ServicesDep, who: PrincipalDep)`.
ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(principal)]
