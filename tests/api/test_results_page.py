"""The public results pages (/results): server-rendered HTML in Japanese and English over the real service — a
town-planning proposal grown from an issue, voted by segment and given outcomes; the chart equals the JSON API's
tallies, every report is checked against its on-chain hash (a deleted report, a wrong on-chain hash and a tampered
store file each show their failure), issue text is escaped, and every page is accessible and fits a phone."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from eth_account import Account
from eth_utils import keccak

from tests.api.test_organisations import register
from tests.api.test_proposals_and_outcomes import _draft, _issue
from tests.dao import AGAINST, FOR, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT

XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
SEGMENT_NAMES = ("resident", "relationship-population", "organisation")


# ---------------------------------------------------------------------- reading pages


class Page(HTMLParser):
    """The start tags of a page with their attributes, its headings in order and its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html = html
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.headings: list[int] = []
        self.text_parts: list[str] = []
        self.h1_parts: list[str] = []
        self._in_h1 = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        self._in_h1 = self._in_h1 or tag == "h1"

    def handle_endtag(self, tag):
        self._in_h1 = self._in_h1 and tag != "h1"

    def handle_data(self, data):
        self.text_parts.append(data)
        if self._in_h1:
            self.h1_parts.append(data)

    @property
    def h1(self) -> str:
        return " ".join(" ".join(self.h1_parts).split())

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def all(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if (tag is None or t == tag)
                and all(a.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())]

    def links(self) -> list[str]:
        return [a["href"] for a in self.all("a") if "href" in a]


def get_page(stack, url: str, *, status: int = 200) -> Page:
    response = stack.api.get(url, follow_redirects=False)
    assert response.status_code == status, (url, response.status_code, response.text[:2000])
    assert response.headers["content-type"] == "text/html; charset=utf-8", url
    page = Page(response.text)
    assert_accessible(page, url)
    return page


def assert_accessible(page: Page, url: str) -> None:
    html = page.all("html")
    assert len(html) == 1 and html[0].get("lang") in ("ja", "en"), url
    assert len(page.all("h1")) == 1, (url, page.headings)
    assert len(page.all("main")) == 1 and page.all("header") and page.all("nav") and page.all("footer"), url
    assert page.headings[0] == 1 and all(b <= a + 1 for a, b in zip(page.headings, page.headings[1:])), \
        (url, page.headings)  # h1, then no level skipped
    labelled = {a["for"] for a in page.all("label") if "for" in a}
    for tag in ("input", "select", "textarea"):
        for field in page.all(tag):
            if field.get("type") in ("hidden", "submit"):
                continue
            assert field.get("id") in labelled, (url, tag, field)
    assert all("scope" in th for th in page.all("th")), url
    assert len(page.all("caption")) == len(page.all("table")), url
    assert "<script" not in page.html.lower(), url  # the pages need no script, and must carry none
    assert page.all("a", class_="skip-link") and page.all(id="main"), url
    assert page.all("meta", name="viewport"), url


def chart_votes(page: Page) -> dict[str, dict[str, int]]:
    votes: dict[str, dict[str, int]] = {}
    for bar in page.all("rect"):
        if "data-segment" in bar:
            votes.setdefault(bar["data-segment"], {})[bar["data-choice"]] = int(bar["data-votes"])
    return votes


def _tag() -> str:
    return "t" + uuid.uuid4().hex[:10]


# ---------------------------------------------------------------------- the world the pages show


@dataclass
class World:
    voted: int  # town planning, from an issue, voted by every segment, two verified outcomes
    failing: int  # culture, no votes: outcomes whose reports fail verification in three ways
    open: int  # culture, still voting, links the issue with script in its text
    issue_id: int
    xss_issue_id: int
    organisation: dict
    badge_name: str


def _publish(stack, city, proposal_id: int, status: str, summary_en: str) -> None:
    response = stack.api.post(f"/proposals/{proposal_id}/outcomes", headers=city, json={
        "status": status, "summary_ja": f"{summary_en}（日本語）", "summary_en": summary_en,
        "links": ["https://example.org/report", "javascript:alert(1)"]})
    assert response.status_code == 202, response.text
    assert stack.wait_job(response.json()["id"])["status"] == "confirmed", stack.worker_output()


