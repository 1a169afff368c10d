"""Seed the Kanazawa demo through the running service, the way its users act (scripts/demo/data.py says who does
what): the city signs in and registers four organisations (the issuer role granted by a relayed transaction); the
organisations invite 60 members, who claim their cards gas-free; the city imports 24 issues exported from マッチ箱;
members support and comment; proposals are drafted (one by a member, from an issue with enough supports), voted
by EIP-712 ballots, queued and executed through the timelock; the city publishes outcomes; organisations create
badge types and metaverse events; the platform reports attendance by signed webhooks, attendees check in with
signed check-ins, and the worker mints the attendance badges.

Nothing is written to the database directly. The one thing not done through the API is the devnet's clock (the
card and the governor count seconds): a fresh devnet starts two weeks in the past, the earlier proposals' voting
periods and the timelock delay pass by moving its clock forward (evm_setNextBlockTimestamp), and the clock is
brought to today before the open proposals are drafted, so their deadlines are real dates.

Re-running is safe: every step first reads what is there (organisations, cards, proposals, votes, outcomes, events)
and does only what is missing. What the API shows only once (an event's webhook secret and check-in code) and the
ids of relay jobs in flight are kept in a small record (`var/demo-seed.json`), written atomically after each step,
so an interrupted seeding resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import requests

from backend.domain import JST
from backend.toolchain.anvil import rpc
from scripts.demo import data
from scripts.demo.client import ApiError, DaoClient

Log = Callable[[str], None]
RECORD_VERSION = 1


class SeedRecord:
    """What the API does not tell twice, per deployment; rewritten atomically after every change."""

    def __init__(self, path: Path, deployment: str) -> None:
        self.path = path
        self.values: dict[str, Any] = {}
        try:
            stored = json.loads(path.read_text())
            if stored.get("version") == RECORD_VERSION and stored.get("deployment") == deployment:
                self.values = stored
        except (OSError, ValueError):
            pass
        self.values.setdefault("version", RECORD_VERSION)
        self.values["deployment"] = deployment

    def get(self, section: str) -> dict[str, Any]:
        return self.values.setdefault(section, {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.values, indent=2, ensure_ascii=False))
        os.replace(tmp, self.path)

    @property
    def complete(self) -> bool:
        return bool(self.values.get("complete"))


class Seeder:
    def __init__(self, client: DaoClient, rpc_url: str, record: SeedRecord, *, log: Log = print,
                 city_key: str) -> None:
        from eth_account import Account

        self.api, self.rpc_url, self.record, self.log = client, rpc_url, record, log
        self.city = Account.from_key(city_key)
        self._sessions: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------------ helpers

    def session(self, account) -> dict[str, str]:
        if account.address not in self._sessions:
            self._sessions[account.address] = self.api.sign_in(account)
        return self._sessions[account.address]

    def chain_time(self) -> int:
        return int(rpc(self.rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def advance_to(self, timestamp: int) -> None:
        """One block at `timestamp` (or now, if the chain is past it): the card's and the governor's clock."""
        if timestamp > self.chain_time():
            rpc(self.rpc_url, "evm_setNextBlockTimestamp", [hex(timestamp)])
        rpc(self.rpc_url, "anvil_mine", ["0x1"], timeout=30)

    def wait_jobs(self, job_ids: list[str], what: str) -> None:
        for n, job_id in enumerate(job_ids, 1):
            self.api.wait_job(job_id)
            if n % 20 == 0 or n == len(job_ids):
                self.log(f"    {what}: {n}/{len(job_ids)} confirmed on chain")

    # ------------------------------------------------------------------ steps

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        steps = [("organisations", self.organisations), ("members", self.members), ("issues", self.issues),
                 ("badge types", self.badge_types), ("proposals", self.proposals), ("events", self.events)]
        for n, (name, step) in enumerate(steps, 1):
            self.log(f"  [{n}/{len(steps)}] {name} ...")
            step()
            self.record.save()
        self.api.wait_indexed()
        self.record.values["complete"] = True
        self.record.save()
        summary = self.summary()
        self.log(f"  demo data ready in {time.monotonic() - started:.0f} s: " +
                 ", ".join(f"{v} {k}" for k, v in summary.items()))
        return summary

    def organisations(self) -> None:
        city = self.session(self.city)
        existing = {o["name_en"]: o for o in self.api.get("/organisations")}
        jobs = []
        for org in data.ORGANISATIONS:
            if org.name_en in existing:
                job_id = existing[org.name_en]["grant_job_id"]
            else:
                registered = self.api.post("/organisations", headers=city, json={
                    "name_ja": org.name_ja, "name_en": org.name_en, "description": org.description,
                    "website": org.website, "admin_address": org.admin.address})
                job_id = registered["grant_job"]["id"]
                self.log(f"    registered {org.name_en}; issuer role granted by relayed transaction {job_id[:8]}")
            if job_id:
                jobs.append(job_id)
        self.wait_jobs(jobs, "issuer-role grants")
        self.api.wait_indexed()
        self.org_ids = {o["name_en"]: o["id"] for o in self.api.get("/organisations")}

    def org_id(self, key: str) -> int:
        return self.org_ids[data.ORGANISATION_BY_KEY[key].name_en]

    def members(self) -> None:
        claims = self.record.get("claims")
        pending = []
        for member in data.MEMBERS:
            account = member.account
            job_id = claims.get(str(member.number))
            if job_id:
                job = self.api.get(f"/jobs/{job_id}")
                if job["status"] != "failed":
                    pending.append(job_id)
                    continue
            if "member" in self.api.roles(self.session(account)):
                continue
            org = data.ORGANISATION_BY_KEY[member.invited_by]
            invitation = self.api.post(f"/organisations/{self.org_id(org.key)}/invitations",
                                       headers=self.session(org.admin),
                                       json={"invitee": account.address, "segment": member.segment})
            claims[str(member.number)] = self.api.claim(account, invitation)
            pending.append(claims[str(member.number)])
            self.record.save()
        self.wait_jobs(pending, "membership cards claimed")
        self.api.wait_indexed()
        self._sessions = {a: h for a, h in self._sessions.items() if a == self.city.address}  # roles changed

    def issues(self) -> None:
        # The board's export as it comes: CSV with Japanese headers. Importing it again updates in place.
        export = data.MATCHBOX_EXPORT.read_bytes()
        report = self.api.post("/issues/import", params={"source": data.MATCHBOX_SOURCE}, content=export,
                               headers={**self.session(self.city), "content-type": "text/csv"})
        if report.get("errors"):
            raise RuntimeError(f"the demo export has broken rows: {report['errors']}")
        self.log(f"    imported {report['created']} new and {report['updated']} known issues from マッチ箱")
        self.issue_ids = self._issue_ids()
        supports = 0
        for external_id, members in data.SUPPORTS.items():
            for member in members:
                response = self.api.request("POST", f"/issues/{self.issue_ids[external_id]}/supports",
                                            headers=self.session(member.account), ok=(409,))
                supports += response.status_code == 201
        for external_id, comments in data.COMMENTS.items():
            issue_id = self.issue_ids[external_id]
            present = {c["body"] for c in self.api.get(f"/issues/{issue_id}/comments", params={"per_page": 100})["items"]}
            for member, body in comments:
                if body not in present:
                    self.api.post(f"/issues/{issue_id}/comments", headers=self.session(member.account),
                                  json={"body": body})
        self.log(f"    {supports} new supports and the members' comments")

    def _issue_ids(self) -> dict[str, int]:
        ids: dict[str, int] = {}
        page = 1
        while True:
            found = self.api.get("/issues", params={"source": data.MATCHBOX_SOURCE, "per_page": 100, "page": page})
            ids.update({i["external_id"]: i["id"] for i in found["items"]})
            if page * 100 >= found["total"]:
                return ids
            page += 1

    def badge_types(self) -> None:
        known = self.record.get("badge_types")
        jobs = []
        for badge in data.BADGE_TYPES:
            entry = known.get(badge.name)
            if entry and (entry.get("badge_type_id") or self.api.get(f"/jobs/{entry['job']}")["status"] != "failed"):
                jobs.append(entry["job"])
                continue
            org = data.ORGANISATION_BY_KEY[badge.organisation]
            job = self.api.post(f"/organisations/{self.org_id(org.key)}/badge-types", headers=self.session(org.admin),
                                json={"name": badge.name, "description": badge.description, "kind": badge.kind,
                                      "soulbound": badge.soulbound, "max_supply": badge.max_supply})
            known[badge.name] = {"job": job["id"]}
            self.record.save()
            jobs.append(job["id"])
        for badge in data.BADGE_TYPES:
            entry = known[badge.name]
            entry["badge_type_id"] = self.api.wait_job(entry["job"])["result"]["badge_type_id"]
        self.record.save()
        self.log(f"    {len(data.BADGE_TYPES)} badge types (metadata pinned, created on chain by each issuer key)")
        self.api.wait_indexed()

    # ------------------------------------------------------------------ proposals

    def _proposals_by_title(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            listing = self.api.get("/proposals", params={"per_page": 100, "page": page})
            found.update({p["title_en"]: p for p in listing["items"] if p["title_en"]})
            if page * 100 >= listing["total"]:
                return found
            page += 1

    def _draft(self, proposal: data.Proposal, known: dict[str, dict[str, Any]]) -> str:
        if proposal.title_en in known:
            return known[proposal.title_en]["proposal_id"]
        author = self.city if proposal.author == "city" else proposal.author.account
        drafted = self.api.post("/proposals", headers=self.session(author), json={
            "title_ja": proposal.title_ja, "title_en": proposal.title_en, "body_ja": proposal.body_ja,
            "body_en": proposal.body_en, "category": proposal.category,
            "issue_ids": [self.issue_ids[i] for i in proposal.issues]})
        self.api.wait_job(drafted["job"]["id"])
        self.log(f"    drafted “{proposal.title_en}” by {'the city' if proposal.author == 'city' else 'a member'}; "
                 f"document {drafted['document_uri']}")
        return drafted["proposal_id"]

    def _vote(self, proposal: data.Proposal, proposal_id: str) -> int:
        detail = self.api.get(f"/proposals/{proposal_id}")
        if detail["state"] == "Pending":
            self.advance_to(detail["vote_start"] + 1)
        elif detail["state"] != "Active":
            return 0
        jobs = []
        for members, support in proposal.votes:
            for member in members:
                job_id = self.api.ballot(proposal_id, member.account, support)
                if job_id:
                    jobs.append(job_id)
        self.wait_jobs(jobs, f"ballots on “{proposal.title_en}”")
        return len(jobs)

    def proposals(self) -> None:
        known = self._proposals_by_title()
        ids = {}
        closing = [p for p in data.PROPOSALS if p.ends != "active"]
        # The closed ones first: drafted, voted, then the devnet's clock runs past their voting period.
        for proposal in closing:
            ids[proposal.key] = self._draft(proposal, known)
        self.api.wait_indexed()
        for proposal in closing:
            self._vote(proposal, ids[proposal.key])
        self.api.wait_indexed()
        details = {k: self.api.get(f"/proposals/{pid}") for k, pid in ids.items()}
        if any(d["state"] in ("Pending", "Active") for d in details.values()):
            end = max(d["vote_end"] for d in details.values())
            self.log(f"    moving the devnet's clock to {_jst(end + 1)} to close the voting period")
            self.advance_to(end + 1)
        for proposal in closing:
            if proposal.ends == "executed":
                self._carry_out(proposal, ids[proposal.key])
        self.api.wait_indexed()
        for proposal in closing:
            self._outcomes(proposal, ids[proposal.key])
        # The active ones last, so their voting period is still open when the demo starts: the devnet began in the
        # past (backend/toolchain/devnet.py GENESIS_AGE_S) for the history above; its clock is now brought to today.
        if self.chain_time() < int(time.time()):
            self.log(f"    moving the devnet's clock to now ({_jst(int(time.time()))}) for the open proposals")
            self.advance_to(int(time.time()))
        for proposal in data.PROPOSALS:
            if proposal.ends == "active":
                ids[proposal.key] = self._draft(proposal, known)
        self.api.wait_indexed()
        for proposal in data.PROPOSALS:
            if proposal.ends == "active":
                self._vote(proposal, ids[proposal.key])
        self.api.wait_indexed()
        self.proposal_ids = ids
        for proposal in data.PROPOSALS:
            state = self.api.get(f"/proposals/{ids[proposal.key]}")["state"]
            self.log(f"    “{proposal.title_en}”: {state}")

    def _carry_out(self, proposal: data.Proposal, proposal_id: str) -> None:
        city = self.session(self.city)
        self.api.wait_indexed()
        state = self.api.get(f"/proposals/{proposal_id}")["state"]
        if state == "Succeeded":
            self.api.wait_job(self.api.post(f"/proposals/{proposal_id}/queue", headers=city)["id"])
            self.api.wait_indexed()
            state = "Queued"
            self.log(f"    queued “{proposal.title_en}” in the timelock")
        if state == "Queued":
            detail = self.api.get(f"/proposals/{proposal_id}")
            if detail["eta"] and detail["eta"] >= self.chain_time():
                self.advance_to(detail["eta"] + 1)
            self.api.wait_job(self.api.post(f"/proposals/{proposal_id}/execute", headers=city)["id"])
            self.log(f"    executed “{proposal.title_en}” after the timelock's delay")

    def _outcomes(self, proposal: data.Proposal, proposal_id: str) -> None:
        published = len(self.api.get(f"/proposals/{proposal_id}")["outcomes"])
        for outcome in proposal.outcomes[published:]:
            job = self.api.post(f"/proposals/{proposal_id}/outcomes", headers=self.session(self.city), json=outcome)
            self.api.wait_job(job["id"])
            self.api.wait_indexed()  # the next version's number follows from the indexed history
            self.log(f"    outcome of “{proposal.title_en}”: {outcome['status']} (report pinned, recorded on chain)")

    # ------------------------------------------------------------------ events and attendance

    def events(self) -> None:
        stored = self.record.get("events")
        badge_ids = {b: e["badge_type_id"] for b, e in self.record.get("badge_types").items()}
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        for event in data.EVENTS:
            org = data.ORGANISATION_BY_KEY[event.organisation]
            if event.key not in stored:
                starts, ends = event.window(now)
                created = self.api.post("/events", headers=self.session(org.admin), json={
                    "title_ja": event.title_ja, "title_en": event.title_en, "description": event.description,
                    "space": event.space, "starts_at": starts.isoformat(), "ends_at": ends.isoformat(),
                    "badge_type_id": badge_ids[data.EVENT_BADGE[event.key].name],
                    "proposal_id": self.proposal_ids.get(event.proposal) if event.proposal else None})
                # Shown once: kept so that a resumed seeding can still deliver the attendance.
                stored[event.key] = {"id": created["id"], "webhook_secret": created["webhook_secret"],
                                     "checkin_code": created["checkin_code"]}
                self.record.save()
            entry = stored[event.key]
            view = self.api.get(f"/events/{entry['id']}")
            starts = dt.datetime.fromisoformat(view["starts_at"])
            if event.webhook or event.visitors:
                attendees = [(m.account.address, starts + dt.timedelta(minutes=5 + n % 40))
                             for n, m in enumerate(event.webhook)]
                attendees += [(data.demo_account(f"visitor {event.key} {n}").address, starts + dt.timedelta(minutes=10))
                              for n in range(event.visitors)]
                result = self.api.webhook(entry["id"], entry["webhook_secret"], attendees)
                self.log(f"    {event.title_en}: the platform reported {result['recorded']} new attendees "
                         f"({result['duplicates']} already known)")
            if event.check_ins and view["state"] == "ongoing":
                new = sum(not self.api.check_in(entry["id"], m.account, entry["checkin_code"])["duplicate"]
                          for m in event.check_ins)
                self.log(f"    {event.title_en}: {new} attendees checked in with the event's code (signed, gas-free)")
        self._wait_badges(stored)

    def _wait_badges(self, stored: dict[str, Any], timeout: float = 180) -> None:
        """The worker's sweep plans the badges of ended events and mints them in batches: wait until it has."""
        deadline = time.monotonic() + timeout
        for event in data.EVENTS:
            members = {m.account.address for m in event.webhook + event.check_ins}
            while True:
                view = self.api.get(f"/events/{stored[event.key]['id']}")
                if view["state"] != "ended" or view["badges_minted"] >= len(members):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"attendance badges of {event.title_en} not minted after {timeout:.0f} s "
                                       f"({view['badges_minted']}/{len(members)}); is the worker running?")
                time.sleep(0.5)
            if view["state"] == "ended":
                self.log(f"    {event.title_en}: {view['badges_minted']} attendance badges minted")

    def summary(self) -> dict[str, int]:
        return _summary(self.api)


