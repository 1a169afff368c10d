"""The issues board: members, organisations and the city post issues, anyone searches them, authors alone edit them,
members support them once each, comments page oldest first, and the city imports an external board's export
(CSV or JSON, English or Japanese headers) idempotently, with broken rows reported and the rest kept."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from eth_account import Account

from tests.api_stack import problem as _problem
from tests.dao import RELATIONSHIP_POPULATION, RESIDENT

KENROKUEN = (36.5621, 136.6627)
KANAZAWA_STATION = (36.5781, 136.6481)
TOKYO_STATION = (35.6812, 139.7671)




def _tag() -> str:
    """A word no other test uses, so that tests sharing the module's database see only their own issues."""
    return "t" + uuid.uuid4().hex[:10]


def _sign_in(stack, account) -> dict[str, str]:
    """Bearer headers only: the session cookie is dropped, so that a request without headers is anonymous."""
    headers = stack.sign_in(account)
    stack.api.cookies.clear()
    return headers


def _members(stack, count: int = 1, segment: int = RESIDENT) -> list[tuple[object, dict[str, str]]]:
    accounts = stack.dao.members([segment] * count)
    stack.index()
    return [(a, _sign_in(stack, a)) for a in accounts]


def _post(stack, headers, title: str, **fields) -> dict:
    response = stack.api.post("/issues", headers=headers, json={
        "title": title, "body": fields.pop("body", "詳しい説明"), "category": fields.pop("category", "culture"),
        **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _search(stack, **params) -> dict:
    response = stack.api.get("/issues", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _titles(page: dict) -> list[str]:
    return [i["title"] for i in page["items"]]


def _import(stack, headers, source: str, data: bytes | str, content_type: str = "text/csv"):
    content = data.encode() if isinstance(data, str) else data
    headers = {**headers, "Content-Type": content_type}
    return stack.api.post("/issues/import", params={"source": source}, headers=headers, content=content)


# ---------------------------------------------------------------------- posting and reading


def test_members_and_the_city_post_issues(stack):
    (member, headers), = _members(stack)
    issue = _post(stack, headers, "浅野川沿いの街灯が暗い", body="夜の散歩が怖い。", category="town-planning",
                  location_name="浅野川 梅ノ橋", latitude=KENROKUEN[0], longitude=KENROKUEN[1],
                  skills_wanted=[" 照明 ", "デザイン", "照明"])
    assert issue["author"] == member.address and issue["source"] == "kanazawa-dao" and issue["external_id"] is None
    assert issue["status"] == "open" and issue["support_count"] == 0 and issue["comment_count"] == 0
    assert issue["skills_wanted"] == ["照明", "デザイン"]  # trimmed, repeats collapsed
    assert (issue["latitude"], issue["longitude"]) == KENROKUEN
    assert stack.api.get(f"/issues/{issue['id']}").json() == issue

    city = _post(stack, _sign_in(stack, stack.dao.city), "市からの課題", category="tourism")
    assert city["author"] == stack.dao.city.address

    payload = {"title": "x", "body": "y", "category": "culture"}
    _problem(stack.api.post("/issues", json=payload), 401, "not-authenticated")
    problem = _problem(stack.api.post("/issues", headers=_sign_in(stack, Account.create()), json=payload), 403,
                       "forbidden")
    assert "member or organisation or city" in problem["detail"]
    _problem(stack.api.get("/issues/999999"), 404, "not-found")
    _problem(stack.api.get("/issues/0"), 422, "invalid-input")
    _problem(stack.api.get("/issues/99999999999999999999"), 422, "invalid-input")


def test_bad_issues_are_refused_with_the_field_named(stack):
    (_, headers), = _members(stack)
    good = {"title": "ok", "body": "ok", "category": "culture"}
    cases = [({"title": ""}, "title"), ({"title": "x" * 201}, "title"), ({"body": "x" * 20_001}, "body"),
             ({"category": "sports"}, "category"), ({"latitude": 91, "longitude": 0}, "latitude"),
             ({"latitude": 0, "longitude": -181}, "longitude"), ({"skills_wanted": [f"s{i}" for i in range(21)]},
                                                                 "skills_wanted"),
             ({"skills_wanted": ["x" * 51]}, "skills_wanted"), ({"source": "matchbako"}, "source")]
    for change, field in cases:
        problem = _problem(stack.api.post("/issues", headers=headers, json={**good, **change}), 422, "invalid-input")
        assert field in problem["errors"][0]["location"], (change, problem)
    problem = _problem(stack.api.post("/issues", headers=headers, json={**good, "title": "   "}), 422, "invalid-input")
    assert problem["detail"] == "title is required"
    problem = _problem(stack.api.post("/issues", headers=headers, json={**good, "latitude": 36.5}), 422,
                       "invalid-input")
    assert "both latitude and longitude" in problem["detail"]
    _problem(stack.api.post("/issues", headers={**headers, "Content-Type": "application/json"}, content=b"{not json"),
             422, "invalid-input")
    _problem(stack.api.post("/issues", headers=headers, json={**good, "body": "x" * (1 << 20)}), 413, "too-large")


def test_search_filters_sorts_and_pages(stack):
    (author, headers), (other, other_headers) = _members(stack, 2)
    tag = _tag()
    tea = _post(stack, headers, f"{tag.upper()} 茶屋街の混雑", body="観光客が多い", category="tourism",
                latitude=36.5725, longitude=136.6667, skills_wanted=["Guide", "英語"])
    lights = _post(stack, headers, f"{tag} 夜の照明", body="100% LED にしたい", category="town-planning",
                   latitude=KENROKUEN[0], longitude=KENROKUEN[1], skills_wanted=["照明"])
    far = _post(stack, other_headers, f"{tag} 東京の出張所", body="遠い", category="other",
                latitude=TOKYO_STATION[0], longitude=TOKYO_STATION[1])
    plain = _post(stack, other_headers, f"{tag} 場所のない課題", body="特になし", category="tourism")

    everything = _search(stack, q=tag, sort="oldest")
    assert everything["total"] == 4 and _titles(everything)[0] == tea["title"]  # any case: TAG matched tag
    assert [i["id"] for i in _search(stack, q=tag)["items"]] == [plain["id"], far["id"], lights["id"], tea["id"]]
    assert [i["id"] for i in _search(stack, q="100% led")["items"]] == [lights["id"]]  # the body; % is literal
    assert _search(stack, q="0%L")["total"] == 0
    assert {i["id"] for i in _search(stack, q=tag, category="tourism")["items"]} == {tea["id"], plain["id"]}
    assert [i["id"] for i in _search(stack, q=tag, skill="guide")["items"]] == [tea["id"]]
    assert [i["id"] for i in _search(stack, q=tag, skill="英語")["items"]] == [tea["id"]]
    assert _search(stack, q=tag, skill="英")["total"] == 0  # a whole entry, not a substring
    assert [i["id"] for i in _search(stack, q=tag, author=other.address.lower())["items"]] == [plain["id"], far["id"]]
    near = _search(stack, q=tag, near=f"{KANAZAWA_STATION[0]},{KANAZAWA_STATION[1]},5", sort="oldest")
    assert [i["id"] for i in near["items"]] == [tea["id"], lights["id"]]
    close = _search(stack, q=tag, near=f"{KENROKUEN[0]},{KENROKUEN[1]},0.5")
    assert [i["id"] for i in close["items"]] == [lights["id"]]
    assert _search(stack, q=tag, source="kanazawa-dao")["total"] == 4
    assert _search(stack, q=tag, source="ha4go")["total"] == 0

    pages = [_search(stack, q=tag, sort="oldest", per_page=3, page=n) for n in (1, 2, 3)]
    assert [p["total"] for p in pages] == [4, 4, 4] and [len(p["items"]) for p in pages] == [3, 1, 0]
    assert pages[0]["page"] == 1 and pages[0]["per_page"] == 3
    assert [i["id"] for p in pages for i in p["items"]] == [tea["id"], lights["id"], far["id"], plain["id"]]

    assert stack.api.patch(f"/issues/{tea['id']}", headers=headers, json={"status": "resolved"}).status_code == 200
    assert _titles(_search(stack, q=tag, sort="updated"))[0] == tea["title"]
    assert [i["id"] for i in _search(stack, q=tag, status="resolved")["items"]] == [tea["id"]]
    stack.api.post(f"/issues/{far['id']}/supports", headers=headers)
    assert _search(stack, q=tag, sort="supports")["items"][0]["id"] == far["id"]

    for params, field in [({"per_page": 101}, "per_page"), ({"per_page": 0}, "per_page"), ({"page": 0}, "page"),
                          ({"sort": "random"}, "sort"), ({"category": "sports"}, "category"),
                          ({"status": "done"}, "status"), ({"author": "0x123"}, "author"),
                          ({"near": "36.5,136.6"}, "near"), ({"source": "Not A Slug"}, "source")]:
        problem = _problem(stack.api.get("/issues", params=params), 422, "invalid-input")
        assert problem["errors"][0]["location"] == ["query", field], problem
    problem = _problem(stack.api.get("/issues", params={"near": "91,136.6,1"}), 422, "invalid-input")
    assert "near" in problem["detail"]
    _problem(stack.api.get("/issues", params={"near": "36.5,136.6,0"}), 422, "invalid-input")


# ---------------------------------------------------------------------- editing


def test_only_the_author_edits_an_issue(stack):
    (_, author), (_, other) = _members(stack, 2)
    issue = _post(stack, author, "古い題", body="本文", category="culture", location_name="金沢城公園",
                  latitude=KENROKUEN[0], longitude=KENROKUEN[1], skills_wanted=["写真"])
    url = f"/issues/{issue['id']}"

    response = stack.api.patch(url, headers=author, json={"title": "新しい題", "status": "in-progress"})
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["title"] == "新しい題" and edited["status"] == "in-progress"
    assert {k: edited[k] for k in ("body", "category", "location_name", "skills_wanted", "latitude")} == {
        "body": "本文", "category": "culture", "location_name": "金沢城公園", "skills_wanted": ["写真"],
        "latitude": KENROKUEN[0]}
    assert edited["updated_at"] >= issue["updated_at"] and edited["created_at"] == issue["created_at"]

    moved = stack.api.patch(url, headers=author, json={"latitude": 36.57}).json()
    assert (moved["latitude"], moved["longitude"]) == (36.57, KENROKUEN[1])
    cleared = stack.api.patch(url, headers=author, json={"latitude": None, "longitude": None, "location_name": None})
    assert cleared.status_code == 200 and cleared.json()["latitude"] is None and cleared.json()["location_name"] is None
    assert stack.api.patch(url, headers=author, json={}).json()["title"] == "新しい題"

    assert "author" in _problem(stack.api.patch(url, headers=other, json={"title": "乗っ取り"}), 403, "forbidden")["detail"]
    _problem(stack.api.patch(url, headers=_sign_in(stack, stack.dao.city), json={"title": "市"}), 403, "forbidden")
    _problem(stack.api.patch(url, json={"title": "誰か"}), 401, "not-authenticated")
    _problem(stack.api.patch(url, headers=author, json={"latitude": 36.5}), 422, "invalid-input")
    assert _problem(stack.api.patch(url, headers=author, json={"title": None}), 422,
                    "invalid-input")["detail"] == "title is required"
    _problem(stack.api.patch(url, headers=author, json={"status": "done"}), 422, "invalid-input")
    _problem(stack.api.patch(url, headers=author, json={"author": "0x" + "00" * 20}), 422, "invalid-input")
    _problem(stack.api.patch("/issues/999999", headers=author, json={"title": "x"}), 404, "not-found")
    assert stack.api.get(url).json()["title"] == "新しい題"


def test_an_imported_issue_is_edited_on_its_own_board(stack):
    city = _sign_in(stack, stack.dao.city)
    source = "ext-" + _tag()
    assert _import(stack, city, source, "external_id,title\nE-1,外部の課題\n").json()["created"] == 1
    issue = _search(stack, source=source)["items"][0]
    assert issue["author"] is None and issue["external_id"] == "E-1"
    problem = _problem(stack.api.patch(f"/issues/{issue['id']}", headers=city, json={"title": "x"}), 403, "forbidden")
    assert source in problem["detail"]


# ---------------------------------------------------------------------- supports


def test_one_support_per_member_and_the_count_follows(stack):
    members = _members(stack, 3, RELATIONSHIP_POPULATION)
    issue = _post(stack, members[0][1], "兼六園の混雑")
    url = f"/issues/{issue['id']}/supports"
    for n, (_, headers) in enumerate(members, start=1):
        response = stack.api.post(url, headers=headers)
        assert response.status_code == 201 and response.json() == {"issue_id": issue["id"], "support_count": n}
    problem = _problem(stack.api.post(url, headers=members[0][1]), 409, "conflict")
    assert members[0][0].address in problem["detail"]
    supported = stack.api.get(f"/issues/{issue['id']}").json()
    assert supported["support_count"] == 3
    assert supported["updated_at"] > issue["updated_at"]  # the open data's issue rows carry the count

    response = stack.api.delete(url, headers=members[1][1])
    assert response.status_code == 204 and response.content == b""
    assert stack.api.get(f"/issues/{issue['id']}").json()["support_count"] == 2
    _problem(stack.api.delete(url, headers=members[1][1]), 404, "not-found")
    assert stack.api.post(url, headers=members[1][1]).json()["support_count"] == 3  # supporting again is fine

    _problem(stack.api.post(url), 401, "not-authenticated")
    _problem(stack.api.post(url, headers=_sign_in(stack, Account.create())), 403, "forbidden")
    _problem(stack.api.post(url, headers=_sign_in(stack, stack.dao.city)), 403, "forbidden")
    _problem(stack.api.delete(url), 401, "not-authenticated")
    _problem(stack.api.post("/issues/999999/supports", headers=members[0][1]), 404, "not-found")
    assert stack.api.get(f"/issues/{issue['id']}").json()["support_count"] == 3


def test_concurrent_supports_are_all_counted(stack):
    members = _members(stack, 8)
    issue = _post(stack, members[0][1], "同時に賛同される課題")
    url = f"/issues/{issue['id']}/supports"
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda m: stack.api.post(url, headers=m[1]).status_code, members))
    assert statuses == [201] * 8
    assert stack.api.get(f"/issues/{issue['id']}").json()["support_count"] == 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda m: stack.api.delete(url, headers=m[1]).status_code, members[:5]))
    assert statuses == [204] * 5
    assert stack.api.get(f"/issues/{issue['id']}").json()["support_count"] == 3


