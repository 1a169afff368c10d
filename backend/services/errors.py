"""Errors the services raise on purpose. Each carries an HTTP status and a stable `type` slug so the API can answer
with an RFC 9457 problem document without knowing the service's internals."""

from __future__ import annotations

from typing import Any

from backend.errors import KanazawaDaoError


class ServiceError(KanazawaDaoError):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        """`field` names the request field at fault (dotted: `invitation.expiry`); the problem document then lists
        it under `errors`, as it lists the fields a request's schema refuses."""
        super().__init__(detail)
        self.detail = detail
        if field is not None:
            extra["errors"] = [{"location": ["body", *field.split(".")], "message": detail, "type": self.slug}]
        self.extra = extra


class BadRequest(ServiceError):
    """The request cannot be read as one (a malformed header, say): 400, not 422, since no field is at fault."""

    status, slug, title = 400, "bad-request", "Bad request"


class InvalidInput(ServiceError):
    status, slug, title = 422, "invalid-input", "The request is not valid"


class InvalidSignature(ServiceError):
    status, slug, title = 422, "invalid-signature", "The signature does not verify"


class NotAuthenticated(ServiceError):
    status, slug, title = 401, "not-authenticated", "Sign in first"


class Forbidden(ServiceError):
    status, slug, title = 403, "forbidden", "Not allowed for your role"


class NotFound(ServiceError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ServiceError):
    status, slug, title = 409, "conflict", "Conflicts with the current state"


class Replayed(ServiceError):
    status, slug, title = 409, "replayed", "Already received"


class RefusedByChain(ServiceError):
    """The chain would refuse it (checked before accepting): the contract's custom error is named."""

    status, slug, title = 409, "refused-by-chain", "The chain would refuse this"


class TooLarge(ServiceError):
    status, slug, title = 413, "too-large", "Request too large"


class Unavailable(ServiceError):
    status, slug, title = 503, "unavailable", "A service this request needs is unavailable"