def _store_path(stack, uri: str):
    """The file of an ipfs:// URI in the stack's local content store (sharded as LocalStore documents it)."""
    cid = uri.removeprefix("ipfs://")
    return stack.settings.content_dir / cid[-3:-1] / cid


@pytest.fixture(scope="module")
def world(stack) -> World:
    dao = stack.dao
    residents = dao.members([RESIDENT] * 5)
    others = dao.members([RELATIONSHIP_POPULATION] * 2 + [ORGANISATION])
    admin = Account.create()
    organisation = register(stack, admin, "Kanazawa Craft Guild")
    badge_name = "Gold leaf workshop " + _tag()
    job = stack.api.post(f"/organisations/{organisation['id']}/badge-types", headers=stack.sign_in(admin),
                         json={"name": badge_name, "kind": "attendance"})
    assert job.status_code == 202, job.text
    assert stack.wait_job(job.json()["id"])["status"] == "confirmed"
    stack.index()

    author = stack.sign_in(residents[0])
    issue_id = _issue(stack, author, "Dark streets near Kenroku-en")
    stack.api.post(f"/issues/{issue_id}/comments", headers=author, json={"body": "街灯を増やしてほしい"})
    xss = stack.api.post("/issues", headers=author, json={"title": XSS, "body": XSS, "category": "culture"})
    assert xss.status_code == 201, xss.text
    xss_issue_id = xss.json()["id"]
    assert stack.api.post(f"/issues/{xss_issue_id}/comments", headers=author, json={"body": XSS}).status_code == 201

    city = stack.sign_in(dao.city)
    drafted = [_draft(stack, city, [issue_id]), _draft(stack, city, [], "Gold leaf in schools", "culture")]
    for response in drafted:
        assert response.status_code == 202, response.text
        assert stack.wait_job(response.json()["job"]["id"])["status"] == "confirmed"
    voted, failing = (int(r.json()["proposal_id"]) for r in drafted)
    stack.index()
    detail = stack.api.get(f"/proposals/{voted}").json()
    dao.advance_to(detail["vote_start"] + 1)
    votes = [(v, FOR) for v in residents[:4]] + [(residents[4], AGAINST)] + [(v, FOR) for v in others]
    jobs = [stack.api.post("/ballots", json=stack.ballot(voted, v, s)).json()["id"] for v, s in votes]
    assert {stack.wait_job(j)["status"] for j in jobs} == {"confirmed"}
    dao.advance_to(max(detail["vote_end"], stack.api.get(f"/proposals/{failing}").json()["vote_end"]) + 1)

    _publish(stack, city, voted, "adopted", "Lights will be installed")
    _publish(stack, city, voted, "implemented", "Lights installed")
    # The failing proposal: version 0's report is gone from the store, version 1's on-chain hash is not the hash of
    # the report it names (the city's key publishing directly), version 2's stored file was altered afterwards.
    _publish(stack, city, failing, "rejected", "Rejected, report lost")
    stack.index()
    reports = {o["version"]: o for o in stack.api.get(f"/proposals/{voted}").json()["outcomes"]}
    dao.client.transact(dao.outcomes.functions.publishOutcome(
        failing, 2, reports[0]["report_uri"], keccak(text="not the report")), dao.city)
    _publish(stack, city, failing, "abandoned", "Abandoned, report altered")
    stack.index()
    failing_outcomes = {o["version"]: o for o in stack.api.get(f"/proposals/{failing}").json()["outcomes"]}
    _store_path(stack, failing_outcomes[0]["report_uri"]).unlink()
    _store_path(stack, failing_outcomes[2]["report_uri"]).write_bytes(b'{"status":"adopted"}')

    opened = _draft(stack, city, [xss_issue_id, issue_id], "An open question", "culture")
    assert opened.status_code == 202, opened.text
    assert stack.wait_job(opened.json()["job"]["id"])["status"] == "confirmed"
    stack.index()
    return World(voted=voted, failing=failing, open=int(opened.json()["proposal_id"]), issue_id=issue_id,
                 xss_issue_id=xss_issue_id, organisation=organisation, badge_name=badge_name)


# ---------------------------------------------------------------------- proposals