# ---------------------------------------------------------------------- comments


def test_comments_page_oldest_first(stack):
    (member, headers), = _members(stack)
    issue = _post(stack, headers, "コメントのある課題")
    url = f"/issues/{issue['id']}/comments"
    city = _sign_in(stack, stack.dao.city)
    for n in range(5):
        response = stack.api.post(url, headers=city if n == 2 else headers, json={"body": f"コメント {n}"})
        assert response.status_code == 201, response.text
    first = stack.api.get(url, params={"per_page": 2}).json()
    assert first["total"] == 5 and [c["body"] for c in first["items"]] == ["コメント 0", "コメント 1"]
    assert first["items"][0]["author"] == member.address and first["items"][0]["issue_id"] == issue["id"]
    third = stack.api.get(url, params={"per_page": 2, "page": 2}).json()["items"][0]
    assert third["body"] == "コメント 2" and third["author"] == stack.dao.city.address
    assert stack.api.get(f"/issues/{issue['id']}").json()["comment_count"] == 5
    listed = _search(stack, q="コメントのある課題")["items"]
    assert [i["comment_count"] for i in listed if i["id"] == issue["id"]] == [5]

    _problem(stack.api.post(url, json={"body": "匿名"}), 401, "not-authenticated")
    _problem(stack.api.post(url, headers=_sign_in(stack, Account.create()), json={"body": "役割なし"}), 403, "forbidden")
    _problem(stack.api.post(url, headers=headers, json={"body": ""}), 422, "invalid-input")
    _problem(stack.api.post(url, headers=headers, json={"body": " \n "}), 422, "invalid-input")
    _problem(stack.api.post(url, headers=headers, json={"body": "x" * 5001}), 422, "invalid-input")
    _problem(stack.api.post("/issues/999999/comments", headers=headers, json={"body": "x"}), 404, "not-found")
    _problem(stack.api.get("/issues/999999/comments"), 404, "not-found")
    assert stack.api.get(url).json()["total"] == 5