def _jst(timepoint: int) -> str:
    return dt.datetime.fromtimestamp(timepoint, JST).strftime("%Y-%m-%d %H:%M JST")


def _summary(api: DaoClient) -> dict[str, int]:
    organisations = api.get("/organisations")
    return {
        "organisations": len(organisations),
        "members": sum(o["active_cards_issued"] for o in organisations),
        "issues": api.get("/issues", params={"per_page": 1})["total"],
        "proposals": api.get("/proposals", params={"per_page": 1})["total"],
        "events": api.get("/events", params={"per_page": 1})["total"],
        "outcomes": api.get("/outcomes", params={"per_page": 1})["total"],
    }


def summarise(base_url: str) -> dict[str, int]:
    """What the service holds now, as the banner of `up` shows it."""
    client = DaoClient(base_url)
    try:
        return _summary(client)
    finally:
        client.close()


def seed(base_url: str, rpc_url: str, record_path: Path, deployment: str, *, city_key: str,
         log: Log = print) -> dict[str, Any]:
    client = DaoClient(base_url)
    try:
        record = SeedRecord(record_path, deployment)
        return Seeder(client, rpc_url, record, log=log, city_key=city_key).run()
    except ApiError as exc:
        raise RuntimeError(f"seeding stopped: {exc}") from exc
    except (requests.RequestException, httpx.HTTPError) as exc:  # the devnet's RPC or the API stopped answering
        raise RuntimeError(f"seeding stopped: {type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