def test_the_list_shows_each_proposal_with_its_state_and_category_in_both_languages(stack, world):
    words = {"ja": ("可決", "まちづくり", "否決", "文化", "兼六園周辺の夜間照明"),
             "en": ("Passed", "Town planning", "Defeated", "Culture", "Night lighting around Kenroku-en")}
    for lang, (passed, town_planning, defeated, culture, title) in words.items():
        page = get_page(stack, f"/results?lang={lang}")
        assert page.all("html")[0]["lang"] == lang
        rows = {r["data-proposal-id"]: r for r in page.all("tr") if "data-proposal-id" in r}
        assert {str(world.voted), str(world.failing), str(world.open)} <= rows.keys()
        states = {a["data-state"] for a in page.all("td") if "data-state" in a}
        assert {"Succeeded", "Defeated"} <= states
        for word in (passed, town_planning, defeated, culture, title):
            assert word in page.text, (lang, word)
        link = f"/results/proposals/{world.voted}" + ("?lang=en" if lang == "en" else "")
        assert link in page.links()

    only_culture = get_page(stack, "/results?category=culture&lang=en")
    ids = {r["data-proposal-id"] for r in only_culture.all("tr") if "data-proposal-id" in r}
    assert str(world.voted) not in ids and {str(world.failing), str(world.open)} <= ids
    succeeded = get_page(stack, "/results?state=Succeeded")
    assert [r["data-proposal-id"] for r in succeeded.all("tr") if "data-proposal-id" in r] == [str(world.voted)]
    first = get_page(stack, "/results?per_page=1")
    assert len([r for r in first.all("tr") if "data-proposal-id" in r]) == 1
    next_link = next(a["href"] for a in first.all("a", rel="next"))
    assert parse_qs(urlsplit(next_link).query) == {"per_page": ["1"], "page": ["2"]}
    # the filter form keeps the language and labels its fields
    assert get_page(stack, "/results?lang=en").all("input", type="hidden", name="lang", value="en")


def test_the_proposal_page_shows_what_the_json_api_says(stack, world):
    data = stack.api.get(f"/proposals/{world.voted}").json()
    page = get_page(stack, f"/results/proposals/{world.voted}")

    assert chart_votes(page) == {s: data["tallies"]["by_segment"][s] for s in SEGMENT_NAMES}
    assert chart_votes(page)["resident"] == {"for": 4, "against": 1, "abstain": 0}
    overall = page.all("p", class_="overall")[0]
    assert {c: int(overall[f"data-overall-{c}"]) for c in ("for", "against", "abstain")} == data["tallies"]["overall"]
    # the numbers are text too, not only bar lengths: the table row of residents reads 4, 1, 0, 5
    assert "住民 4 1 0 5" in page.text and "関係人口 2 0 0 2" in page.text and "全体 7 1 0 8" in page.text
    assert "住民の過半数" in page.text and "満たしている" in page.text

    turnout = page.all("p", class_="turnout")[0]
    assert int(turnout["data-voters"]) == data["turnout"]["voters"] == 8
    assert int(turnout["data-eligible"]) == data["turnout"]["eligible"]
    attendance = page.all("p", class_="attendance")[0]
    assert int(attendance["data-related-events"]) == data["attendance_overlap"]["related_events"]
    assert int(attendance["data-voters-who-attended"]) == data["attendance_overlap"]["voters_who_attended"]

    assert page.h1 == data["document"]["title"]["ja"] == "兼六園周辺の夜間照明"
    assert "照明を増やす。" in page.text and data["proposer"] in page.text and data["tx_hash"] in page.text
    assert f"/results/issues/{world.issue_id}" in page.links() and "Dark streets near Kenroku-en" in page.text
    assert data["document_hash"] in page.text and data["document_uri"] in page.text
    checks = [a["data-verification"] for a in page.all("p") if "data-verification" in a]
    assert checks == ["verified"] * 3  # the document and both outcome reports

    # outcomes, newest first, each with its summary, transaction, hashes and report page
    versions = [(int(a["data-version"]), a["data-status"]) for a in page.all("article")]
    assert versions == [(1, "implemented"), (0, "adopted")]
    for outcome in data["outcomes"]:
        assert outcome["tx_hash"] in page.text and outcome["content_hash"] in page.text
        assert outcome["report_uri"] in page.text
        assert f"/results/proposals/{world.voted}/outcomes/{outcome['version']}/report" in page.links()
    assert "検証済み ✓" in page.text and "Lights installed（日本語）" in page.text

    english = get_page(stack, f"/results/proposals/{world.voted}?lang=en")
    assert "Night lighting around Kenroku-en" in english.text and "Add lights." in english.text
    assert "Verified ✓" in english.text and "Lights installed" in english.text and "Passed" in english.text
    assert chart_votes(english) == chart_votes(page)


