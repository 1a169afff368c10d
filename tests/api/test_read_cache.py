"""The read cache (frontend_api/cache.py): anonymous public reads are answered from memory while the database has
not changed, for `read_cache_seconds` (then as stale while computed again, up to twice that); a commit by any process is seen within VERSION_CHECK_S
(unless the process is busy computing answers: then the previous answer is served as stale while it computes the new one); a write
through the same process empties it at once; signed-in requests, typed data (nonces), jobs and health never touch
it; only complete 200 answers are kept; concurrent misses of one URL are computed once.

Against the real stack (its database: SQLite here, PostgreSQL in CI): a cached API and, as "another process" (the
indexer, another API worker), a second app on the same database without the cache."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

from frontend_api.app import create_app
from frontend_api.cache import VERSION_CHECK_S, ReadCache
from tests.dao import RESIDENT

SECONDS = 1.0


def _cached_api(stack) -> TestClient:
    settings = stack.settings.model_copy(update={"read_cache_seconds": SECONDS})
    return TestClient(create_app(settings, services=stack.services), raise_server_exceptions=False)


def _member(stack) -> dict[str, str]:
    (account,) = stack.dao.members([RESIDENT])
    stack.index()
    headers = stack.sign_in(account)
    stack.api.cookies.clear()
    return headers


def _post_issue(api: TestClient, headers: dict[str, str], title: str) -> int:
    response = api.post("/issues", headers=headers, json={"title": title, "body": "説明", "category": "culture"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _total(api: TestClient, tag: str) -> tuple[int, str]:
    response = api.get("/issues", params={"q": tag})
    assert response.status_code == 200, response.text
    return response.json()["total"], response.headers.get("x-cache", "")


def _cached_total(api: TestClient, tag: str) -> int:
    """The total as a cache hit. The stack's worker may commit now and then (its sweep), which rightly moves the
    database's version: a few tries allow for that."""
    for _ in range(10):
        total, state = _total(api, tag)
        if state == "hit":
            return total
        time.sleep(VERSION_CHECK_S)
    raise AssertionError(f"never served from the cache: {state}")


def test_a_commit_by_another_process_is_seen_within_the_version_check(stack):
    tag = "cache" + uuid.uuid4().hex[:8]
    headers = _member(stack)
    with _cached_api(stack) as cached:
        assert _total(cached, tag) == (0, "miss")
        assert _cached_total(cached, tag) == 0
        # Written by another process (it does not empty this one's cache): the database's version moved ...
        _post_issue(stack.api, headers, f"{tag} written elsewhere")
        time.sleep(VERSION_CHECK_S * 2)
        # ... so the entry is not served any more.
        assert _total(cached, tag) == (1, "miss")
        assert _cached_total(cached, tag) == 1
        assert int(cached.get("/issues", params={"q": tag}).headers.get("age", "0")) >= 0


def test_entries_expire_after_read_cache_seconds_even_when_nothing_changed(stack):
    tag = "cache" + uuid.uuid4().hex[:8]
    with _cached_api(stack) as cached:
        assert _total(cached, tag) == (0, "miss")
        assert _cached_total(cached, tag) == 0
        time.sleep(SECONDS + 0.1)  # served once more while computed again (or computed, if the worker committed)
        assert _total(cached, tag)[1] in ("stale", "miss")
        time.sleep(2 * SECONDS + 0.1)  # past twice the age: never served
        assert _total(cached, tag) == (0, "miss")


def test_a_stale_entry_is_served_while_it_is_computed_again():
    """The middleware alone, on a clock of the test's own: past `seconds` (database unchanged) an entry is served
    as stale and computed again once in the background, however many ask meanwhile; past twice `seconds` it is a
    miss."""
    now = {"t": 0.0}
    calls = {"n": 0}

    async def app(scope, receive, send):
        calls["n"] += 1
        await asyncio.sleep(0.05)
        body = str(calls["n"]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    async def run() -> list[tuple[str, str]]:
        cache = ReadCache(app, seconds=1.0, version=lambda: "unchanged", clock=lambda: now["t"])
        seen = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=cache), base_url="http://test") as client:
            async def get() -> None:
                r = await client.get("/proposals/1")
                seen.append((r.headers["x-cache"], r.text))

            await get()                     # t=0: computed (answer 1)
            now["t"] = 0.5
            await get()                     # fresh
            now["t"] = 1.2
            await asyncio.gather(*(get() for _ in range(5)))  # stale, one recomputation (answer 2) for all five
            await asyncio.sleep(0.2)        # the recomputation lands
            await get()                     # fresh again, stored at t=1.2
            now["t"] = 3.3                  # 2.1 s after it was stored: past twice the age
            await get()                     # computed (answer 3)
        return seen

    with ThreadPoolExecutor(1) as pool:  # as below: an event loop of its own
        seen = pool.submit(lambda: asyncio.run(run())).result()
    assert seen == [("miss", "1"), ("hit", "1"), *[("stale", "1")] * 5, ("hit", "2"), ("miss", "3")]
    assert calls["n"] == 3


