"""/results: the city's public results pages, server-rendered HTML in Japanese (`?lang=ja`, the default) and
English (`?lang=en`): proposals with their tallies by segment, turnout, attendance overlap, on-chain actions and
outcomes (each report checked against its on-chain hash), the issues board (read-only), organisations with their
badge types, and the open-data downloads. `GET /` redirects here.

The pages read through the same services as the JSON routes and stay out of the OpenAPI description (they are for
people, not clients). Every error, bad input included, is an HTML page in the reader's language
(frontend_api/pages/rendering.py). Templates are in templates/ next to this file, autoescaped (issue text is user
input); strings in messages.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backend.domain import SUPPRESS_BELOW
from backend.domain.vocabulary import ISSUE_CATEGORIES, ISSUE_STATUSES, Category, ProposalState, Segment
from backend.errors import KanazawaDaoError
from backend.services import documents, issues, open_data, organisations, outcomes, proposals
from backend.services.errors import InvalidInput, NotFound
from frontend_api.deps import ServicesDep
from frontend_api.pages.rendering import Site
from frontend_api.pages.results.messages import MESSAGES

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHOICES = ("for", "against", "abstain")
MAX_PAGE = 100_000  # beyond any real board; keeps offsets within a 64-bit integer
PROPOSAL_ID = re.compile(r"^[0-9]{1,78}$")
ISSUE_SORTS = ("newest", "supports", "updated", "oldest")
NAV = (("nav_proposals", "/results"), ("nav_issues", "/results/issues"),
       ("nav_organisations", "/results/organisations"), ("nav_open_data", "/results/open-data"))

site = Site(templates=TEMPLATES, messages=MESSAGES, nav=NAV, globals={"licence": open_data.LICENCE})
router = APIRouter(route_class=site.route_class(), include_in_schema=False, tags=["results"])


def _page(page: int) -> int:
    return min(max(page, 1), MAX_PAGE)


def _choice(value: str | None, name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    """An optional filter: empty means all (a form's "all" option); anything unknown is refused, named."""
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}")
    return value


