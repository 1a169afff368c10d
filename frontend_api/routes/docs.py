"""/docs (Swagger UI) and /redoc (ReDoc): the API's documentation pages, with their scripts and styles served by
this service from the copies in the `fastapi-offline` package instead of a CDN (the devnet runs offline, and no page
of ours runs a script from elsewhere), under a Content-Security-Policy that allows exactly those files and the
page's one inline start-up script (by its hash), and no framing. FastAPI's own /docs and /redoc are switched off
(frontend_api/app.py)."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from backend.services.errors import NotFound

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
#: The files the two pages load, and their media types; nothing else under /docs/static is served.
FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "redoc.standalone.js":
         "text/javascript", "favicon.png": "image/png"}
TITLE = "Kanazawa co-creation DAO API"
POLICY = ("default-src 'none'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
          "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
          "base-uri 'none'; form-action 'none'")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


@functools.lru_cache(maxsize=2)
def _page(which: str) -> tuple[bytes, str]:
    """The page and its policy: the hash of each inline script is what lets exactly that script run."""
    if which == "swagger":
        html = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{TITLE} - Swagger UI",
                                   swagger_js_url="/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/static/swagger-ui.css",
                                   swagger_favicon_url="/docs/static/favicon.png").body
    else:
        html = get_redoc_html(openapi_url="/openapi.json", title=f"{TITLE} - ReDoc",
                              redoc_js_url="/docs/static/redoc.standalone.js",
                              redoc_favicon_url="/docs/static/favicon.png", with_google_fonts=False).body
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
                      for script in _INLINE_SCRIPT.findall(html.decode()))
    return html, POLICY.format(scripts=hashes)


def _answer(which: str) -> HTMLResponse:
    html, policy = _page(which)
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _answer("swagger")


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return _answer("redoc")


@router.get("/docs/static/{name}")
def static_file(name: str) -> FileResponse:
    if name not in FILES:
        raise NotFound(f"no documentation file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=FILES[name], headers={"Cache-Control": "public, max-age=86400"})