def test_a_write_through_this_process_is_read_back_at_once(stack):
    tag = "cache" + uuid.uuid4().hex[:8]
    headers = _member(stack)
    with _cached_api(stack) as cached:
        assert _total(cached, tag) == (0, "miss")
        assert _cached_total(cached, tag) == 0
        _post_issue(cached, headers, f"{tag} written here")
        assert _total(cached, tag) == (1, "miss")
        # A refused write empties it too (harmless), and nothing else changes.
        assert cached.post("/issues", headers=headers, json={"title": ""}).status_code == 422
        assert _total(cached, tag) == (1, "miss")


def test_signed_in_requests_nonces_jobs_and_health_bypass_the_cache(stack):
    headers = _member(stack)
    with _cached_api(stack) as cached:
        for _ in range(2):
            assert "x-cache" not in cached.get("/issues", headers=headers).headers
            assert "x-cache" not in cached.get("/health").headers
            assert "x-cache" not in cached.get("/ballots/typed-data", params={
                "proposal_id": "1", "support": 1, "voter": stack.dao.city.address}).headers
            assert "x-cache" not in cached.get("/jobs/" + "0" * 32).headers
        # A session cookie counts as signed in, whatever else the request carries.
        cookie = {"Cookie": f"kanazawa_dao_session={headers['Authorization'].split()[1]}"}
        assert "x-cache" not in cached.get("/issues", headers=cookie).headers


def test_only_complete_200_answers_are_kept(stack):
    with _cached_api(stack) as cached:
        for _ in range(2):
            missing = cached.get("/proposals/123")
            assert missing.status_code == 404 and missing.headers["x-cache"] == "miss"
            invalid = cached.get("/issues", params={"per_page": 1000})
            assert invalid.status_code == 422 and invalid.headers["x-cache"] == "miss"
        # The results pages and the open data are cached like the JSON reads, each language on its own.
        for url in ("/results?lang=en", "/results", "/open-data/proposals.csv?lang=en"):
            first = cached.get(url)
            assert first.status_code == 200
            for _ in range(10):  # as _cached_total: the worker may commit in between
                second = cached.get(url)
                if second.headers["x-cache"] == "hit":
                    break
            assert second.headers["x-cache"] == "hit" and first.content == second.content
        assert cached.get("/results?lang=en").text != cached.get("/results").text


def test_concurrent_misses_are_computed_once_and_large_answers_are_not_kept():
    """The middleware alone around a small ASGI app that counts its calls (the unit under test is the cache)."""
    calls = {"n": 0}

    async def app(scope, receive, send):
        calls["n"] += 1
        await asyncio.sleep(0.05)  # a slow read: the other requests arrive while it is computed
        body = b"x" * (5 << 20) if scope["path"] == "/proposals/big" else b'{"ok": true}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=ReadCache(app, seconds=SECONDS, version=lambda: "unchanged"))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            same = await asyncio.gather(*(client.get("/proposals") for _ in range(20)))
            big = [await client.get("/proposals/big") for _ in range(2)]
            return [*same, *big]

    # A thread of its own: an earlier test's fixture may leave an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        responses = pool.submit(lambda: asyncio.run(run())).result()
    same, big = responses[:20], responses[20:]
    assert all(r.status_code == 200 and r.json() == {"ok": True} for r in same)
    assert sorted(r.headers["x-cache"] for r in same).count("miss") == 1
    assert [r.headers["x-cache"] for r in big] == ["miss", "miss"] and len(big[1].content) == 5 << 20
    assert calls["n"] == 1 + 2


def test_a_streamed_answer_is_computed_again_without_spinning():
    """A streaming response (the open-data CSVs) listens for the client's disconnect while it streams. Computed again
    in the background, with no client, it must neither spin on that (it did: an API process at 100 % CPU, its event
    loop starved) nor lose the answer."""
    from starlette.responses import StreamingResponse

    now = {"t": 0.0}
    calls = {"n": 0}

    async def app(scope, receive, send):
        calls["n"] += 1
        n = calls["n"]

        async def rows():
            for i in range(3):
                await asyncio.sleep(0.01)
                yield f"{n},{i}\n".encode()

        await StreamingResponse(rows(), media_type="text/csv")(scope, receive, send)

    async def run() -> tuple[list[tuple[str, str]], int]:
        cache = ReadCache(app, seconds=1.0, version=lambda: "unchanged", clock=lambda: now["t"])
        seen = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=cache), base_url="http://test") as client:
            for t in (0.0, 1.5):
                now["t"] = t
                r = await client.get("/open-data/proposals.csv")
                seen.append((r.headers["x-cache"], r.text))
            ticks = 0
            deadline = asyncio.get_running_loop().time() + 0.5
            while asyncio.get_running_loop().time() < deadline:  # the loop stays free while it is computed
                await asyncio.sleep(0.01)
                ticks += 1
            r = await client.get("/open-data/proposals.csv")
            seen.append((r.headers["x-cache"], r.text))
            assert not cache._refreshing  # the background computation ended
        return seen, ticks

    # A daemon thread of its own, waited for with a limit: a spinning loop never gives control back.
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(value=asyncio.run(run())), daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the event loop is stuck: the background computation spins"
    seen, ticks = result["value"]
    assert seen == [("miss", "1,0\n1,1\n1,2\n"), ("stale", "1,0\n1,1\n1,2\n"), ("hit", "2,0\n2,1\n2,2\n")]
    assert ticks > 20 and calls["n"] == 2