def test_each_report_page_verifies_the_report_against_the_chain(stack, world):
    outcomes = stack.api.get(f"/proposals/{world.voted}").json()["outcomes"]
    page = get_page(stack, f"/results/proposals/{world.voted}/outcomes/0/report?lang=en")
    assert page.all(**{"data-verification": "verified"})
    assert outcomes[0]["content_hash"] in page.text and "Lights will be installed" in page.text
    # the computed hash is shown next to the on-chain one, and equals it
    assert page.text.count(outcomes[0]["content_hash"]) == 2
    # only http(s) links are links; the javascript: one stays text
    assert "https://example.org/report" in page.links()
    assert not any(link.lower().startswith("javascript") for link in page.links())
    assert "javascript:alert(1)" in page.text


def test_reports_that_fail_verification_say_so(stack, world):
    page = get_page(stack, f"/results/proposals/{world.failing}?lang=en")
    checks = {int(a["data-version"]): a for a in page.all("article")}
    assert set(checks) == {0, 1, 2}
    statuses = [a["data-verification"] for a in page.all("p") if "data-verification" in a]
    assert statuses == ["verified", "mismatch", "mismatch", "unavailable"]  # document, then versions 2, 1, 0
    assert "Cannot verify" in page.text and "Mismatch ✗" in page.text
    assert "Rejected, report lost" not in page.text  # an unverified summary is not shown as if it were the report

    lost = get_page(stack, f"/results/proposals/{world.failing}/outcomes/0/report")
    assert lost.all(**{"data-verification": "unavailable"}) and "検証できません" in lost.text
    assert "could not be fetched from the content store" in lost.text
    assert str(stack.settings.content_dir) not in lost.text and "/tmp" not in lost.text  # no server path on a page
    wrong_hash = get_page(stack, f"/results/proposals/{world.failing}/outcomes/1/report?lang=en")
    assert wrong_hash.all(**{"data-verification": "mismatch"})
    assert "0x" + keccak(text="not the report").hex() in wrong_hash.text and "Caution" in wrong_hash.text
    altered = get_page(stack, f"/results/proposals/{world.failing}/outcomes/2/report?lang=en")
    assert altered.all(**{"data-verification": "mismatch"}) and "does not match it" in altered.text


# ---------------------------------------------------------------------- issues, organisations, open data


def test_issue_text_is_escaped_everywhere_it_shows(stack, world):
    for url in (f"/results/issues/{world.xss_issue_id}", f"/results/proposals/{world.open}",
                "/results/issues?q=%3Cscript%3E&lang=en"):
        response = stack.api.get(url)
        assert response.status_code == 200, url
        assert XSS_ESCAPED in response.text, url
        assert "<script" not in response.text and "<img" not in response.text, url
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
    not_found = stack.api.get("/results/" + XSS)  # the path is shown on the 404 page
    assert not_found.status_code == 404 and "&lt;script&gt;" in not_found.text and "<script" not in not_found.text
    page = get_page(stack, f"/results/issues/{world.xss_issue_id}")
    assert page.text.count(XSS) == 4  # title, heading, body and the comment, as text
    # what the reader typed into the search box comes back escaped too
    searched = stack.api.get("/results/issues", params={"q": XSS}).text
    assert f'value="{XSS_ESCAPED}"' in searched and "<script" not in searched


