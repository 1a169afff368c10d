"""The FastAPI application: `create_app(settings)`. Routes live in frontend_api/routes/<resource>.py, pages for
people in frontend_api/pages/<site>/ (the results pages), errors are
RFC 9457 problem documents (frontend_api/problems.py), request bodies are size-limited (frontend_api/limits.py),
writes are rate-limited per client and per address (frontend_api/ratelimit.py), anonymous public reads are
cached while the database does not change (frontend_api/cache.py), security headers and the same-origin rule for
cookie-authenticated writes hold for every route (frontend_api/security.py).

Served by `kanazawa-dao serve`; the OpenAPI description is at /openapi.json (front ends generate clients from it).
"""

from __future__ import annotations

import importlib
import pkgutil
from contextlib import asynccontextmanager

from fastapi import FastAPI

import frontend_api.pages
import frontend_api.routes
from backend.config import Settings
from backend.db import data_version
from backend.services import auth
from backend.services.context import Dispatch, Services
from frontend_api import problems
from frontend_api.cache import ReadCache
from frontend_api.limits import BodyLimit
from frontend_api.ratelimit import RateLimit, check_settings
from frontend_api.security import SameOriginWrites, SecurityHeaders

API_VERSION = "1.0.0"

DESCRIPTION = """\
The Kanazawa culture co-creation DAO. Residents and the relationship population (関係人口) vote on proposals about
culture and town planning; cultural organisations issue membership cards and badges; proposals grow out of local
issues; the city publishes outcomes. Members never pay gas: they sign, the service relays.

Sign in with Ethereum (EIP-4361): `GET /auth/nonce`, sign the message, `POST /auth/verify`, then send
`Authorization: Bearer <token>`. Every error is an RFC 9457 problem document (`application/problem+json`).
"""


def _data_version(svc: Services):
    """backend/db.py `data_version` of the services' database, set up at the first read (not at import)."""
    reader = None

    def version() -> object:
        nonlocal reader
        if reader is None:
            reader = data_version(svc.engine) or (lambda: None)
        return reader()

    return version


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               dispatch: Dispatch | None = None) -> FastAPI:
    settings = settings or Settings()
    owned = services is None
    svc = services or Services(settings, dispatch=dispatch or _celery_dispatch(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if owned:
            svc.close()

    # /docs and /redoc are frontend_api/routes/docs.py: their scripts served from here, under a CSP.
    app = FastAPI(title="Kanazawa co-creation DAO API", version=API_VERSION, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.services = svc
    problems.install(app)
    for router in _routers():
        app.include_router(router)
    if settings.rate_limit_enabled:  # added first, so it runs inside BodyLimit and reads only bounded bodies
        check_settings(settings.rate_limit_trusted_proxies, settings.rate_limit_exempt_clients)
        app.add_middleware(RateLimit, per_client=settings.rate_limit_per_client,
                           client_burst=settings.rate_limit_client_burst, per_address=settings.rate_limit_per_address,
                           address_burst=settings.rate_limit_address_burst,
                           webhooks_per_client=settings.rate_limit_webhooks_per_client,
                           webhook_burst=settings.rate_limit_webhook_burst,
                           trusted_proxies=settings.rate_limit_trusted_proxies,
                           exempt_clients=settings.rate_limit_exempt_clients,
                           session_address=lambda token: auth.session_address(svc, token))
    app.add_middleware(BodyLimit, default=settings.max_body_bytes, overrides={"/issues/import": settings.max_import_bytes})
    app.add_middleware(SameOriginWrites, public_url=settings.public_url)  # before any limit or body is spent
    app.add_middleware(SecurityHeaders)  # on every answer the app gives, refusals included
    if settings.read_cache_seconds > 0:  # outermost: a hit costs no other middleware, every write passes it
        app.add_middleware(ReadCache, seconds=settings.read_cache_seconds, version=_data_version(svc))
    return app


def _routers():
    """Every module in frontend_api/routes/ with a `router` (the JSON API, one module per first path segment), then
    every site in frontend_api/pages/ (its `routes.py`), in name order: adding a resource is adding a file."""
    for info in sorted(pkgutil.iter_modules(frontend_api.routes.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"frontend_api.routes.{info.name}")
        if hasattr(module, "router"):
            yield module.router
    for info in sorted(pkgutil.iter_modules(frontend_api.pages.__path__), key=lambda i: i.name):
        if info.ispkg:
            yield importlib.import_module(f"frontend_api.pages.{info.name}.routes").router


def _celery_dispatch(settings: Settings) -> Dispatch:
    from backend.tasks.app import make_dispatch

    return make_dispatch(settings)