def test_after_a_commit_a_quiet_process_computes_the_answer_and_a_busy_one_serves_the_previous_one():
    """The middleware alone, with a data version and a clock of the test's own. After a commit, a quiet process
    computes the current answer (the visitor waits for it); a busy one (computing an answer now, or having started
    BUSY_PER_SECOND computations in the last second) serves the previous answer as stale at once and computes it
    again in the background, at most MAX_REFRESHES at once; with the database unreadable nothing stale is served."""
    from frontend_api.cache import BUSY_PER_SECOND, MAX_REFRESHES

    now = {"t": 0.0}
    db = {"version": 1, "down": False}
    slow = asyncio.Event()       # held open: a request that keeps this process busy
    refreshes = asyncio.Event()  # held open: the background recomputations at version 4

    async def app(scope, receive, send):
        path = scope["path"]
        if path.startswith("/proposals/slow"):
            await slow.wait()
        elif path.startswith("/proposals/k") and db["version"] == 4:
            await refreshes.wait()
        body = f"{path} at {db['version']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    def version():
        if db["down"]:
            raise ConnectionError("the database does not answer")
        return db["version"]

    def commit(new: int) -> None:
        db["version"] = new
        now["t"] += 2 * VERSION_CHECK_S  # the next request reads the version again

    async def run() -> dict:
        cache = ReadCache(app, seconds=10.0, version=version, clock=lambda: now["t"])
        seen = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=cache), base_url="http://test") as client:
            async def get(path: str) -> tuple[str, str]:
                r = await client.get(path)
                return r.headers["x-cache"], r.text

            seen["first"] = await get("/proposals/1")
            commit(2)
            seen["quiet after a commit"] = await get("/proposals/1")
            # Busy: an answer being computed.
            busy = asyncio.create_task(client.get("/proposals/slow"))
            while cache.computing < 1:
                await asyncio.sleep(0.01)
            commit(3)
            seen["computing, after a commit"] = await get("/proposals/1")
            await asyncio.sleep(0.05)  # the background computation lands
            seen["then"] = await get("/proposals/1")
            for k in range(5):
                seen[f"k{k} at 3"] = await get(f"/proposals/k{k}")
            commit(4)
            seen["k at 4"] = await asyncio.gather(*(get(f"/proposals/k{k}") for k in range(5)))
            seen["refreshing"] = len(cache._refreshing)
            refreshes.set()
            db["down"] = True
            now["t"] += 2 * VERSION_CHECK_S
            seen["database down"] = await get("/proposals/1")
            db["down"] = False
            slow.set()
            await busy
            await asyncio.sleep(0.05)
            seen["computing at rest"] = cache.computing
            # Busy: many computations started in the last second (none in flight now).
            now["t"] += 2.0
            commit(5)
            seen["quiet again"] = await get("/proposals/1")
            for i in range(BUSY_PER_SECOND):
                await get(f"/proposals/r{i}")
            commit(6)
            seen["many computed, after a commit"] = await get("/proposals/1")
            await asyncio.sleep(0.05)
            seen["then again"] = await get("/proposals/1")
            now["t"] += 2.0
            commit(7)
            seen["a second later"] = await get("/proposals/1")
        return seen

    with ThreadPoolExecutor(1) as pool:  # an event loop of its own, as above
        seen = pool.submit(lambda: asyncio.run(run())).result()
    assert seen["first"] == ("miss", "/proposals/1 at 1")
    assert seen["quiet after a commit"] == ("miss", "/proposals/1 at 2")
    assert seen["computing, after a commit"] == ("stale", "/proposals/1 at 2")
    assert seen["then"] == ("hit", "/proposals/1 at 3")
    assert all(seen[f"k{k} at 3"] == ("miss", f"/proposals/k{k} at 3") for k in range(5))
    assert seen["k at 4"] == [("stale", f"/proposals/k{k} at 3") for k in range(5)]
    assert seen["refreshing"] == MAX_REFRESHES
    assert seen["database down"] == ("miss", "/proposals/1 at 4")
    assert seen["computing at rest"] == 0
    assert seen["quiet again"] == ("miss", "/proposals/1 at 5")
    assert seen["many computed, after a commit"] == ("stale", "/proposals/1 at 5")
    assert seen["then again"] == ("hit", "/proposals/1 at 6")
    assert seen["a second later"] == ("miss", "/proposals/1 at 7")
