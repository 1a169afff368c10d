"""Errors the services raise on purpose: what went wrong, in the domain's words. Each has a stable `slug` (the
problem type clients match on) and a `title`; none knows about HTTP. The API and the pages turn them into answers in
one place (frontend_api/problems.py `STATUS_OF`)."""

from __future__ import annotations

from typing import Any

from backend.errors import KanazawaDaoError


class ServiceError(KanazawaDaoError):
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
    """The request cannot be read as one (a malformed header, say): no field of it is at fault."""

    slug, title = "bad-request", "Bad request"


class InvalidInput(ServiceError):
    slug, title = "invalid-input", "The request is not valid"


class InvalidSignature(ServiceError):
    slug, title = "invalid-signature", "The signature does not verify"


class NotAuthenticated(ServiceError):
    slug, title = "not-authenticated", "Sign in first"


class Forbidden(ServiceError):
    slug, title = "forbidden", "Not allowed for your role"


class NotFound(ServiceError):
    slug, title = "not-found", "Not found"


class Conflict(ServiceError):
    slug, title = "conflict", "Conflicts with the current state"


class Replayed(ServiceError):
    slug, title = "replayed", "Already received"


class RefusedByChain(ServiceError):
    """The chain would refuse it (checked before accepting): the contract's custom error is named."""

    slug, title = "refused-by-chain", "The chain would refuse this"


class Unavailable(ServiceError):
    slug, title = "unavailable", "A service this request needs is unavailable"
