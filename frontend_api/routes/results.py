"""/results: the city's public results pages, server-rendered HTML in Japanese (`?lang=ja`, the default) and
English (`?lang=en`): proposals with their tallies by segment, turnout, attendance overlap and outcomes (each
report checked against its on-chain hash), the issues board (read-only), organisations with their badge types,
and the open-data downloads. `GET /` redirects here.

The pages read through the same services as the JSON routes and stay out of the OpenAPI description (they are for
people, not clients). Every error, bad input included, is an HTML page in the reader's language, not a problem
document: see `HtmlRoute`. Templates are in frontend_api/templates/results/, autoescaped (issue text is user input).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import KanazawaDaoError
from backend.models.issue import ISSUE_CATEGORIES, ISSUE_STATUSES
from backend.services import documents, issues, open_data, organisations, outcomes, proposals
from backend.services.context import Services
from backend.services.errors import InvalidInput, NotFound, ServiceError
from backend.services.roles import SEGMENTS
from frontend_api.deps import services
from frontend_api.problems import DEPENDENCY_DOWN

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "results"
LANGS = ("ja", "en")
CHOICES = ("for", "against", "abstain")
MAX_PAGE = 100_000  # beyond any real board; keeps offsets within a 64-bit integer
PROPOSAL_ID = re.compile(r"^[0-9]{1,78}$")
ISSUE_SORTS = ("newest", "supports", "updated", "oldest")

# ---------------------------------------------------------------------- the catalogue: every string, both languages

MESSAGES: dict[str, tuple[str, str]] = {
    # chrome
    "site_name": ("金沢 文化共創DAO 結果公開", "Kanazawa co-creation DAO: public results"),
    "skip_to_content": ("本文へ移動", "Skip to content"),
    "main_navigation": ("メインメニュー", "Main menu"),
    "switch_language": ("English", "日本語"),
    "switch_language_label": ("Read this page in English", "このページを日本語で読む"),
    "nav_proposals": ("提案と結果", "Proposals and results"),
    "nav_issues": ("地域課題", "Local issues"),
    "nav_organisations": ("団体", "Organisations"),
    "nav_open_data": ("オープンデータ", "Open data"),
    "footer_licence": ("このサイトのデータは {licence} で提供しています（クレジット: {attribution}）。",
                       "The data on this site is published under {licence} (attribution: {attribution})."),
    "footer_source": ("データの出典: 提案・投票・結果はブロックチェーン上の記録（CityGovernor, OutcomeRegistry）を"
                      "本サービスが索引したもの、地域課題は市民の課題掲示板です。",
                      "Data source: proposals, votes and outcomes are the on-chain records (CityGovernor, "
                      "OutcomeRegistry) as indexed by this service; local issues come from the citizens' board."),
    "footer_api": ("機械で読める形式: ", "Machine-readable: "),
    "api_description": ("API（OpenAPI）", "API (OpenAPI)"),
    # lists and filters
    "filter": ("絞り込み", "Filter"),
    "apply": ("表示", "Apply"),
    "all": ("すべて", "All"),
    "category": ("区分", "Category"),
    "state": ("状態", "State"),
    "status": ("状況", "Status"),
    "search_words": ("キーワード", "Words"),
    "sort": ("並び順", "Order"),
    "per_page": ("表示件数", "Per page"),
    "pagination": ("ページ送り", "Pages"),
    "previous_page": ("前のページ", "Previous page"),
    "next_page": ("次のページ", "Next page"),
    "page_of": ("{page} / {pages} ページ（全 {total} 件）", "Page {page} of {pages} ({total} in all)"),
    "nothing_found": ("該当するものはありません。", "Nothing matches."),
    # proposals
    "proposals_title": ("提案と投票結果", "Proposals and results"),
    "proposals_intro": ("市民と関係人口が投票した提案と、その結果です。新しい順に表示します。",
                        "Proposals residents and the relationship population voted on, and what became of them. "
                        "Newest first."),
    "proposals_caption": ("提案の一覧", "Proposals"),
    "title": ("件名", "Title"),
    "votes_for_against_abstain": ("賛成 / 反対 / 棄権", "For / against / abstain"),
    "voting_ends_block": ("投票終了ブロック", "Voting ends (block)"),
    "untitled_proposal": ("提案 {short}", "Proposal {short}"),
    "proposal": ("提案", "Proposal"),
    "proposal_id": ("提案ID", "Proposal ID"),
    "proposal_facts": ("概要", "Summary"),
    "vote_window": ("投票期間（ブロック）", "Voting period (blocks)"),
    "vote_window_value": ("{start} 〜 {end}", "{start} to {end}"),
    "proposer": ("提出アカウント", "Submitted by (account)"),
    "author": ("起案者", "Drafted by"),
    "submitted_in": ("提出トランザクション", "Submission transaction"),
    "document": ("提案書", "Proposal document"),
    "document_missing": ("提案書は本サービスにありません。", "This service holds no document for this proposal."),
    "in_other_language": ("（この言語の本文がないため、もう一方の言語で表示しています）",
                          "(not available in this language; shown in the other one)"),
    "linked_issues": ("この提案のもとになった地域課題", "Local issues this proposal answers"),
    "no_linked_issues": ("関連する地域課題はありません。", "No linked issues."),
    "supports": ("賛同", "Supports"),
    "results": ("投票結果", "Votes"),
    "overall": ("全体", "Overall"),
    "segment": ("区分", "Segment"),
    "resident": ("住民", "Residents"),
    "relationship-population": ("関係人口", "Relationship population"),
    "organisation": ("団体", "Organisations"),
    "for": ("賛成", "For"),
    "against": ("反対", "Against"),
    "abstain": ("棄権", "Abstain"),
    "total": ("計", "Total"),
    "chart_caption": ("区分別の投票（各区分の投票に占める割合）", "Votes by segment (share of the segment's votes)"),
    "table_caption": ("区分別の投票数", "Votes by segment"),
    "votes_count": ("{n} 票", "{n} votes"),
    "no_votes": ("投票なし", "no votes"),
    "resident_majority": ("住民の過半数（まちづくりの提案に必要）", "Majority of residents (town planning needs it)"),
    "met": ("満たしている（住民の賛成 {f} > 反対 {a}）", "met (residents for {f} > against {a})"),
    "not_met": ("満たしていない（住民の賛成 {f}、反対 {a}）", "not met (residents for {f}, against {a})"),
    "turnout": ("投票率", "Turnout"),
    "turnout_value": ("{voters} 人 / 有権者 {eligible} 人（{pct}）", "{voters} voters of {eligible} eligible ({pct})"),
    "turnout_unknown": ("{voters} 人（有権者数は投票開始後に確定します）",
                        "{voters} voters (the number eligible is fixed when voting starts)"),
    "attendance_overlap": ("メタバースイベントへの参加", "Metaverse event attendance"),
    "attendance_value": ("関連イベント {events} 件、そのいずれかに参加した投票者 {attended} 人",
                         "{events} related events; {attended} voters attended at least one"),
    "outcomes": ("市の対応（結果報告）", "What the city did (outcome reports)"),
    "no_outcomes": ("結果はまだ公表されていません。", "No outcome has been published yet."),
    "outcome_version": ("第 {n} 版", "Version {n}"),
    "version_on_chain": ("オンチェーンの版番号（0 から）", "Version number on chain (from 0)"),
    "report": ("報告書", "Report"),
    "report_summary": ("要旨", "Summary"),
    "report_body": ("本文", "Details"),
    "report_links": ("関連リンク", "Links"),
    "report_page": ("報告書と検証の詳細", "Report and its verification"),
    "report_uri": ("報告書URI", "Report URI"),
    "publisher": ("公表したアカウント", "Published by (account)"),
    "transaction": ("トランザクション", "Transaction"),
    "block": ("ブロック", "Block"),
    "content_hash": ("オンチェーンのハッシュ（keccak-256）", "On-chain hash (keccak-256)"),
    "computed_hash": ("取得した内容のハッシュ", "Hash of the content fetched"),
    "verification": ("検証", "Verification"),
    "actions": ("可決されたときに実行される内容", "What happens on chain if it passes"),
    "actions_intro": ("提案が可決されるとタイムロックがこれらの呼び出しを実行します。注意が必要なものには警告を表示します。",
                      "If the proposal passes, the timelock makes these calls. Calls that deserve a second look are "
                      "marked with a warning."),
    "action_signal": ("実行される処理はありません（意思表示のための提案）。", "Nothing is executed: this proposal is a signal."),
    "action_target": ("呼び出し先", "Target"),
    "action_function": ("関数", "Function"),
    "action_calldata": ("呼び出しデータ（未解読）", "Call data (not decoded)"),
    "action_value": ("送金額", "Value sent"),
    "warning": ("注意", "Warning"),
    "warning_changes-roles": ("権限を変更します（誰が市・団体として操作できるかが変わります）。",
                              "It changes roles: who may act as the city or as an organisation."),
    "warning_changes-governance": ("投票や実行の仕組みを変更します。", "It changes how decisions are made or carried out."),
    "warning_moves-funds": ("資金やトークンを移動します。", "It moves funds or tokens."),
    "warning_unknown-contract": ("本サービスが知らないコントラクトを呼び出します。内容を確認してください。",
                                 "It calls a contract this service does not know: check what it does."),
    "warning_unknown-function": ("呼び出しデータを解読できません。", "Its call data matches no known function."),
    "attendance_suppressed": ("関連イベント {events} 件。参加した投票者の数は {n} 人未満のため非公開です。",
                              "{events} related events. The number of voters who attended is fewer than {n} and "
                              "is not shown."),
    "verified": ("検証済み ✓ 内容がオンチェーンのハッシュと一致します", "Verified ✓ the content matches the on-chain hash"),
    "mismatch": ("不一致 ✗ 内容がオンチェーンのハッシュと一致しません",
                 "Mismatch ✗ the content does not match the on-chain hash"),
    "unavailable": ("検証できません: 内容を取得できませんでした", "Cannot verify: the content could not be fetched"),
    "summary_hidden": ("検証できないため要旨は表示していません。詳細ページで理由を確認できます。",
                       "The summary is not shown because the report could not be verified; the report page says "
                       "why."),
    "unverified_warning": ("注意: この報告書はオンチェーンの記録と一致しないか、取得できません。",
                           "Caution: this report does not match the on-chain record, or could not be fetched."),
    "back_to_proposal": ("提案に戻る", "Back to the proposal"),
    # proposal states, categories, outcome statuses
    "Pending": ("投票開始前", "Voting not started"),
    "Active": ("投票受付中", "Voting open"),
    "Canceled": ("取り下げ", "Withdrawn"),
    "Defeated": ("否決", "Defeated"),
    "Succeeded": ("可決", "Passed"),
    "Queued": ("実行待ち", "Queued for execution"),
    "Expired": ("期限切れ", "Expired"),
    "Executed": ("実行済み", "Executed"),
    "culture": ("文化", "Culture"),
    "town-planning": ("まちづくり", "Town planning"),
    "adopted": ("採択", "Adopted"),
    "rejected": ("不採択", "Rejected"),
    "in-progress": ("対応中", "In progress"),
    "implemented": ("実施済み", "Implemented"),
    "abandoned": ("中止", "Abandoned"),
    # issues
    "issues_title": ("地域課題の掲示板", "Local issues board"),
    "issues_intro": ("市民・団体・市が投稿した地域課題です（閲覧のみ）。投稿や賛同はアプリから行えます。",
                     "Issues posted by citizens, organisations and the city (read only here). Posting and "
                     "supporting happen in the apps."),
    "issues_caption": ("地域課題の一覧", "Local issues"),
    "tourism": ("観光", "Tourism"),
    "environment": ("環境", "Environment"),
    "welfare": ("福祉", "Welfare"),
    "education": ("教育", "Education"),
    "disaster-prevention": ("防災", "Disaster prevention"),
    "other": ("その他", "Other"),
    "open": ("受付中", "Open"),
    "resolved": ("解決済み", "Resolved"),
    "closed": ("終了", "Closed"),
    "newest": ("新しい順", "Newest"),
    "oldest": ("古い順", "Oldest"),
    "updated": ("更新順", "Recently updated"),
    "comments": ("コメント", "Comments"),
    "no_comments": ("コメントはまだありません。", "No comments yet."),
    "location": ("場所", "Location"),
    "skills_wanted": ("求めるスキル", "Skills wanted"),
    "source": ("出典", "Source"),
    "source_here": ("この掲示板", "this board"),
    "external_page": ("元の掲示板のページ", "Page on the original board"),
    "posted": ("投稿日時", "Posted"),
    "last_updated": ("更新日時", "Updated"),
    "issue_facts": ("課題の概要", "About this issue"),
    "issue_body": ("内容", "Description"),
    "back_to_issues": ("地域課題の一覧へ", "All local issues"),
    # organisations
    "organisations_title": ("団体とバッジ", "Organisations and their badges"),
    "organisations_intro": ("市が登録した文化団体です。団体は会員証を発行し、バッジの種類を作成します。",
                            "Cultural organisations registered by the city. They issue membership cards and "
                            "create badge types."),
    "no_organisations": ("登録された団体はまだありません。", "No organisation is registered yet."),
    "website": ("ウェブサイト", "Website"),
    "issuer_address": ("発行用アカウント", "Issuer account"),
    "issuer_role": ("発行権限", "Issuer role"),
    "granted": ("付与済み", "granted"),
    "not_granted": ("未付与（反映待ち）", "not granted yet"),
    "active_cards": ("有効な会員証", "Active membership cards"),
    "badge_types": ("バッジの種類", "Badge types"),
    "badge_types_caption": ("{name} のバッジの種類", "Badge types of {name}"),
    "no_badge_types": ("バッジの種類はまだありません。", "No badge types yet."),
    "badge_type_id": ("種類ID", "Type ID"),
    "name": ("名称", "Name"),
    "kind": ("種別", "Kind"),
    "attendance": ("参加証", "Attendance"),
    "cultural-work": ("文化作品", "Cultural work"),
    "perk": ("特典", "Perk"),
    "soulbound": ("譲渡", "Transfer"),
    "soulbound_yes": ("不可（本人のみ）", "not transferable"),
    "soulbound_no": ("可", "transferable"),
    "max_supply": ("上限数", "Maximum supply"),
    "unlimited": ("上限なし", "unlimited"),
    "metadata": ("メタデータ", "Metadata"),
    # open data
    "open_data_title": ("オープンデータ", "Open data"),
    "open_data_intro": ("提案・投票結果・結果報告・地域課題・イベント参加者数を CSV（UTF-8）と JSON で公開しています。"
                        "個人が特定されうる {n} 未満の数は公開しません。",
                        "Proposals, results, outcomes, local issues and event attendance as CSV (UTF-8) and JSON. "
                        "Counts below {n} that could identify people are withheld."),
    "licence": ("ライセンス", "Licence"),
    "downloads": ("ダウンロード", "Downloads"),
    "csv_ja": ("CSV（日本語の見出し）", "CSV (Japanese headers)"),
    "csv_en": ("CSV（英語の見出し）", "CSV (English headers)"),
    "json": ("JSON", "JSON"),
    "updated_at": ("最終更新", "Last updated"),
    "not_yet": ("まだありません", "not yet"),
    "columns_caption": ("{title} の列", "Columns of {title}"),
    "column_key": ("キー", "Key"),
    "column_ja": ("日本語の見出し", "Japanese header"),
    "column_en": ("英語の見出し", "English header"),
    "column_type": ("型", "Type"),
    "column_description": ("説明（英語）", "Description"),
    # errors
    "error_400": ("リクエストの内容に誤りがあります", "Something in the request is not valid"),
    "error_404": ("ページが見つかりません", "Page not found"),
    "error_422": ("リクエストの内容に誤りがあります", "Something in the request is not valid"),
    "error_503": ("必要なサービスが一時的に利用できません", "A service this page needs is unavailable"),
    "error_500": ("エラーが発生しました", "Something went wrong"),
    "error_hint": ("アドレスを確認するか、一覧から探してください。", "Check the address, or start from a list."),
    "error_detail": ("詳細（英語）: ", "Details: "),
}


def translator(lang: str) -> Callable[..., str]:
    index = LANGS.index(lang)

    def t(key: str, **values: Any) -> str:
        pair = MESSAGES.get(key)
        text = pair[index] if pair else key  # unknown values (a new state on chain) show as they are
        return text.format(**values) if values else text

    return t


def pick(texts: dict[str, str] | None, lang: str) -> tuple[str, str] | None:
    """The text in `lang`, else in the other language, with the language it is in (for the element's lang)."""
    for code in (lang, *(c for c in LANGS if c != lang)):
        if texts and isinstance(texts.get(code), str) and texts[code].strip():
            return texts[code], code
    return None


# ---------------------------------------------------------------------- rendering


def _safe_url(value: Any) -> str | None:
    """Only http(s) links become links: autoescaping does not stop a `javascript:` href."""
    try:
        return value if isinstance(value, str) and urlsplit(value).scheme.lower() in ("http", "https") else None
    except ValueError:  # e.g. a malformed IPv6 host: not a link either
        return None


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def _percent(part: int, whole: int | None) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "–"


CSS = (TEMPLATES / "site.css").read_text(encoding="utf-8")
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters["safe_url"] = _safe_url
_env.filters["when"] = _when
_env.filters["number"] = lambda n: f"{n:,}" if isinstance(n, int) else n
_env.globals["percent"] = _percent

NAV = (("nav_proposals", "/results"), ("nav_issues", "/results/issues"),
       ("nav_organisations", "/results/organisations"), ("nav_open_data", "/results/open-data"))
SECURITY_HEADERS = {
    # No script at all, so nothing injected could run even if escaping failed somewhere.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def lang_of(request: Request) -> str:
    value = request.query_params.get("lang")
    return value if value in LANGS else "ja"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
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
    html = _env.get_template(template).render(
        lang=lang, other_lang=other, t=translator(lang), url=url, pick=lambda texts: pick(texts, lang),
        switch_url=request.url.path + "?" + urlencode(switch), nav=NAV, path=request.url.path,
        licence=open_data.LICENCE, **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def error_page(request: Request, status_code: int, detail: str) -> HTMLResponse:
    headline = f"error_{status_code}" if f"error_{status_code}" in MESSAGES else \
        ("error_400" if status_code < 500 else "error_500")
    return render(request, "error.html", status_code, headline=headline, detail=detail)


class HtmlRoute(APIRoute):
    """Errors of these pages are pages too: the app's handlers answer with problem documents (JSON), which is right
    for the API and wrong for a person following a link."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                return error_page(request, 422, f"{where}: {first.get('msg', 'invalid')}")
            except ServiceError as exc:
                return error_page(request, exc.status, exc.detail)
            except KanazawaDaoError as exc:  # the chain or the content store does not answer
                log.warning("results page %s: dependency unavailable: %s", request.url.path, exc)
                return error_page(request, 503, DEPENDENCY_DOWN)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))
            except Exception:  # noqa: BLE001 - a page, not a stack trace; logged for the operator
                log.exception("results page %s failed", request.url.path)
                return error_page(request, 500, "the page failed unexpectedly; it has been logged")

        return route


router = APIRouter(route_class=HtmlRoute, include_in_schema=False, tags=["results"])


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
    return Response(CSS, media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


def _proposal_page(svc: Services, *, category: str | None, state: str | None, page: int,
                   per_page: int) -> dict[str, Any]:
    if state is None:
        return proposals.list_proposals(svc, category=category, page=page, per_page=per_page)
    # The state is the governor's, read live per proposal (the indexer records only the lifecycle), so it cannot
    # be filtered in SQL: read every proposal of the category and filter here.
    matching, n = [], 1
    while True:
        chunk = proposals.list_proposals(svc, category=category, page=n, per_page=100)
        matching += [p for p in chunk["items"] if p["state"] == state]
        if n * 100 >= chunk["total"]:
            break
        n += 1
    start = (page - 1) * per_page
    return {"items": matching[start:start + per_page], "total": len(matching), "page": page, "per_page": per_page}


@router.get("/results")
def proposal_list(request: Request, category: str | None = None, state: str | None = None,
                  page: int = Query(default=1), per_page: int = Query(default=20),
                  svc: Services = Depends(services)) -> HTMLResponse:
    category = _choice(category, "category", list(proposals.CATEGORIES))
    state = _choice(state, "state", proposals.STATES)
    per_page = min(max(per_page, 1), 100)
    result = _proposal_page(svc, category=category, state=state, page=_page(page), per_page=per_page)
    return render(request, "proposals.html", result=_pages(result), categories=list(proposals.CATEGORIES),
                  states=proposals.STATES, section="nav_proposals",
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
    for segment in SEGMENTS.values():
        votes = tallies["by_segment"].get(segment, {})
        total = sum(votes.get(c, 0) for c in CHOICES)
        groups.append({"segment": segment, "total": total, "bars": [
            {"choice": c, "votes": votes.get(c, 0), "share": votes.get(c, 0) / total * 100 if total else 0.0}
            for c in CHOICES]})
    return groups


@router.get("/results/proposals/{proposal_id}")
def proposal_page(request: Request, proposal_id: str, svc: Services = Depends(services)) -> HTMLResponse:
    detail = proposals.detail(svc, _proposal_id(proposal_id))
    document = detail["document"] or {}
    checked = []
    for o in sorted(detail["outcomes"], key=lambda o: o["version"], reverse=True):
        verification = outcomes.verify_content(svc, uri=o["report_uri"], content_hash=o["content_hash"])
        report = verification.pop("document") or {}
        checked.append({**o, "verification": verification,
                        "summary": report.get("summary") if verification["status"] == outcomes.VERIFIED else None})
    residents = detail["tallies"]["by_segment"].get("resident", {"for": 0, "against": 0})
    return render(request, "proposal.html", p=detail, document=document,
                  document_check=detail["document_verification"], outcomes=checked, chart=_chart(detail["tallies"]),
                  choices=CHOICES, residents=residents, suppress_below=open_data.SUPPRESS_BELOW,
                  section="nav_proposals")


@router.get("/results/proposals/{proposal_id}/outcomes/{version}/report")
def report_page(request: Request, proposal_id: str, version: str,
                svc: Services = Depends(services)) -> HTMLResponse:
    if not version.isdigit() or len(version) > 9:
        raise NotFound(f"no outcome version {version!r}")
    item = outcomes.report(svc, _proposal_id(proposal_id), int(version))
    report = item["verification"].pop("document") or {}
    return render(request, "report.html", o=item, report=report,
                  links=[link for link in report.get("links", []) if isinstance(link, str)]
                  if isinstance(report.get("links"), list) else [], section="nav_proposals")


# ---------------------------------------------------------------------- issues


@router.get("/results/issues")
def issue_board(request: Request, q: str | None = Query(default=None, max_length=200), category: str | None = None,
                status: str | None = None, sort: str | None = None, page: int = Query(default=1),
                per_page: int = Query(default=20), svc: Services = Depends(services)) -> HTMLResponse:
    category = _choice(category, "category", ISSUE_CATEGORIES)
    status = _choice(status, "status", ISSUE_STATUSES)
    sort = _choice(sort, "sort", ISSUE_SORTS) or "newest"
    per_page = min(max(per_page, 1), 100)
    result = issues.search(svc, issues.IssueFilter(q=q, category=category, status=status, sort=sort),
                           page=_page(page), per_page=per_page)
    return render(request, "issues.html", result=_pages(result), categories=ISSUE_CATEGORIES,
                  statuses=ISSUE_STATUSES, sorts=ISSUE_SORTS, section="nav_issues",
                  filters={"q": q or None, "category": category, "status": status,
                           "sort": sort if sort != "newest" else None,
                           "per_page": per_page if per_page != 20 else None})


@router.get("/results/issues/{issue_id}")
def issue_page(request: Request, issue_id: str, page: int = Query(default=1),
               svc: Services = Depends(services)) -> HTMLResponse:
    if not issue_id.isdigit() or len(issue_id) > 18:
        raise NotFound(f"no issue {issue_id!r}")
    issue = issues.get(svc, int(issue_id))
    comments = issues.comments(svc, issue["id"], page=_page(page), per_page=50)
    return render(request, "issue.html", issue=issue, comments=_pages(comments), section="nav_issues")


# ---------------------------------------------------------------------- organisations and open data


def _badge_name(svc: Services, uri: str) -> str | None:
    """The name in a badge type's pinned metadata, if this service pinned it and the store still has it."""
    from backend.ipfs.store import parse_ipfs_uri

    try:
        name = documents.read_json(svc, parse_ipfs_uri(uri)).get("name")
    except (KanazawaDaoError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


@router.get("/results/organisations")
def organisation_list(request: Request, svc: Services = Depends(services)) -> HTMLResponse:
    orgs = []
    for org in organisations.list_all(svc):
        badge_types = [{**b, "name": _badge_name(svc, b["uri"])} for b in organisations.badge_types(svc, org["id"])]
        orgs.append({**org, "badge_types": badge_types})
    return render(request, "organisations.html", organisations=orgs, section="nav_organisations")


@router.get("/results/open-data")
def open_data_page(request: Request, svc: Services = Depends(services)) -> HTMLResponse:
    datasets = open_data.index(svc, "")  # links relative to this site, right behind any proxy
    return render(request, "open_data.html", datasets=datasets, suppress_below=open_data.SUPPRESS_BELOW,
                  section="nav_open_data")


@router.get("/results/{rest:path}")
def not_found(rest: str) -> Response:
    raise NotFound(f"no page /results/{rest}")