def test_the_issues_board_filters_and_pages(stack, world):
    (member,) = stack.dao.members([RESIDENT])
    stack.index()
    headers = stack.sign_in(member)
    tag = _tag()
    ids = []
    for n, category in enumerate(("culture", "tourism", "culture")):
        response = stack.api.post("/issues", headers=headers, json={
            "title": f"{tag} issue {n}", "body": "本文", "category": category})
        ids.append(response.json()["id"])
    assert stack.api.patch(f"/issues/{ids[0]}", headers=headers, json={"status": "resolved"}).status_code == 200

    def shown(url):
        return [int(r["data-issue-id"]) for r in get_page(stack, url).all("tr") if "data-issue-id" in r]

    assert shown(f"/results/issues?q={tag}") == ids[::-1]
    assert shown(f"/results/issues?q={tag}&category=culture") == [ids[2], ids[0]]
    assert shown(f"/results/issues?q={tag}&status=resolved") == [ids[0]]
    assert shown(f"/results/issues?q={tag}&sort=oldest") == ids
    first = get_page(stack, f"/results/issues?q={tag}&per_page=2&lang=en")
    assert [int(r["data-issue-id"]) for r in first.all("tr") if "data-issue-id" in r] == [ids[2], ids[1]]
    assert "Page 1 of 2 (3 in all)" in first.text
    next_link = next(a["href"] for a in first.all("a", rel="next"))
    assert parse_qs(urlsplit(next_link).query) == {"q": [tag], "per_page": ["2"], "page": ["2"], "lang": ["en"]}
    assert shown(next_link) == [ids[0]]
    assert shown(f"/results/issues?q={tag}&page=99") == []  # past the end: an empty page, not an error
    # the form shows the current filters
    page = get_page(stack, f"/results/issues?q={tag}&category=culture")
    assert page.all("input", name="q", value=tag) and page.all("option", value="culture", selected="")

    issue = get_page(stack, f"/results/issues/{world.issue_id}?lang=en")
    assert "Dark streets near Kenroku-en" in issue.text and "兼六園周辺の夜間照明が足りない" in issue.text
    assert "街灯を増やしてほしい" in issue.text and "Comments (1)" in issue.text and "Town planning" in issue.text


def test_the_organisations_page_lists_badge_types(stack, world):
    for lang, name, kind in (("ja", "金沢能楽美術館", "参加証"), ("en", "Kanazawa Craft Guild", "Attendance")):
        page = get_page(stack, f"/results/organisations?lang={lang}")
        section = page.all("section", data_organisation_id=str(world.organisation["id"]))
        assert section, lang
        assert name in page.text and world.badge_name in page.text and kind in page.text
        assert page.all("tr", data_kind="attendance")
        assert world.organisation["issuer_address"] in page.text


def test_the_open_data_page_links_every_download(stack, world):
    page = get_page(stack, "/results/open-data?lang=en")
    assert "CC BY 4.0" in page.text and "https://creativecommons.org/licenses/by/4.0/" in page.links()
    downloads = [a for a in page.all("a") if "data-format" in a]
    datasets = stack.api.get("/open-data").json()
    assert len(downloads) == 3 * len(datasets)
    for link in downloads:
        response = stack.api.get(link["href"])
        assert response.status_code == 200, link
        expected = "text/csv" if link["data-format"] == "csv" else "application/json"
        assert response.headers["content-type"].startswith(expected), link
    english = stack.api.get("/open-data/proposals.csv?lang=en").text.splitlines()[0]
    assert english.startswith("Proposal ID,Category")
    for dataset in datasets:  # the columns are documented from the same declarations
        assert all(c["ja"] in page.text and c["key"] in page.text for c in dataset["columns"])


# ---------------------------------------------------------------------- navigation, errors, structure