# ---------------------------------------------------------------------- imports


ENGLISH_CSV = """external_id,title,body,category,status,location_name,latitude,longitude,skills_wanted,external_url
M-1,用水路のごみ,鞍月用水にごみが多い,environment,open,鞍月用水,36.5651,136.6534,清掃;広報,https://matchbako.example/1
M-2,空き家の活用,町家が空いている,town-planning,in-progress,,,,"建築; 不動産 ;",
"""
JAPANESE_CSV = """外部ID,タイトル,本文,カテゴリ,状態,場所,緯度,経度,求めるスキル,URL
J-1,雪すかしの手伝い,高齢者の家の前,福祉,受付中,長町,36.5627,136.6482,力仕事；運転,https://matchbako.example/j1
J-2,"伝統工芸の
後継者",金箔職人が減っている,文化,対応中,東山,,,,
"""


def test_import_csv_with_english_and_japanese_headers_is_idempotent(stack):
    city = _sign_in(stack, stack.dao.city)
    source = "mb-" + _tag()
    response = _import(stack, city, source, ENGLISH_CSV)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0, "errors": []}
    response = _import(stack, city, source, "\ufeff" + JAPANESE_CSV, "text/csv; charset=UTF-8")
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0, "errors": []}

    issues = {i["external_id"]: i for i in _search(stack, source=source, per_page=100)["items"]}
    assert set(issues) == {"M-1", "M-2", "J-1", "J-2"}
    assert issues["M-1"]["skills_wanted"] == ["清掃", "広報"] and issues["M-1"]["latitude"] == 36.5651
    assert issues["M-1"]["external_url"] == "https://matchbako.example/1" and issues["M-1"]["author"] is None
    assert issues["M-2"]["skills_wanted"] == ["建築", "不動産"] and issues["M-2"]["location_name"] is None
    assert (issues["J-1"]["category"], issues["J-1"]["status"]) == ("welfare", "open")
    assert issues["J-1"]["skills_wanted"] == ["力仕事", "運転"]
    assert issues["J-2"]["title"] == "伝統工芸の\n後継者" and issues["J-2"]["category"] == "culture"
    assert issues["J-2"]["status"] == "in-progress" and issues["J-2"]["body"] == "金箔職人が減っている"

    # The same files again change nothing; an edited row updates its issue in place.
    assert _import(stack, city, source, ENGLISH_CSV).json() == {"created": 0, "updated": 0, "unchanged": 2,
                                                                "errors": []}
    edited = ENGLISH_CSV.replace("open,鞍月用水", "resolved,鞍月用水")
    assert _import(stack, city, source, edited.encode("utf-8-sig")).json() == {
        "created": 0, "updated": 1, "unchanged": 1, "errors": []}
    again = _search(stack, source=source, per_page=100)
    assert again["total"] == 4
    m1 = next(i for i in again["items"] if i["external_id"] == "M-1")
    assert m1["id"] == issues["M-1"]["id"] and m1["status"] == "resolved"
    # Another board may use the same external ids: they are different issues.
    other = "hg-" + _tag()
    assert _import(stack, city, other, ENGLISH_CSV).json()["created"] == 2
    assert _search(stack, source=source)["total"] == 4 and _search(stack, source=other)["total"] == 2


