"""Rendering pages for people: one `Site` per set of pages (the public results pages; later the members' app and the
consoles), each with its own templates, message catalogue and navigation, all with the same rules:

- Japanese first (`?lang=ja`, the default), English with `?lang=en`; every string from the site's catalogue;
- templates autoescaped, undefined names an error, links built relative to the site (never from the Host header);
- every error, bad input included, is a page in the reader's language, not a problem document (`Site.route_class`),
  and a dependency that does not answer is a 503 page that names no server path or node;
- answers carry the site's Content-Security-Policy.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.domain import JST
from backend.errors import KanazawaDaoError
from backend.services.errors import ServiceError
from frontend_api.problems import DEPENDENCY_DOWN, status_of

log = logging.getLogger(__name__)

LANGS = ("ja", "en")
#: Pages without any script: nothing injected could run even if escaping failed somewhere.
NO_SCRIPT_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
                    "frame-ancestors 'none'")


def lang_of(request: Request) -> str:
    value = request.query_params.get("lang")
    return value if value in LANGS else "ja"


def pick(texts: Mapping[str, str] | None, lang: str) -> tuple[str, str] | None:
    """The text in `lang`, else in the other language, with the language it is in (for the element's lang)."""
    for code in (lang, *(c for c in LANGS if c != lang)):
        if texts and isinstance(texts.get(code), str) and texts[code].strip():
            return texts[code], code
    return None


def safe_url(value: Any) -> str | None:
    """Only http(s) links become links: autoescaping does not stop a `javascript:` href."""
    try:
        return value if isinstance(value, str) and urlsplit(value).scheme.lower() in ("http", "https") else None
    except ValueError:  # e.g. a malformed IPv6 host: not a link either
        return None


def when(value: Any) -> dt.datetime | None:
    """A moment (a datetime, ISO 8601 text as the services give it, or Unix seconds of the card's clock) in Japan
    time, as every page shows it, or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, JST)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:  # stored in UTC, read back aware of it (backend/db.py UtcDateTime); naive means UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(JST)


def percent(part: int, whole: int | None) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "–"


class Site:
    """A set of pages: its templates folder, its catalogue `messages[key] = (ja, en)` and its navigation."""

    def __init__(self, *, templates: Path, messages: dict[str, tuple[str, str]], nav: tuple[tuple[str, str], ...],
                 policy: str = NO_SCRIPT_POLICY, globals: Mapping[str, Any] | None = None) -> None:
        self.templates = templates
        self.messages = messages
        self.nav = nav
        self.headers = {"Content-Security-Policy": policy, "Referrer-Policy": "same-origin"}
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["safe_url"] = safe_url
        self.env.filters["when"] = when
        self.env.filters["number"] = lambda n: f"{n:,}" if isinstance(n, int) else n
        self.env.globals["percent"] = percent
        self.env.globals.update(globals or {})

    def translator(self, lang: str) -> Callable[..., str]:
        index = LANGS.index(lang)

        def t(key: str, **values: Any) -> str:
            pair = self.messages.get(key)
            text = pair[index] if pair else key  # unknown values (a new state on chain) show as they are
            return text.format(**values) if values else text

        return t

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        lang = lang_of(request)
        other = "en" if lang == "ja" else "ja"

        def url(path: str, **params: Any) -> str:
            """A link within the pages, in the reader's language; empty parameters are left out."""
            query = {k: v for k, v in params.items() if v not in (None, "")}
            if lang != "ja":
                query["lang"] = lang
            return path + ("?" + urlencode(query) if query else "")

        context.setdefault("section", None)
        switch = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", other)]
        html = self.env.get_template(template).render(
            lang=lang, other_lang=other, t=self.translator(lang), url=url, pick=lambda texts: pick(texts, lang),
            switch_url=request.url.path + "?" + urlencode(switch), nav=self.nav, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status_code, headers=self.headers)

    def error_page(self, request: Request, status_code: int, detail: str) -> HTMLResponse:
        headline = f"error_{status_code}" if f"error_{status_code}" in self.messages else \
            ("error_400" if status_code < 500 else "error_500")
        return self.render(request, "error.html", status_code, headline=headline, detail=detail)

    def stylesheet(self, name: str = "site.css") -> Response:
        css = (self.templates / name).read_text(encoding="utf-8")
        return Response(css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "public, max-age=3600"})

    def route_class(self) -> type[APIRoute]:
        """The APIRoute class of this site's routers: errors become pages of the site."""
        site = self

        class PageRoute(APIRoute):
            def get_route_handler(self) -> Callable:
                handler = super().get_route_handler()

                async def route(request: Request) -> Response:
                    try:
                        return await handler(request)
                    except RequestValidationError as exc:
                        first = exc.errors()[0] if exc.errors() else {}
                        where = ".".join(str(p) for p in first.get("loc", ()))
                        return site.error_page(request, 422, f"{where}: {first.get('msg', 'invalid')}")
                    except ServiceError as exc:
                        return site.error_page(request, status_of(exc), exc.detail)
                    except KanazawaDaoError as exc:  # the chain or the content store does not answer
                        log.warning("page %s: dependency unavailable: %s", request.url.path, exc)
                        return site.error_page(request, 503, DEPENDENCY_DOWN)
                    except StarletteHTTPException as exc:
                        return site.error_page(request, exc.status_code, str(exc.detail))
                    except Exception:  # noqa: BLE001 - a page, not a stack trace; logged for the operator
                        log.exception("page %s failed", request.url.path)
                        return site.error_page(request, 500, "the page failed unexpectedly; it has been logged")

                return route

        return PageRoute
