"""The shared fault scenario: a whole service of its own (a rig), members voting under load, a fault, recovery, and
the three checks that must hold afterwards.

Rig: anvil with a state file (so it can be stopped and brought back on the same port with its chain), the contracts
deployed with a long voting period, a migrated database (SQLite, or a PostgreSQL schema when
KANAZAWA_DAO_TEST_DATABASE_URL is set), a broker (the embedded SQLite broker, or Redis when
KANAZAWA_DAO_TEST_REDIS_URL is set), the API in process (FastAPI TestClient), a real `kanazawa-dao worker` process and
a real `kanazawa-dao index` process following the head.

Load: `members` members, each signing and posting one ballot per proposal through the API (typed data, EIP-712
signature, POST /ballots) from a few threads at once, plus a few relayed claims. A 503 answer is retried with the
same signed request, as a client would; every answer is recorded.

Checks (after the fault is over and every accepted job is final):
1. every accepted ballot (every 202 answer) is on chain exactly once: the relay_job rows, the 202 ids and the
   governor's VoteCast logs (eth_getLogs) agree one to one; every job is confirmed, or failed for a definitive reason
   and then not on chain; the same for claims and CardIssued;
2. the index equals a fresh re-index: a second fresh database (same migrations, same kind) indexed from the start
   holds the same rows in every chain-derived table (updated_at ignored);
3. no pinned document is lost: every pinned_document and proposal_document row, and every ipfs:// URI the chain
   records, is readable from the content store and its bytes hash to its CID (and to the recorded keccak-256).
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from sqlalchemy import select

from backend.chain.client import ChainClient
from backend.chain.deploy import DeploymentParams, deploy_all
from backend.db import make_engine, session_factory
from backend.ipfs.store import compute_cid, parse_ipfs_uri
from backend.migrate import upgrade
from backend.models import chain as m
from backend.models.document import PinnedDocument
from backend.models.proposal_document import ProposalDocument
from backend.models.relay import RelayJob
from backend.toolchain.anvil import AnvilProcess, free_port, start_anvil
from indexer.rpc import RpcClient
from indexer.runner import Indexer
from tests.api_stack import REPO_ROOT, Stack, make_stack
from tests.dao import ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT, Dao
from tests.indexer_helpers import dump

#: A voting period (seconds) long enough that no ballot delayed by a fault arrives after the deadline.
FAULT_PARAMS = DeploymentParams(voting_delay=1, voting_period=3600, quorum_percent=10, timelock_delay=60)
#: No request may take longer than this, whatever is down (a hang is a failure, not a slow answer).
HANG_LIMIT_S = 30.0
#: Errors that end a job for good: the contract refused it (gas estimate or receipt), or it can never be built.
DEFINITIVE = ("refused by the contract", "reverted on chain", "malformed job payload")
FINAL = ("confirmed", "failed")
#: The 409 a ballot gets when its typed data carried a nonce another ballot of the voter already has.
STALE_NONCE = "a different ballot with nonce"


def say(line: str) -> None:
    """Figures of a run, on the terminal even when pytest captures output (run with -rP to see them all)."""
    print(line, flush=True)


# ---------------------------------------------------------------------- the rig


@dataclass
class Rig:
    stack: Stack
    anvil: AnvilProcess
    state_file: Path
    tmp: Path
    database_kind: str  # sqlite | postgresql
    broker_kind: str  # embedded | redis
    indexer: subprocess.Popen | None = None
    indexer_log: Path | None = None
    indexer_starts: int = 0

    @property
    def dao(self) -> Dao:
        return self.stack.dao

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    @property
    def database_url(self) -> str:
        return self.stack.settings.database_url

    # -- processes

    def start_indexer(self) -> None:
        assert self.indexer is None or self.indexer.poll() is not None, "an indexer is already running"
        self.indexer_log = self.tmp / f"indexer-{self.indexer_starts}.log"
        self.indexer_starts += 1
        self.indexer = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "index", "--batch-blocks", "500"], cwd=REPO_ROOT,
            env=self.stack.env, stdout=self.indexer_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def stop_indexer(self) -> None:
        if self.indexer is None or self.indexer.poll() is not None:
            return
        self.indexer.terminate()
        try:
            self.indexer.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.indexer.kill()
            self.indexer.wait(timeout=10)

    def indexer_alive(self) -> bool:
        return self.indexer is not None and self.indexer.poll() is None

    def indexer_output(self) -> str:
        return self.indexer_log.read_text()[-3000:] if self.indexer_log and self.indexer_log.exists() else ""

    def heal(self) -> None:
        """After a test, whatever happened: the chain up, a worker and an indexer running (the next test's fault
        must not meet the last one's)."""
        if not self.anvil.alive():
            self.start_chain()
        if self.stack.worker is None or self.stack.worker.poll() is not None:
            self.stack.start_worker()
        if not self.indexer_alive():
            self.start_indexer()

    def stop_chain(self) -> None:
        """SIGTERM: anvil writes its state file on the way out."""
        self.anvil.stop()

    def start_chain(self) -> None:
        """The same chain again, on the same port, from the state anvil saved."""
        self.anvil = start_anvil(self.anvil.port, state_file=self.state_file, log_file=self.tmp / "anvil.log")

    # -- reading the database

    def jobs(self, kinds: tuple[str, ...] = ("ballot", "claim")) -> list[RelayJob]:
        with self.stack.services.session() as session:
            return list(session.scalars(select(RelayJob).where(RelayJob.kind.in_(kinds))))

    def held_jobs(self) -> int:
        """Jobs a worker holds right now (leased: being relayed)."""
        from backend.models._common import utcnow

        now = utcnow()
        with self.stack.services.session() as session:
            return sum(1 for j in session.scalars(select(RelayJob).where(RelayJob.leased_until.is_not(None)))
                       if _aware(j.leased_until) > now)

    def statuses(self) -> Counter:
        return Counter(j.status for j in self.jobs())

    def cursor(self) -> int | None:
        with self.stack.services.session() as session:
            row = session.get(m.IndexerCursor, self.dao.deployment.chain_id)
            return row.block_number if row else None

    def wait_jobs_final(self, ids: set[str], *, timeout: float) -> float:
        """Seconds until every job in `ids` is confirmed or failed."""
        start = time.monotonic()
        while True:
            try:
                unfinished = {j.id: j.status for j in self.jobs(("ballot", "claim", "propose", "publish-outcome"))
                              if j.id in ids and j.status not in FINAL}
            except Exception:  # noqa: BLE001 - the database may still be coming back
                unfinished = {"?": "database unavailable"}
            if not unfinished:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{len(unfinished)} accepted jobs not final after {timeout:.0f} s "
                                     f"({Counter(unfinished.values())}); worker log:\n{self.stack.worker_output()}")
            time.sleep(0.25)

    def wait_indexed(self, *, timeout: float = 60) -> int:
        """Wait until the live indexer's cursor is at the chain's head; returns the head."""
        start = time.monotonic()
        while True:
            head = self.dao.block_number()
            if self.cursor() == head:
                return head
            if time.monotonic() - start > timeout:
                raise AssertionError(f"the indexer is at block {self.cursor()}, the chain at {head}, after "
                                     f"{timeout:.0f} s (indexer alive: {self.indexer_alive()}); its log:\n"
                                     f"{self.indexer_output()}")
            time.sleep(0.2)

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A second, freshly migrated database of the same kind as the live one."""
        if self.database_kind == "postgresql":
            schemas = postgres_schema()
            try:
                yield next(schemas)
            finally:
                next(schemas, None)
        else:
            url = f"sqlite:///{self.tmp}/fresh-{time.monotonic_ns()}.sqlite3"
            upgrade(url)
            yield url


def _aware(value):
    import datetime as dt

    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite gives naive UTC


def postgres_schema() -> Iterator[str]:
    """A fresh, migrated PostgreSQL schema, dropped afterwards; like tests/conftest.py `_postgres_schema`, whose
    admin engine keeps a pooled connection that a server restart kills (its DROP SCHEMA then fails): here every
    administrative statement gets a connection of its own."""
    import uuid

    from sqlalchemy import create_engine, text

    base = os.environ.get("KANAZAWA_DAO_TEST_DATABASE_URL")
    if not base and os.environ.get("CI"):
        pytest.fail("CI must run the PostgreSQL variants: set KANAZAWA_DAO_TEST_DATABASE_URL (see .ci/run)")
    if not base:
        pytest.skip("PostgreSQL: set KANAZAWA_DAO_TEST_DATABASE_URL (the CI run sets it)")

    def admin(statement: str) -> None:
        engine = create_engine(base)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    schema = f"faults_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE SCHEMA "{schema}"')
    try:
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
        upgrade(url)
        yield url
    finally:
        admin(f'DROP SCHEMA "{schema}" CASCADE')


def _redis_url() -> str:
    url = os.environ.get("KANAZAWA_DAO_TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Redis variants: set KANAZAWA_DAO_TEST_REDIS_URL (see .ci/run)")
        pytest.skip("Redis: set KANAZAWA_DAO_TEST_REDIS_URL (the CI run sets it)")
    import redis

    redis.Redis.from_url(url).flushdb()  # a test database of its own (db 15 in .ci/run)
    return url


def build_rig(tmp: Path, *, database: str | None = None, broker: str | None = None) -> Iterator[Rig]:
    """A whole service for one fault test. `database`: sqlite | postgresql, `broker`: embedded | redis; unset means
    what the environment offers (PostgreSQL and Redis when the CI variables are set)."""
    database = database or ("postgresql" if os.environ.get("KANAZAWA_DAO_TEST_DATABASE_URL") else "sqlite")
    broker = broker or ("redis" if os.environ.get("KANAZAWA_DAO_TEST_REDIS_URL") else "embedded")
    schemas = postgres_schema() if database == "postgresql" else None  # fails in CI / skips when not configured
    if schemas is not None:
        database_url = next(schemas)
    else:
        database_url = f"sqlite:///{tmp}/kanazawa_dao.sqlite3"
        upgrade(database_url)
    broker_url = _redis_url() if broker == "redis" else f"sqla+sqlite:///{tmp}/broker.sqlite3"
    state = tmp / "anvil-state.json"
    anvil = start_anvil(free_port(), state_file=state, log_file=tmp / "anvil.log")
    rig = None
    try:
        client = ChainClient.connect(anvil.rpc_url)
        dao = Dao(client, deploy_all(client, Dao.city_account(), FAULT_PARAMS))
        dao.grant_issuer(dao.issuer)
        stack = make_stack(tmp, dao, anvil.rpc_url, database_url=database_url, broker_url=broker_url)
        if broker == "embedded":
            from backend.tasks.app import declare_queue

            declare_queue(stack.settings)  # before the API and the worker both try (backend/tasks/app.py)
        rig = Rig(stack=stack, anvil=anvil, state_file=state, tmp=tmp, database_kind=database, broker_kind=broker)
        rig.start_indexer()
        stack.start_worker()
        rig.wait_indexed()  # the city's role, as the API reads it
        yield rig
    finally:
        if rig is not None:
            rig.stack.stop_worker(kill=True)
            rig.stop_indexer()
            rig.stack.api.close()
            rig.stack.services.close()
            rig.anvil.stop()
        else:
            anvil.stop()
        if schemas is not None:
            next(schemas, None)


# ---------------------------------------------------------------------- the load


@dataclass
class Answer:
    what: str  # typed-data | ballot | claim | draft | outcome | probe
    status: int
    seconds: float
    at: float
    problem: str | None  # the problem document's type slug, when it is one
    detail: str


@dataclass
class Scenario:
    rig: Rig
    name: str
    members: list[LocalAccount] = field(default_factory=list)
    proposals: list[int] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    claim_invitees: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    accepted: dict[str, tuple] = field(default_factory=dict)  # job id -> ("ballot", voter, proposal) | ("claim", invitee)
    replays: dict[str, tuple] = field(default_factory=dict)  # job id -> request, answered 200 (already accepted)
    gave_up: list[str] = field(default_factory=list)
    resigned: list[str] = field(default_factory=list)  # ballots signed again after a stale-nonce 409
    figures: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    patience: float = 150.0  # how long a member keeps retrying one request on 503
    #: Answers a member retries with the same signed request (a signed ballot or claim is accepted once whatever
    #: happens, so retrying is safe).
    retry_statuses: tuple[int, ...] = (503,)
    started: float = field(default_factory=time.monotonic)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def api(self):
        return self.rig.stack.api

    # -- recording

    def call(self, what: str, method: str, url: str, **kwargs) -> Any:
        t0 = time.monotonic()
        response = self.api.request(method, url, **kwargs)
        seconds = time.monotonic() - t0
        problem = detail = None
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            body = response.json()
            problem, detail = body.get("type", "").rsplit("/", 1)[-1], body.get("detail", "")
        with self.lock:
            self.answers.append(Answer(what, response.status_code, seconds, t0, problem,
                                       detail or ("" if response.status_code < 400 else response.text[:300])))
        return response

    def count(self, what: str | None = None, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for a in self.answers if (what is None or a.what == what)
                       and (status is None or a.status == status))

    def accepted_count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def jobs(self) -> dict[str, RelayJob]:
        """The ballot and claim jobs of this scenario (its proposals, its invitees), whoever was told about them."""
        jobs = {}
        for job in self.rig.jobs():
            p = job.payload
            if (job.kind == "ballot" and int(p["proposal_id"]) in self.proposals) or \
                    (job.kind == "claim" and p["invitation"]["invitee"] in self.claim_invitees):
                jobs[job.id] = job
        return jobs

    def statuses(self) -> Counter:
        return Counter(j.status for j in self.jobs().values())

    # -- set-up

    def prepare(self, *, members: int = 40, proposals: int = 2, claims: int = 4) -> None:
        """Members with cards, proposals drafted by the city through the API (documents pinned, relayed), voting
        open; invitations for a few claims."""
        t0 = time.monotonic()
        dao = self.rig.dao
        segments = [RESIDENT, RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION]
        self.members = dao.members([segments[i % 4] for i in range(members)])
        city = self.rig.stack.sign_in(dao.city)
        jobs = []
        for i in range(proposals):
            response = self.call("draft", "POST", "/proposals", headers=city, json=draft_body(f"{self.name} {i}"))
            assert response.status_code == 202, response.text
            body = response.json()
            self.proposals.append(int(body["proposal_id"]))
            jobs.append(body["job"]["id"])
        self.rig.wait_jobs_final(set(jobs), timeout=60)
        assert {j.status for j in self.rig.jobs(("propose",)) if j.id in jobs} == {"confirmed"}
        snapshot = max(dao.governor.functions.proposalSnapshot(p).call() for p in self.proposals)
        dao.advance_to(snapshot + 1)
        for _ in range(claims):
            invitee = Account.create()
            invitation, signature = dao.invitation(invitee.address, RELATIONSHIP_POPULATION,
                                                   nonce=random.randrange(1 << 32))
            self.claims.append({"invitation": {**invitation, "nonce": str(invitation["nonce"]),
                                               "expiry": str(invitation["expiry"])},
                                "signature": "0x" + signature.hex()})
            self.claim_invitees.append(invitee.address)
        self.answers.clear()  # figures are about the load under the fault
        self.figures["prepare_s"] = round(time.monotonic() - t0, 1)

    # -- the load

    def start_load(self, *, threads: int = 4) -> None:
        work: queue.Queue = queue.Queue()
        claims = list(self.claims)
        for i, member in enumerate(self.members):
            work.put(("ballots", member, i))
            if claims and i % max(1, len(self.members) // len(self.claims)) == 0:
                work.put(("claim", claims.pop(), None))
        for claim in claims:
            work.put(("claim", claim, None))

        def run() -> None:
            while not self._stop.is_set():
                try:
                    kind, item, i = work.get_nowait()
                except queue.Empty:
                    return
                if kind == "ballots":
                    for proposal in self.proposals:
                        self.vote(item, proposal, support=(i + proposal) % 3)
                else:
                    self.claim(item)

        self.started = time.monotonic()
        self._threads = [threading.Thread(target=run, daemon=True, name=f"member-{n}") for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def wait_load(self, *, timeout: float = 200) -> float:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        assert not stuck, f"requests hang: {stuck} still waiting for an answer after {timeout:.0f} s"
        return time.monotonic() - self.started

    def _retry(self, what: str, attempt: Callable[[], Any], deadline: float) -> Any:
        pause = 0.2
        while True:
            response = attempt()
            if response.status_code not in self.retry_statuses or time.monotonic() > deadline or self._stop.is_set():
                return response
            time.sleep(pause)
            pause = min(2.0, pause * 1.5)

    def vote(self, voter: LocalAccount, proposal: int, support: int) -> None:
        deadline = time.monotonic() + self.patience
        params = {"proposal_id": str(proposal), "support": support, "voter": voter.address}
        for _signing in range(3):
            typed = self._retry("typed-data", lambda: self.call("typed-data", "GET", "/ballots/typed-data",
                                                                params=params), deadline)
            if typed.status_code != 200:
                self._settle(typed, ("ballot", voter.address, proposal))
                return
            data = typed.json()
            message = {**data["message"], "proposalId": int(data["message"]["proposalId"]),
                       "nonce": int(data["message"]["nonce"])}
            signed = voter.sign_message(encode_typed_data(full_message={**data, "message": message}))
            ballot = {"proposal_id": str(proposal), "support": support, "voter": voter.address,
                      "nonce": data["message"]["nonce"], "signature": "0x" + bytes(signed.signature).hex()}
            response = self._retry("ballot", lambda: self.call("ballot", "POST", "/ballots", json=ballot), deadline)
            if response.status_code == 409 and STALE_NONCE in response.json().get("detail", ""):
                # The typed data carried a nonce already used (tests/faults/test_ballot_nonce_race.py): sign again
                # with fresh typed data, as the README tells clients to.
                with self.lock:
                    self.resigned.append(f"{voter.address} on {proposal}: nonce {message['nonce']}")
                continue
            break
        self._settle(response, ("ballot", voter.address, proposal))

    def claim(self, body: dict) -> None:
        deadline = time.monotonic() + self.patience
        response = self._retry("claim", lambda: self.call("claim", "POST", "/claims", json=body), deadline)
        self._settle(response, ("claim", body["invitation"]["invitee"]))

    def _settle(self, response, request: tuple) -> None:
        with self.lock:
            if response.status_code == 202:
                self.accepted[response.json()["id"]] = request
            elif response.status_code == 200:
                self.replays[response.json()["id"]] = request
            else:
                self.gave_up.append(f"{request}: {response.status_code} {response.text[:300]}")

    # -- figures and the request-level checks

    def check_answers(self, *, outage_statuses: tuple[int, ...] = (503,),
                      tolerated: Callable[[Answer], bool] = lambda _a: False) -> None:
        """Every answer is a success, a 503 problem document (what is down is named), or nothing else; no request
        took long enough to count as a hang; no member gave up. `tolerated`: answers of a known defect."""
        with self.lock:
            answers = list(self.answers)
        bad = [a for a in answers if a.status >= 400 and not (a.status in outage_statuses and a.problem == "unavailable")
               and not (a.status == 409 and STALE_NONCE in a.detail) and not tolerated(a)]
        slow = [a for a in answers if a.seconds > HANG_LIMIT_S]
        statuses = Counter(a.status for a in answers)
        self.figures.update(requests=len(answers), statuses=dict(sorted(statuses.items())),
                            slowest_request_s=round(max((a.seconds for a in answers), default=0), 2),
                            resigned_after_stale_nonce=len(self.resigned))
        assert not bad, "answers other than success or a 503 problem document:\n" + "\n".join(
            f"  {a.what} {a.status} {a.problem}: {a.detail[:300]}" for a in bad[:15])
        assert not slow, f"requests that took more than {HANG_LIMIT_S} s: {[(a.what, round(a.seconds, 1)) for a in slow]}"
        assert not self.gave_up, "members whose requests were not accepted:\n" + "\n".join(self.gave_up[:15])

    def unavailable_details(self) -> list[str]:
        with self.lock:
            return sorted({a.detail[:120] for a in self.answers if a.status == 503})

    @contextlib.contextmanager
    def reporting(self) -> Iterator[Scenario]:
        """Print the figures at the end, also when a check failed (they say what happened)."""
        try:
            yield self
        finally:
            self._stop.set()  # a failed check: members stop before the service is torn down
            for thread in self._threads:
                thread.join(timeout=HANG_LIMIT_S)
            self.report()

    def report(self) -> None:
        with self.lock:
            answers = list(self.answers)
        self.figures.setdefault("statuses", dict(sorted(Counter(a.status for a in answers).items())))
        say(f"\nFAULT {self.name}: " + ", ".join(f"{k}={v}" for k, v in self.figures.items()))
        if os.environ.get("KANAZAWA_DAO_FAULTS_TIMELINE"):  # answers per second, to see where the time goes
            with self.lock:
                answers = sorted(self.answers, key=lambda a: a.at)
            per_second: dict[int, Counter] = {}
            for a in answers:
                per_second.setdefault(int(a.at - self.started), Counter())[f"{a.what}:{a.status}"] += 1
            for second, counts in sorted(per_second.items()):
                say(f"  t={second:4d}s {dict(counts)}")


def draft_body(title: str) -> dict:
    return {"title_ja": f"障害試験 {title}", "title_en": f"Fault drill {title}", "body_ja": "試験の提案です。",
            "body_en": "A proposal for a fault drill.", "category": "culture"}


# ---------------------------------------------------------------------- the three checks


def _logs(rig: Rig, contract, signature: str) -> list[dict]:
    """Every log of one event of `contract`, straight from eth_getLogs, decoded."""
    w3 = rig.dao.w3
    raw = w3.eth.get_logs({"address": contract.address, "fromBlock": 0, "toBlock": "latest",
                           "topics": ["0x" + keccak(text=signature).hex()]})
    name = signature.split("(")[0]
    return [getattr(contract.events, name)().process_log(log) for log in raw]


def check_exactly_once(scenario: Scenario) -> None:
    """Check 1: the 202 ids, the relay_job rows and the chain's logs agree one to one."""
    rig = scenario.rig
    jobs = scenario.jobs()
    accepted = dict(scenario.accepted)
    never_202 = sorted(set(jobs) - set(accepted))
    no_row = sorted(set(accepted) - set(jobs))
    assert not no_row, f"answered 202 but no relay_job row: {no_row}"
    assert not never_202, "relay_job rows never answered 202 (accepted while the client was told otherwise): " + \
        str([(i, jobs[i].kind, jobs[i].status, scenario.replays.get(i)) for i in never_202])
    replay_unknown = sorted(set(scenario.replays) - set(accepted))
    assert not replay_unknown, f"answered 200 (already accepted) for jobs nobody was told about: {replay_unknown}"
    requests = Counter(accepted.values())
    assert all(n == 1 for n in requests.values()), f"one request accepted twice: {[r for r, n in requests.items() if n > 1]}"

    votes = [log for log in _logs(rig, rig.dao.governor, "VoteCast(address,uint256,uint8,uint256,string)")
             if log["args"]["proposalId"] in scenario.proposals]
    cards = [log for log in _logs(rig, rig.dao.card, "CardIssued(uint256,address,uint8,address)")
             if log["args"]["member"] in scenario.claim_invitees]
    on_chain: dict[tuple, list[str]] = {}
    for log in votes:
        on_chain.setdefault(("ballot", log["args"]["voter"], log["args"]["proposalId"]), []).append(
            "0x" + log["transactionHash"].hex().removeprefix("0x"))
    for log in cards:
        on_chain.setdefault(("claim", log["args"]["member"]), []).append(
            "0x" + log["transactionHash"].hex().removeprefix("0x"))

    twice = {k: v for k, v in on_chain.items() if len(v) > 1}
    assert not twice, f"on chain more than once: {twice}"
    unasked = sorted(set(on_chain) - set(accepted.values()), key=repr)
    assert not unasked, f"on chain without an accepted request: {unasked}"
    problems, failed = [], []
    for job_id, request in accepted.items():
        job = jobs[job_id]
        landed = on_chain.get(request, [])
        if job.status == "confirmed":
            if landed != [job.tx_hash]:
                problems.append(f"{job_id} {request}: confirmed as {job.tx_hash}, chain has {landed}")
        elif job.status == "failed":
            failed.append(f"{job_id} {request}: {job.error}")
            if not (job.error or "").startswith(DEFINITIVE):
                problems.append(f"{job_id} {request}: failed for a reason that is not definitive: {job.error}")
            if landed:
                problems.append(f"{job_id} {request}: failed, yet on chain in {landed}")
        else:
            problems.append(f"{job_id} {request}: still {job.status}")
    assert not problems, "accepted requests and the chain disagree:\n" + "\n".join(problems[:20])
    ballots = sum(1 for r in accepted.values() if r[0] == "ballot")
    scenario.figures.update(ballots_accepted=ballots, ballots_landed=sum(1 for r in on_chain if r[0] == "ballot"),
                            claims_accepted=len(accepted) - ballots,
                            claims_landed=sum(1 for r in on_chain if r[0] == "claim"), jobs_failed=len(failed))
    # Every ballot and claim of these drills is valid: a definitive failure would be one the fault caused.
    assert not failed, "valid requests failed:\n" + "\n".join(failed)
    assert ballots == len(scenario.members) * len(scenario.proposals), (ballots, len(scenario.members))