def test_import_json_list_or_object(stack):
    city = _sign_in(stack, stack.dao.city)
    source = "js-" + _tag()
    rows = [{"external_id": 101, "title": "バス停の屋根", "category": "town-planning", "latitude": 36.57,
             "longitude": 136.65, "skills_wanted": ["設計", "施工"]},
            {"外部ID": "ext-2", "タイトル": "観光案内の多言語化", "カテゴリ": "観光", "求めるスキル": "翻訳;英語"}]
    response = _import(stack, city, source, json.dumps(rows), "application/json")
    assert response.status_code == 200 and response.json() == {"created": 2, "updated": 0, "unchanged": 0, "errors": []}
    issues = {i["external_id"]: i for i in _search(stack, source=source)["items"]}
    assert issues["101"]["skills_wanted"] == ["設計", "施工"] and issues["101"]["body"] == ""
    assert issues["ext-2"]["category"] == "tourism" and issues["ext-2"]["skills_wanted"] == ["翻訳", "英語"]
    assert issues["ext-2"]["status"] == "open" and issues["ext-2"]["latitude"] is None

    rows[1]["カテゴリ"] = "education"
    response = _import(stack, city, source, json.dumps({"issues": rows}), "application/json; charset=utf-8")
    assert response.json() == {"created": 0, "updated": 1, "unchanged": 1, "errors": []}
    assert {i["external_id"]: i["category"] for i in _search(stack, source=source)["items"]} == {
        "101": "town-planning", "ext-2": "education"}