def test_the_root_redirects_and_the_pages_stay_out_of_the_api_description(stack):
    response = stack.api.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/results"
    assert stack.api.get("/?lang=en", follow_redirects=False).headers["location"] == "/results?lang=en"
    assert stack.api.get("/results/proposals", follow_redirects=False).status_code == 307
    paths = stack.api.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/results")]
    css = stack.api.get("/results/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media" in css.text and "http" not in css.text  # no external fonts or CDNs


def test_the_language_switch_keeps_the_page_and_its_query(stack, world):
    page = get_page(stack, "/results/issues?q=lights&category=culture")
    switch = page.all("a", hreflang="en", lang="en")[0]["href"]
    parts = urlsplit(switch)
    assert parts.path == "/results/issues"
    assert parse_qs(parts.query) == {"q": ["lights"], "category": ["culture"], "lang": ["en"]}
    back = get_page(stack, switch).all("a", hreflang="ja", lang="ja")[0]["href"]
    assert parse_qs(urlsplit(back).query)["lang"] == ["ja"]


def test_unknown_pages_and_bad_input_are_html_pages(stack, world):
    not_found = [f"/results/proposals/{world.voted + 1}", "/results/proposals/not-a-number", "/results/issues/999999",
                 "/results/issues/0x1", f"/results/proposals/{world.voted}/outcomes/9/report",
                 f"/results/proposals/{world.voted}/outcomes/x/report", "/results/no-such-page"]
    for url in not_found:
        page = get_page(stack, url, status=404)
        assert "ページが見つかりません" in page.text and page.all("html")[0]["lang"] == "ja", url
    english = get_page(stack, "/results/issues/999999?lang=en", status=404)
    assert english.all("html")[0]["lang"] == "en" and "Page not found" in english.text
    for url in ("/results?category=sports", "/results?state=Unknown", "/results?page=abc",
                "/results/issues?status=done", "/results/issues?sort=random", "/results/issues?q=" + "x" * 201):
        get_page(stack, url, status=422)
    # out-of-range numbers are clamped, not refused
    for url in ("/results?page=0", "/results?per_page=100000", "/results?page=999999999999999999999999",
                "/results/issues?per_page=-1", "/results/issues?page=99999999999999999999", "/results?lang=fr"):
        get_page(stack, url)


def test_every_page_reached_from_the_start_is_accessible(stack, world):
    """Follow every link within /results from both languages' start pages: each is a 200 HTML page with one h1, a
    main, labels for every field, captions and scoped headers (get_page checks them all)."""
    seen, queue = set(), ["/results", "/results?lang=en"]
    while queue and len(seen) < 80:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page = get_page(stack, url)
        for link in page.links():
            if link.startswith("/results") and not link.startswith("/results/static") and link not in seen:
                queue.append(link)
    assert any("/outcomes/" in u for u in seen) and any("/results/issues/" in u for u in seen)
    assert any(u.startswith("/results/organisations") for u in seen)


#: The innermost elements that stick out to the right, for the failure message.
WIDER_THAN_THE_SCREEN = """[...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > innerWidth && ![...e.children].some(
        c => c.getBoundingClientRect().right > innerWidth))
    .slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 60))"""


#: Text whose colour against its effective background is below WCAG AA (4.5:1).
LOW_CONTRAST = """(() => {
    const rgba = c => { const v = c.match(/[\\d.]+/g).map(Number); return v.length === 4 ? v : [...v, 1]; };
    const lum = ([r, g, b]) => [r, g, b].map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const background = e => {
        for (; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] > 0) return c; }
        return [255, 255, 255, 1];
    };
    return [...document.querySelectorAll('body *')]
        .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
        .map(e => { const [a, b] = [lum(rgba(getComputedStyle(e).color)), lum(background(e))].sort((x, y) => y - x);
                    return [e.tagName + ': ' + e.textContent.trim().slice(0, 40), (a + 0.05) / (b + 0.05)]; })
        .filter(([, ratio]) => ratio < 4.5);
})()"""


def test_the_pages_fit_a_phone_screen(stack, world, browser):
    """At 360 px nothing scrolls sideways: tables become cards, hashes wrap. The browser is served by the
    in-process API (every request answered by the test client)."""
    def serve(route):
        parts = urlsplit(route.request.url)
        response = stack.api.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        route.fulfill(status=response.status_code, headers=headers, body=response.content)

    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.route("http://results.test/**", serve)
    try:
        for url in ("/results", f"/results/proposals/{world.voted}", f"/results/proposals/{world.failing}?lang=en",
                    f"/results/proposals/{world.voted}/outcomes/0/report", "/results/issues",
                    f"/results/issues/{world.issue_id}", "/results/organisations", "/results/open-data?lang=en"):
            page.goto("http://results.test" + url)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (url, width, page.evaluate(WIDER_THAN_THE_SCREEN))
            assert page.evaluate(LOW_CONTRAST) == [], url
            # the stylesheet applied (a blocked or missing one would leave tables unstacked and pass by luck)
            assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor") \
                == "rgb(31, 58, 95)", url
        page.goto(f"http://results.test/results/proposals/{world.voted}")
        bars = page.evaluate("""[...document.querySelectorAll('rect[data-segment]')].map(
            r => [r.dataset.segment, r.dataset.choice, +r.dataset.votes, r.getBoundingClientRect().width])""")
        resident = {choice: (votes, width) for segment, choice, votes, width in bars if segment == "resident"}
        assert resident["for"][1] > resident["against"][1] > 0 and resident["abstain"][1] == 0
    finally:
        page.close()
