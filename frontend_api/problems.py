"""RFC 9457 problem details: every error the API returns is `application/problem+json` with `type`, `title`,
`status`, `detail` and, where useful, `errors` (one entry per invalid field or row)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import KanazawaDaoError
from backend.services import errors
from backend.services.errors import ServiceError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: What a caller is told when the chain, the content store or the deployment is not there (details in the log).
DEPENDENCY_DOWN = ("the chain, the content store or the deployment this request needs does not answer; nothing was "
                   "written, retry shortly (the operator's log has the details)")
PROBLEM_BASE = "https://kanazawa-dao.example/problems/"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem(status: int, slug: str, title: str, detail: str, request: Request | None = None,
            *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="kanazawa-dao"'
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers or None)


_HTTP_SLUGS = {400: ("bad-request", "Bad request"), 404: ("not-found", "Not found"),
               405: ("method-not-allowed", "Method not allowed"), 413: ("too-large", "Request too large"),
               415: ("unsupported-media-type", "Unsupported media type"), 429: ("rate-limited", "Too many requests")}


PROBLEM_STATUSES = {
    "401": "not signed in, or the sign-in was refused",
    "403": "signed in, but the role does not allow it",
    "404": "no such resource",
    "409": "conflicts with the current state, a replay, or the chain would refuse it",
    "413": "the request body is too large",
    "422": "the request is not valid (`errors` lists every invalid field)",
    "503": "the chain, the content store or the database does not answer (retry later)",
}
#: Only operations that take a request body: one that cannot be read at all (not UTF-8) is 400.
BODY_PROBLEM_STATUSES = {"400": "the request body cannot be read (not UTF-8)"}
#: Only write operations (POST, PUT, PATCH, DELETE) and the reads that store something: frontend_api/ratelimit.py.
LIMITED_READS = frozenset({"/auth/nonce"})
WRITE_PROBLEM_STATUSES = {"429": "too many requests from this client or for this address; retry after `Retry-After` seconds"}
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
RETRY_AFTER_HEADER = {"Retry-After": {"description": "seconds until a request will be accepted again",
                                      "schema": {"type": "integer", "minimum": 1}}}


def document_problems(app: FastAPI) -> None:
    """Describe the problem responses in the OpenAPI document: every operation may answer them, with
    `application/problem+json` bodies of the `Problem` schema (FastAPI's default 422 schema is replaced)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
        ref = {"$ref": "#/components/schemas/Problem"}
        for path, item in spec["paths"].items():
            for method, op in item.items():
                statuses = dict(PROBLEM_STATUSES)
                if "requestBody" in op:
                    statuses.update(BODY_PROBLEM_STATUSES)
                if method in WRITE_METHODS or (method == "get" and path in LIMITED_READS):
                    statuses.update(WRITE_PROBLEM_STATUSES)
                for status, description in sorted(statuses.items()):
                    op["responses"][status] = {"description": description,
                                               "content": {PROBLEM_MEDIA_TYPE: {"schema": ref}}}
                    if status == "429":
                        op["responses"][status]["headers"] = RETRY_AFTER_HEADER
        for unused in ("HTTPValidationError", "ValidationError"):
            spec["components"]["schemas"].pop(unused, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


#: The HTTP status of each kind of domain error (backend/services/errors.py): the one place that knows. A subclass
#: (a service's own refusal, e.g. `SignInRefused`) answers with its nearest listed ancestor's status.
STATUS_OF: dict[type[ServiceError], int] = {
    errors.BadRequest: 400, errors.InvalidInput: 422, errors.InvalidSignature: 422, errors.NotAuthenticated: 401,
    errors.Forbidden: 403, errors.NotFound: 404, errors.Conflict: 409, errors.Replayed: 409,
    errors.RefusedByChain: 409, errors.Unavailable: 503, ServiceError: 400,
}


def status_of(exc: ServiceError) -> int:
    return next(STATUS_OF[cls] for cls in type(exc).__mro__ if cls in STATUS_OF)


def install(app: FastAPI) -> None:
    document_problems(app)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        return problem(status_of(exc), exc.slug, exc.title, exc.detail, request, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = [{"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        first = errors[0] if errors else {"location": [], "message": "invalid"}
        where = ".".join(str(p) for p in first["location"])
        return problem(422, "invalid-input", "The request is not valid", f"{where}: {first['message']}", request,
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        return problem(exc.status_code, slug, title, str(exc.detail), request, headers=exc.headers)

    @app.exception_handler(KanazawaDaoError)
    async def _dao_error(request: Request, exc: KanazawaDaoError):
        # An expected failure of a dependency (no manifest, chain unreachable, content store down). Its message is
        # for the operator (it names files, folders and node URLs): the log has it, the answer says what to do.
        log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem(503, "unavailable", "A service this request needs is unavailable", DEPENDENCY_DOWN, request,
                       headers={"Retry-After": "5"})

    async def _database_away(request: Request, exc: Exception):
        # The database restarting, unreachable, or (SQLite) locked past the timeout: the request wrote nothing (its
        # transaction was rolled back) and may simply be sent again, so 503 like any dependency, not a 500
        # (tests/faults/test_postgres_restart.py). The driver's message may name hosts: it goes to the log only.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem(503, "unavailable", "A service this request needs is unavailable",
                       "the database does not answer; nothing was written, retry shortly", request,
                       headers={"Retry-After": "2"})

    app.add_exception_handler(OperationalError, _database_away)
    app.add_exception_handler(InterfaceError, _database_away)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        return problem(500, "internal-error", "Internal error",
                       "the request failed unexpectedly; it has been logged", request)