def _pages(result: dict[str, Any]) -> dict[str, Any]:
    pages = max(1, -(-result["total"] // result["per_page"]))
    return {**result, "pages": pages}


# ---------------------------------------------------------------------- proposals


@router.get("/")
def home(request: Request) -> RedirectResponse:
    query = request.url.query
    return RedirectResponse("/results" + (f"?{query}" if query else ""), status_code=307)


@router.get("/results/static/site.css")
def stylesheet() -> Response:
    return site.stylesheet()


@router.get("/results")
def proposal_list(request: Request, svc: ServicesDep, category: str | None = None, state: str | None = None,
                  page: int = Query(default=1), per_page: int = Query(default=20)) -> HTMLResponse:
    category = _choice(category, "category", Category.words())
    state = _choice(state, "state", ProposalState.words())
    per_page = min(max(per_page, 1), 100)
    result = proposals.list_proposals(svc, category=category, state=state, page=_page(page),
                                      per_page=per_page).model_dump(by_alias=True)
    return site.render(request, "proposals.html", result=_pages(result), categories=Category.words(),
                       states=ProposalState.words(), section="nav_proposals",
                       filters={"category": category, "state": state, "per_page": per_page if per_page != 20 else None})


@router.get("/results/proposals")
def proposals_index(request: Request) -> RedirectResponse:
    query = request.url.query
    return RedirectResponse("/results" + (f"?{query}" if query else ""), status_code=307)


def _proposal_id(value: str) -> int:
    if not PROPOSAL_ID.match(value) or int(value) >= 2**256:
        raise NotFound(f"no proposal {value!r}: a proposal id is a decimal number below 2^256")
    return int(value)


def _chart(tallies: dict[str, Any]) -> list[dict[str, Any]]:
    groups = []
    for segment in Segment.words():
        votes = tallies["by_segment"].get(segment, {})
        total = sum(votes.get(c, 0) for c in CHOICES)
        groups.append({"segment": segment, "total": total, "bars": [
            {"choice": c, "votes": votes.get(c, 0), "share": votes.get(c, 0) / total * 100 if total else 0.0}
            for c in CHOICES]})
    return groups


@router.get("/results/proposals/{proposal_id}")
def proposal_page(request: Request, proposal_id: str, svc: ServicesDep) -> HTMLResponse:
    # The pages render the shapes the JSON API serves: the same words, the same keys.
    detail = proposals.detail(svc, proposal_id=_proposal_id(proposal_id)).model_dump(by_alias=True)
    document = detail["document"] or {}
    checked = []
    for o in sorted(detail["outcomes"], key=lambda o: o["version"], reverse=True):
        verification = outcomes.verify_content(svc, uri=o["report_uri"], content_hash=o["content_hash"])
        report = verification.document or {}
        checked.append({**o, "verification": verification.model_dump(exclude={"document"}),
                        "summary": report.get("summary") if verification.status == outcomes.VERIFIED else None})
    residents = detail["tallies"]["by_segment"].get(Segment.RESIDENT.word, {"for": 0, "against": 0})
    return site.render(request, "proposal.html", p=detail, document=document,
                       document_check=detail["document_verification"], outcomes=checked,
                       chart=_chart(detail["tallies"]), choices=CHOICES, residents=residents,
                       suppress_below=SUPPRESS_BELOW, section="nav_proposals")


@router.get("/results/proposals/{proposal_id}/outcomes/{version}/report")
def report_page(request: Request, proposal_id: str, version: str, svc: ServicesDep) -> HTMLResponse:
    if not version.isdigit() or len(version) > 9:
        raise NotFound(f"no outcome version {version!r}")
    item = outcomes.report(svc, proposal_id=_proposal_id(proposal_id), version=int(version)).model_dump()
    report = item["verification"].pop("document") or {}
    return site.render(request, "report.html", o=item, report=report,
                       links=[link for link in report.get("links", []) if isinstance(link, str)]
                       if isinstance(report.get("links"), list) else [], section="nav_proposals")


# ---------------------------------------------------------------------- issues


@router.get("/results/issues")
def issue_board(request: Request, svc: ServicesDep, q: str | None = Query(default=None, max_length=200),
                category: str | None = None, status: str | None = None, sort: str | None = None,
                page: int = Query(default=1), per_page: int = Query(default=20)) -> HTMLResponse:
    category = _choice(category, "category", ISSUE_CATEGORIES)
    status = _choice(status, "status", ISSUE_STATUSES)
    sort = _choice(sort, "sort", ISSUE_SORTS) or "newest"
    per_page = min(max(per_page, 1), 100)
    result = issues.search(svc, issues.IssueFilter(q=q, category=category, status=status, sort=sort),
                           page=_page(page), per_page=per_page).model_dump()
    return site.render(request, "issues.html", result=_pages(result), categories=ISSUE_CATEGORIES,
                       statuses=ISSUE_STATUSES, sorts=ISSUE_SORTS, section="nav_issues",
                       filters={"q": q or None, "category": category, "status": status,
                                "sort": sort if sort != "newest" else None,
                                "per_page": per_page if per_page != 20 else None})


@router.get("/results/issues/{issue_id}")
def issue_page(request: Request, issue_id: str, svc: ServicesDep, page: int = Query(default=1)) -> HTMLResponse:
    if not issue_id.isdigit() or len(issue_id) > 18:
        raise NotFound(f"no issue {issue_id!r}")
    issue = issues.get(svc, issue_id=int(issue_id)).model_dump()
    comments = issues.comments(svc, issue_id=issue["id"], page=_page(page), per_page=50).model_dump()
    return site.render(request, "issue.html", issue=issue, comments=_pages(comments), section="nav_issues")


# ---------------------------------------------------------------------- organisations and open data


def _badge_name(svc, uri: str) -> str | None:
    """The name in a badge type's pinned metadata, if this service pinned it and the store still has it."""
    from backend.ipfs.store import parse_ipfs_uri

    try:
        name = documents.read_json(svc, parse_ipfs_uri(uri)).get("name")
    except (KanazawaDaoError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


@router.get("/results/organisations")
def organisation_list(request: Request, svc: ServicesDep) -> HTMLResponse:
    orgs = []
    for org in organisations.list_all(svc):
        badge_types = [{**b.model_dump(), "name": _badge_name(svc, b.uri)}
                       for b in organisations.badge_types(svc, organisation_id=org.id)]
        orgs.append({**org.model_dump(), "badge_types": badge_types})
    return site.render(request, "organisations.html", organisations=orgs, section="nav_organisations")


@router.get("/results/open-data")
def open_data_page(request: Request, svc: ServicesDep) -> HTMLResponse:
    datasets = [d.model_dump() for d in open_data.index(svc, base_url="")]  # links relative to this site
    return site.render(request, "open_data.html", datasets=datasets, suppress_below=SUPPRESS_BELOW,
                       section="nav_open_data")


@router.get("/results/{rest:path}")
def not_found(rest: str) -> Response:
    raise NotFound(f"no page /results/{rest}")
