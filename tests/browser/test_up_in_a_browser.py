"""The README's run command end to end, and the results page in a real browser.

`kanazawa-dao up` runs here as a newcomer runs it, on embedded defaults, with its state in a temporary folder and
free ports: the first run is interrupted with Ctrl-C in the middle of seeding (a half-finished `up`), the second
resumes and brings everything up with the demo data. Then headless chromium opens the public results page against
the running service: the list, a proposal (its chart's numbers against the JSON API), the language switch, a CSV
download, a phone-width check. Screenshots are kept in test-artifacts/browser/. Last, the supervision: a killed
worker is reported and restarted, a second `up` on the same state and a taken port are refused with a clear
message, Ctrl-C stops every process, and a third run reuses the seeded state.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.toolchain.anvil import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
READY = "Kanazawa co-creation DAO is up"


@dataclass
class Up:
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            if self.proc.poll() is not None:
                raise AssertionError(f"`up` exited ({self.proc.returncode}) before {text!r}:\n{out[-4000:]}")
            time.sleep(0.3)
        raise AssertionError(f"no {text!r} after {timeout:.0f} s:\n{self.output()[-4000:]}")

    def interrupt(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends
        return self.proc.wait(timeout=timeout)

    def child_pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in re.findall(r"(?:re)?started (\w+) \(pid (\d+)", self.output())}


@dataclass
class Service:
    base_url: str
    env: dict[str, str]
    tmp: Path
    up: Up


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive: reap it if it is ours, else read its state
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(env: dict[str, str], log: Path, *args: str) -> Up:
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "up", *args], cwd=REPO_ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    return Up(proc, log)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("up")
    var = tmp / "var"
    api_port, devnet_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANAZAWA_DAO_")}
    env.update({
        "KANAZAWA_DAO_VAR_DIR": str(var),
        "KANAZAWA_DAO_DATABASE_URL": f"sqlite:///{var / 'kanazawa_dao.sqlite3'}",
        "KANAZAWA_DAO_BROKER_URL": f"sqla+sqlite:///{var / 'celery-broker.sqlite3'}",
        "KANAZAWA_DAO_CONTENT_DIR": str(var / "content"),
        "KANAZAWA_DAO_DEVNET_RUN_DIR": str(tmp / "devnet"),
        "KANAZAWA_DAO_DEPLOYMENTS_DIR": str(tmp / "deployments"),
        "KANAZAWA_DAO_DEVNET_PORT": str(devnet_port),
        "KANAZAWA_DAO_API_PORT": str(api_port),
    })
    # A half-finished `up`: Ctrl-C while the members are claiming their cards.
    first = _start(env, tmp / "up-1.log")
    first.wait_for("[2/6] members", timeout=240)
    assert first.interrupt() == 0
    out = first.output()
    assert "stopping (Ctrl-C)" in out and "all stopped" in out, out[-3000:]
    assert not any(_alive(pid) for pid in first.child_pids().values()), first.child_pids()

    up = _start(env, tmp / "up-2.log")
    try:
        up.wait_for(READY, timeout=420)
        yield Service(f"http://127.0.0.1:{api_port}", env, tmp, up)
    finally:
        if up.proc.poll() is None:
            up.interrupt()
        # nothing left behind, whatever happened
        for pid in up.child_pids().values():
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        subprocess.run([sys.executable, "-m", "scripts.cli", "devnet", "down"], cwd=REPO_ROOT, env=env,
                       capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def api(service):
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def page(browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def test_the_resumed_up_prints_the_urls_and_holds_the_whole_demo(service, api):
    out = service.up.output()
    assert "resum" in out or "already" in out or "[1/6] organisations" in out
    for line in (f"Results page:  {service.base_url}/results", f"API docs:      {service.base_url}/docs",
                 "Chain (anvil): http://"):
        assert line in out, out[-3000:]
    organisations = api.get("/organisations").json()
    assert len(organisations) == 4 and all(o["issuer_role_granted"] for o in organisations)
    # Exactly 60 cards: the interrupted run's claims were neither lost nor repeated.
    assert sum(o["active_cards_issued"] for o in organisations) == 60
    issues = api.get("/issues", params={"source": "matchbako", "per_page": 100}).json()
    assert issues["total"] == 24
    states = {p["title_en"]: p["state"] for p in api.get("/proposals", params={"per_page": 100}).json()["items"]}
    assert states == {
        "A metaverse workshop for young artisans": "Executed",
        "Live-streaming Kanazawa Jazz Street": "Succeeded",
        "Car-free weekends in the Higashi Chaya district": "Defeated",
        "Projection mapping on the Tsuzumi-mon gate": "Defeated",
        "Night lighting around Kenroku-en": "Active",
        "Reviving the open-air Noh stage on Mt Utatsu": "Active",
    }
    events = api.get("/events", params={"per_page": 100}).json()["items"]
    ended = [e for e in events if e["state"] == "ended"]
    assert len(ended) == 3 and all(e["badges_minted"] > 0 and e["attendance_count"] >= e["badges_minted"] for e in ended)
    assert api.get("/outcomes").json()["total"] == 2
    assert api.get("/health").json()["status"] == "ok"


def _proposal_id(api, title_en: str) -> str:
    items = api.get("/proposals", params={"per_page": 100}).json()["items"]
    return next(p["proposal_id"] for p in items if p["title_en"] == title_en)


def test_list_proposal_chart_and_language_switch(service, api, page):
    page.goto(f"{service.base_url}/results")
    assert page.locator("html").get_attribute("lang") == "ja"
    rows = page.locator("tr[data-proposal-id]")
    assert rows.count() == 6
    page.screenshot(path=str(ARTIFACTS / "proposals-ja.png"), full_page=True)

    # The town-planning proposal defeated by the residents' majority: open it from the list.
    pid = _proposal_id(api, "Car-free weekends in the Higashi Chaya district")
    row = page.locator(f"tr[data-proposal-id='{pid}']")
    assert row.locator("[data-state]").get_attribute("data-state") == "Defeated"
    assert row.locator("[data-category]").get_attribute("data-category") == "town-planning"
    row.locator("a").first.click()
    page.wait_for_url(f"**/results/proposals/{pid}")
    assert "ひがし茶屋街の週末歩行者天国" in page.locator("h1").inner_text()

    # The chart's numbers are the API's, segment by segment.
    detail = api.get(f"/proposals/{pid}").json()
    bars = page.eval_on_selector_all(
        "[data-segment][data-choice][data-votes]",
        "els => els.map(e => [e.dataset.segment, e.dataset.choice, +e.dataset.votes])")
    charted = {(segment, choice): votes for segment, choice, votes in bars}
    expected = {(segment, choice): votes for segment, tally in detail["tallies"]["by_segment"].items()
                for choice, votes in tally.items()}
    assert charted == expected
    assert expected[("resident", "against")] > expected[("resident", "for")]  # why it was defeated
    assert detail["tallies"]["overall"]["for"] > detail["tallies"]["overall"]["against"]
    page.screenshot(path=str(ARTIFACTS / "proposal-defeated-ja.png"), full_page=True)

    # Switch to English: same page, English text, lang attribute follows.
    page.locator(".lang-switch a").click()
    page.wait_for_url("**lang=en**")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Car-free weekends in the Higashi Chaya district" in page.locator("h1").inner_text()
    page.screenshot(path=str(ARTIFACTS / "proposal-defeated-en.png"), full_page=True)


def test_the_executed_proposal_shows_its_verified_outcome(service, api, page):
    pid = _proposal_id(api, "A metaverse workshop for young artisans")
    page.goto(f"{service.base_url}/results/proposals/{pid}?lang=en")
    checks = page.eval_on_selector_all("[data-verification]", "els => els.map(e => e.dataset.verification)")
    assert checks and set(checks) == {"verified"}, checks  # the document and both outcome reports
    body = page.locator("main").inner_text()
    outcomes = api.get(f"/proposals/{pid}").json()["outcomes"]
    for outcome in outcomes:
        assert outcome["tx_hash"] in body and outcome["content_hash"] in body
    page.screenshot(path=str(ARTIFACTS / "proposal-executed-en.png"), full_page=True)


def test_a_csv_download_matches_the_api(service, api, page):
    page.goto(f"{service.base_url}/results/open-data?lang=en")
    link = page.locator("a[data-format='csv'][hreflang='en'][href*='results-by-segment']")
    with page.expect_download() as info:
        link.click()
    download = info.value
    path = ARTIFACTS / download.suggested_filename
    download.save_as(str(path))
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    expected = api.get("/open-data/results-by-segment.json").json()["rows"]
    assert len(rows) == len(expected) > 0
    by_key = {(r["proposal_id"], r["segment"]): r for r in expected}
    for row in rows:
        source = by_key[(row["Proposal ID"], row["Segment"])]
        assert row["For"] == ("" if source["for_votes"] is None else str(source["for_votes"]))
    page.screenshot(path=str(ARTIFACTS / "open-data-en.png"), full_page=True)


def test_the_pages_fit_a_phone(service, api, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        pid = _proposal_id(api, "Night lighting around Kenroku-en")
        for name, url in (("proposals", "/results"), ("proposal-active", f"/results/proposals/{pid}"),
                          ("issues", "/results/issues"), ("organisations", "/results/organisations?lang=en")):
            page.goto(service.base_url + url)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, url
            page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    finally:
        context.close()


def test_supervision_refusals_clean_stop_and_reuse(service):
    up = service.up
    # A crashed child is reported and restarted.
    worker = up.child_pids()["worker"]
    os.killpg(worker, signal.SIGKILL)
    out = up.wait_for("restarted worker", timeout=30)
    assert re.search(rf"worker \(pid {worker}\) stopped unexpectedly \(signal 9\)", out)
    assert up.child_pids()["worker"] != worker

    # A second `up` on the same state, and one whose API port is taken: refused, saying what to do.
    second = subprocess.run([sys.executable, "-m", "scripts.cli", "up"], cwd=REPO_ROOT, env=service.env,
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "another `kanazawa-dao up` is running" in second.stderr
    other = {**service.env, "KANAZAWA_DAO_VAR_DIR": str(service.tmp / "other"),
             "KANAZAWA_DAO_DATABASE_URL": f"sqlite:///{service.tmp / 'other' / 'db.sqlite3'}",
             "KANAZAWA_DAO_DEVNET_RUN_DIR": str(service.tmp / "other-devnet")}
    taken = subprocess.run([sys.executable, "-m", "scripts.cli", "up"], cwd=REPO_ROOT, env=other,
                           capture_output=True, text=True, timeout=60)
    assert taken.returncode == 1 and "already in use by another process" in taken.stderr, taken.stderr

    # Ctrl-C stops every process, the devnet included.
    children = up.child_pids()
    assert up.interrupt() == 0
    assert "all stopped" in up.output()
    assert not [name for name, pid in children.items() if _alive(pid)]
    status = subprocess.run([sys.executable, "-m", "scripts.cli", "devnet", "status"], cwd=REPO_ROOT, env=service.env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 3, status.stdout

    # Running it again reuses the chain and the data.
    again = _start(service.env, service.tmp / "up-3.log")
    out = again.wait_for(READY, timeout=180)
    assert "demo data already seeded" in out and "chain state reloaded" in out
    assert "60 members" in out and "6 proposals" in out
    assert again.interrupt() == 0
    service.up = again