def test_import_reports_broken_rows_and_keeps_the_good_ones(stack):
    city = _sign_in(stack, stack.dao.city)
    source = "br-" + _tag()
    csv_text = ("external_id,title,category,latitude,longitude,external_url\n"
                "B-1,よい行,culture,,,\n"                       # row 2
                ",IDのない行,culture,,,\n"                      # row 3
                "B-3,,culture,,,\n"                            # row 4
                "B-4,分類が不明,sports,,,\n"                     # row 5
                "B-5,緯度が変,culture,north,136.6,\n"            # row 6
                "B-6,経度だけ,culture,,136.6,\n"                 # row 7
                "B-1,同じID,culture,,,\n"                       # row 8
                "B-8,リンクが変,culture,,,javascript:alert(1)\n"  # row 9
                "\n"                                          # row 10: blank, skipped
                "B-9,セルが多い,culture,,,,extra\n"               # row 11
                "B-10,よい行その2,other,36.5,136.6,\n")          # row 12
    response = _import(stack, city, source, csv_text)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["updated"], report["unchanged"]) == (2, 0, 0)
    errors = {e["row"]: e for e in report["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 11]
    assert errors[3]["external_id"] is None and "external_id" in errors[3]["error"]
    assert errors[4]["external_id"] == "B-3" and "title" in errors[4]["error"]
    assert "sports" in errors[5]["error"] and "latitude" in errors[6]["error"]
    assert "both latitude and longitude" in errors[7]["error"]
    assert errors[8]["external_id"] == "B-1" and "row 2" in errors[8]["error"]
    assert "external_url" in errors[9]["error"] and "cells" in errors[11]["error"]
    assert sorted(i["external_id"] for i in _search(stack, source=source)["items"]) == ["B-1", "B-10"]
    assert next(i for i in _search(stack, source=source)["items"] if i["external_id"] == "B-1")["title"] == "よい行"

    rows = [{"external_id": "J-1", "title": "よい"}, ["not", "an", "object"], {"external_id": "J-3", "title": 7},
            {"external_id": "J-4", "title": "座標", "latitude": 95, "longitude": 0}]
    report = _import(stack, city, source, json.dumps(rows), "application/json").json()
    assert report["created"] == 1
    assert [(e["row"], e["external_id"]) for e in report["errors"]] == [(2, None), (3, "J-3"), (4, "J-4")]
    assert "between -90 and 90" in report["errors"][2]["error"]


def test_import_refuses_what_it_cannot_read(stack):
    city = _sign_in(stack, stack.dao.city)
    source = "bad-" + _tag()
    assert "JSON" in _problem(_import(stack, city, source, "{not json", "application/json"), 422,
                              "invalid-input")["detail"]
    _problem(_import(stack, city, source, '{"rows": []}', "application/json"), 422, "invalid-input")
    _problem(_import(stack, city, source, "[" * 100_000, "application/json"), 422, "invalid-input")
    _problem(_import(stack, city, source, "", "text/csv"), 422, "invalid-input")
    assert "external_id" in _problem(_import(stack, city, source, "name,title\nx,y\n"), 422, "invalid-input")["detail"]
    assert "twice" in _problem(_import(stack, city, source, "external_id,title,タイトル\n1,a,b\n"), 422,
                               "invalid-input")["detail"]
    shift_jis = "外部ID,タイトル\nS-1,雪吊り\n".encode("shift_jis")
    assert "UTF-8" in _problem(_import(stack, city, source, shift_jis), 422, "invalid-input")["detail"]
    _problem(_import(stack, city, source, "external_id,title\nX,x\n", "text/plain"), 415, "unsupported-media-type")
    _problem(_import(stack, city, source, "external_id,title\nX,x\n", "text/csv; charset=shift_jis"), 415,
             "unsupported-media-type")
    _problem(_import(stack, city, source, b"external_id,title\n" + b"x" * stack.settings.max_import_bytes), 413,
             "too-large")
    _problem(_import(stack, city, "kanazawa-dao", "external_id,title\nX,x\n"), 422, "invalid-input")
    _problem(_import(stack, city, "Not A Slug", "external_id,title\nX,x\n"), 422, "invalid-input")
    _problem(stack.api.post("/issues/import", headers=city, content=b"external_id,title\nX,x\n"), 422,
             "invalid-input")  # no source

    (_, member), = _members(stack)
    _problem(_import(stack, member, source, "external_id,title\nX,x\n"), 403, "forbidden")
    _problem(_import(stack, member, source, "external_id,title\nX,x\n", "text/plain"), 403, "forbidden")
    _problem(_import(stack, {}, source, "external_id,title\nX,x\n"), 401, "not-authenticated")
    assert _search(stack, source=source)["total"] == 0  # nothing was imported by any of these


def test_search_ignores_width_and_case_and_follows_edits(stack):
    """Japanese text comes in full-width and half-width forms; a search finds either with either (NFKC), and an
    edited issue is found by its new words only."""
    (_, headers), = _members(stack)
    tag = _tag()
    wifi = _post(stack, headers, f"{tag} 駅前の無料Ｗｉ－Ｆｉ", body="ﾊﾞｽ停でも使いたい", category="town-planning")
    assert [i["id"] for i in _search(stack, q=f"{tag} 駅前の無料wi-fi")["items"]] == [wifi["id"]]
    assert [i["id"] for i in _search(stack, q="バス停でも")["items"]] == [wifi["id"]]  # half-width kana in the body
    assert [i["id"] for i in _search(stack, q="ｗｉ－ｆｉ", source="kanazawa-dao")["items"]][:1] == [wifi["id"]]
    assert stack.api.patch(f"/issues/{wifi['id']}", headers=headers,
                           json={"body": "Free charging stations"}).status_code == 200
    assert _search(stack, q="ﾊﾞｽ停でも")["total"] == 0
    assert [i["id"] for i in _search(stack, q=f"{tag} FREE CHARGING")["items"]] == [] and \
        [i["id"] for i in _search(stack, q="free charging stations")["items"]] == [wifi["id"]]