def check_index_equals_fresh(rig: Rig) -> None:
    """Check 2: the live index (its process went through the fault) equals a fresh one from the start."""
    head = rig.wait_indexed()
    assert rig.indexer_alive(), f"the indexer process exited:\n{rig.indexer_output()}"
    with rig.fresh_database() as url:
        engine = make_engine(url)
        try:
            Indexer(sessions=session_factory(engine), rpc=RpcClient(rig.rpc_url),
                    deployment=rig.dao.deployment).run(once=True, until=head)
        finally:
            engine.dispose()
        fresh = dump(url)
    live = dump(rig.database_url)
    diff = []
    for table, rows in fresh.items():
        if live[table] != rows:
            only_live = [r for r in live[table] if r not in rows][:3]
            only_fresh = [r for r in rows if r not in live[table]][:3]
            diff.append(f"{table}: live {len(live[table])} rows, fresh {len(rows)}; only live {only_live}; "
                        f"only fresh {only_fresh}")
    assert not diff, "the index differs from a fresh re-index:\n" + "\n".join(diff)
    assert fresh["vote"], "nothing indexed"


def check_documents(rig: Rig) -> int:
    """Check 3: every document recorded or referenced on chain is in the content store, intact."""
    content = rig.stack.services.content
    with rig.stack.services.session() as session:
        pinned = {p.cid: p for p in session.scalars(select(PinnedDocument))}
        documents = list(session.scalars(select(ProposalDocument)))
        proposals = list(session.scalars(select(m.Proposal)))
        outcomes = list(session.scalars(select(m.Outcome)))
    lost = []
    for cid, row in pinned.items():
        try:
            data = content.get(cid)  # verified against the CID by the store
        except Exception as exc:  # noqa: BLE001
            lost.append(f"pinned {row.kind} {cid}: {exc}")
            continue
        if compute_cid(data) != cid or "0x" + keccak(data).hex() != row.content_hash or len(data) != row.size:
            lost.append(f"pinned {row.kind} {cid}: bytes do not match the CID, hash or size recorded")
    for doc in documents:
        row = pinned.get(doc.document_cid)
        if row is None or row.content_hash != doc.document_hash:
            lost.append(f"proposal document {doc.proposal_id}: {doc.document_cid} not pinned with its hash")
    for uri, content_hash in [(p.document_uri, p.document_hash) for p in proposals if p.document_uri] + \
                             [(o.report_uri, o.content_hash) for o in outcomes]:
        cid = parse_ipfs_uri(uri)
        row = pinned.get(cid)
        if row is None or row.content_hash != content_hash:
            lost.append(f"the chain records {uri} ({content_hash}); pinned: {row and row.content_hash}")
    assert not lost, "documents lost or damaged:\n" + "\n".join(lost)
    assert pinned, "no documents were pinned"
    return len(pinned)


def check_all(scenario: Scenario) -> None:
    t0 = time.monotonic()
    check_exactly_once(scenario)
    check_index_equals_fresh(scenario.rig)
    scenario.figures["documents_checked"] = check_documents(scenario.rig)
    scenario.figures["checks_s"] = round(time.monotonic() - t0, 1)
    assert scenario.rig.stack.worker.poll() is None, f"the worker exited:\n{scenario.rig.stack.worker_output()}"


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, poll: float = 0.05) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - start
