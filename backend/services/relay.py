"""Relayed transactions: accept a job (one row, committed before the API answers), then submit it from the right
service key and follow it until it is confirmed or definitively refused.

Guarantees, and how:
- Nothing accepted is lost: the job row is the truth. The Celery message is only a hint; the worker's sweep
  re-dispatches every pending or submitted job that nobody holds, so a lost message, a dead worker or a broker
  restart only delays a job.
- At most once: the signed transaction (with its nonce) is stored before it is broadcast, and a retry re-sends
  exactly that transaction; one nonce can only be mined once. Only when the sender's nonce has moved past it
  without it (something else used the nonce) is the job signed again. A node that lost its pool (anvil restarted
  from its state file keeps only mined blocks) gets the sender's lower stored transactions again from whichever job
  finds its own stuck behind the gap.
- Per-voter order: ballots of one voter carry consecutive signature nonces (OpenZeppelin's Governor checks them),
  so a ballot waits until an earlier ballot of the same voter is on chain (pending or submitted is not enough).
- Definitive vs transient: a refusal by the contract (a custom error, found by the gas estimate or the receipt)
  fails the job with the error's name; a transport error (chain down, timeout) is retried with capped backoff.
- Concurrency: a worker leases a job (an atomic UPDATE) while it works on it and renews the lease while it does, so
  the lease of a killed worker lapses within LEASE and the sweep hands the job on; a job is signed only while it is
  still pending (checked under a row lock), so even a lapsed lease never signs it twice; nonces of a sender are
  allocated atomically (one UPDATE ... RETURNING), so workers in parallel never share a nonce.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3
from web3.contract.contract import ContractFunction

from backend.chain.reverts import ContractRevert
from backend.db import dialect_insert
from backend.domain.vocabulary import FINAL_JOB_STATUSES, IN_FLIGHT_JOB_STATUSES, OPEN_JOB_STATUSES, JobKind
from backend.models._common import utcnow
from backend.models.relay import DEDUPE_KEY_LENGTH, RelayJob, RelaySender
from backend.services.context import Services
from backend.services.errors import NotFound

#: How long a job stays held without a renewal. A live worker renews its leases every RENEW_EVERY_S, so only a dead
#: or cut-off worker's lease lapses, and soon: its jobs (and a voter's later ballots, which wait for them) are
#: picked up by the sweep within LEASE, not stalled (tests/faults/test_worker_killed.py, test_postgres_restart.py).
LEASE = dt.timedelta(seconds=20)
RENEW_EVERY_S = 5.0
RECEIPT_WAIT_S = 20
#: How often an `included` job is looked at again while it waits for its confirmations (about a block time).
CONFIRMATION_POLL_S = 2.0
OPEN_STATUSES, FINAL_STATUSES = OPEN_JOB_STATUSES, FINAL_JOB_STATUSES
#: Issuer keys of organisations get topped up by the relayer when they run low.
ORGANISATION_MIN_BALANCE = 5 * 10**16
ORGANISATION_TOP_UP = 5 * 10**17


@dataclass(frozen=True)
class RelayRetry:
    """When the worker tries a job again: after the countdown the relayer asked for (RetryLater), growing by `growth`
    per retry, at most `max_countdown`; an unexpected error (a bug, the database away) starts from
    `unexpected_countdown`. After `max_retries` tries the task gives up; the job stays in the table and the sweep
    dispatches it again (`stale_jobs`), so nothing is lost, only paced."""

    max_retries: int = 100
    growth: float = 1.5
    max_countdown: float = 30.0
    unexpected_countdown: float = 2.0

    def countdown(self, suggested: float, retries: int) -> float:
        return min(self.max_countdown, suggested * self.growth ** min(retries, 8))


RELAY_RETRY = RelayRetry()


class RetryLater(Exception):
    """Transient: try the job again after `countdown` seconds."""

    def __init__(self, reason: str, countdown: float = 2.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.countdown = countdown


@dataclass(frozen=True)
class JobView:
    id: str
    kind: str
    status: str
    tx_hash: str | None
    block_number: int | None
    error: str | None
    result: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    block_hash: str | None = None

    @classmethod
    def of(cls, job: RelayJob) -> JobView:
        return cls(job.id, job.kind, job.status, job.tx_hash, job.block_number, job.error, job.result or {},
                   job.created_at, job.updated_at, job.block_hash)



# ---------------------------------------------------------------------- job kinds

Call = tuple[ContractFunction, dict[str, Any]]


class JobPayload:
    """What a job of one kind carries, typed: its fields, their JSON (the `relay_job.payload` column), the contract
    call it makes and what its receipt yields. Each domain declares its kinds next to its service (`BallotJob` in
    ballots.py, ...) with `@job_kind`; the relayer knows only this interface."""

    kind: ClassVar[JobKind]

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobPayload:
        raise NotImplementedError

    def call(self, services: Services) -> ContractFunction:
        """The contract call this job makes."""
        raise NotImplementedError

    def result(self, services: Services, receipt: Any) -> dict[str, Any]:
        """What the confirmed job produced, read from its receipt's events (e.g. a new badge type's id)."""
        return {}

    def refusal(self, services: Services, revert: ContractRevert) -> str | None:
        """Why the contract refuses this job, in words, when its custom error alone would not say it."""
        return None


#: Every job kind: its payload class, by `JobKind` value (filled by `@job_kind` as the domain modules load).
JOB_KINDS: dict[str, type[JobPayload]] = {}
#: The modules that declare job kinds, loaded before a job is read (they import this module: loaded late).
_KIND_MODULES = ("ballots", "claims", "proposals", "organisations", "metaverse_events", "outcomes")


def job_kind(cls: type[JobPayload]) -> type[JobPayload]:
    """Register a payload class as the one of its kind."""
    JOB_KINDS[cls.kind.value] = cls
    return cls


def payload_of(job: RelayJob) -> JobPayload:
    """The typed payload of a stored job (ValueError/KeyError/TypeError when it is malformed or of no known kind)."""
    if job.kind not in JOB_KINDS:
        import importlib

        for name in _KIND_MODULES:
            importlib.import_module(f"backend.services.{name}")
    if job.kind not in JOB_KINDS:
        raise ValueError(f"unknown relay job kind {job.kind!r}")
    return JOB_KINDS[job.kind].from_json(job.payload)


def _stored(payload: JobPayload, signer: str) -> dict[str, Any]:
    return {**payload.to_json(), "signer": signer}


# ---------------------------------------------------------------------- accepting


def accept(session: Session, *, payload: JobPayload, dedupe_key: str, requested_by: str, signer: str, sender: str,
           order_key: str | None = None, order_nonce: int | None = None) -> tuple[RelayJob, bool]:
    """Insert a job, or find the job already accepted for the same request. Returns (job, created). The caller
    commits, then dispatches `job.id`."""
    existing = session.scalar(select(RelayJob).where(RelayJob.dedupe_key == dedupe_key))
    if existing is not None:
        return existing, False
    job = RelayJob(id=uuid.uuid4().hex, kind=payload.kind.value, status="pending", dedupe_key=dedupe_key,
                   requested_by=requested_by, sender=sender, order_key=order_key, order_nonce=order_nonce,
                   payload=_stored(payload, signer), result={}, attempts=0)
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:  # the same request, accepted concurrently
        existing = session.scalar(select(RelayJob).where(RelayJob.dedupe_key == dedupe_key))
        if existing is None:
            raise
        return existing, False
    return job, True


@dataclass(frozen=True)
class NewJob:
    payload: JobPayload
    dedupe_key: str
    requested_by: str
    signer: str
    sender: str
    order_key: str | None = None
    order_nonce: int | None = None


def insert_new(connection: Connection, jobs: list[NewJob]) -> list[JobView | None]:
    """`accept` for many jobs whose dedupe keys the caller has just looked up and not found: one multi-row INSERT ..
    ON CONFLICT DO NOTHING on a Core connection (no ORM unit of work, no savepoint), the hot path of ballot intake.
    Returns, in order, each new job, or None where a job with that key was accepted concurrently since the look-up.
    The caller commits, then dispatches."""
    now = utcnow()
    rows = [{"id": uuid.uuid4().hex, "kind": j.payload.kind.value, "status": "pending", "dedupe_key": j.dedupe_key,
             "requested_by": j.requested_by, "sender": j.sender, "order_key": j.order_key, "order_nonce": j.order_nonce,
             "payload": _stored(j.payload, j.signer), "result": {}, "attempts": 0, "created_at": now,
             "updated_at": now} for j in jobs]
    table = RelayJob.__table__
    inserted = set(connection.scalars(dialect_insert(connection)(table).values(rows)
                                      .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)))
    return [JobView(row["id"], row["kind"], "pending", None, None, None, {}, now, now) if row["id"] in inserted else None
            for row in rows]


#: What a failed job's dedupe key becomes: still unique, still found by a prefix search over its kind's keys (the
#: batch numbering of badge mints counts them), but no longer the key a new request of the same identity takes.
RETIRED = "#failed:"


def retired_key(dedupe_key: str, job_id: str) -> str:
    if RETIRED in dedupe_key:
        return dedupe_key
    suffix = f"{RETIRED}{job_id}"
    return dedupe_key[:DEDUPE_KEY_LENGTH - len(suffix)] + suffix  # the job id keeps it unique


def job_view(services: Services, *, job_id: str, kinds: tuple[str, ...] | None = None) -> JobView:
    """A job as the chain has it now. An `included` job is looked up on the chain first: if its block left the
    chain (a reorg the worker has not acted on yet), it is shown as `submitted` (in flight), never in a block that
    does not exist, and the worker is nudged."""
    with services.session() as session:
        job = session.get(RelayJob, job_id)
        if job is None or (kinds is not None and job.kind not in kinds):
            raise NotFound(f"no {'/'.join(kinds) if kinds else 'relay'} job {job_id!r}")
        view = JobView.of(job)
    if view.status == "included" and not _still_in_block(services, view):
        services.dispatch(view.id)
        return dataclasses.replace(view, status="submitted", block_number=None, block_hash=None, result={})
    return view


def _still_in_block(services: Services, view: JobView) -> bool:
    try:
        receipt = _receipt(services.chain.w3, view.tx_hash)
    except Exception:  # noqa: BLE001 - the chain does not answer: show what is recorded
        return True
    return receipt is not None and "0x" + bytes(receipt["blockHash"]).hex() == view.block_hash


def reopen(session: Session, job_id: str) -> bool:
    """Put a confirmed job whose effect is no longer on the chain (a reorg deeper than the confirmation depth took
    its block) back to relaying: its stored transaction is re-sent, or signed again if the sender's nonce moved on.
    The caller has checked the chain, commits, then dispatches. False when the job was not confirmed (any more)."""
    return session.execute(
        update(RelayJob).where(RelayJob.id == job_id, RelayJob.status == "confirmed")
        .values(status="submitted", block_number=None, block_hash=None, error=None)).rowcount == 1


# ---------------------------------------------------------------------- signers


def signer_account(services: Services, signer: str) -> LocalAccount:
    if signer == "relayer":
        return services.keys.relayer
    if signer == "city":
        return services.keys.city
    if signer.startswith("organisation:"):
        return services.keys.organisation(int(signer.split(":", 1)[1]))
    raise ValueError(f"unknown signer {signer!r}")


# ---------------------------------------------------------------------- processing


class Relayer:
    """Works one job at a time; `process` is what the Celery task calls."""

    def __init__(self, services: Services, *, log: Callable[[str], None] = lambda _m: None) -> None:
        self.services = services
        self.log = log

    def process(self, job_id: str) -> str:
        """Advance a job as far as it goes now. Returns its status; raises RetryLater when it must wait (an
        `included` job waits for its confirmations, and is looked at again each time)."""
        if not self._lease(job_id):
            with self.services.session() as session:
                job = session.get(RelayJob, job_id)
                if job is None:
                    return "missing"
                if job.status in FINAL_STATUSES:
                    return job.status
            raise RetryLater(f"job {job_id} is held by another worker", countdown=5)
        try:
            status = self._status(job_id)
            if status == "pending":
                status = self._submit(job_id)
            if status in ("submitted", "included"):
                status = self._confirm(job_id)
            return status
        finally:
            self._release(job_id)

    # -- lease

    def _lease(self, job_id: str) -> bool:
        now = utcnow()
        with self.services.transaction() as session:
            result = session.execute(
                update(RelayJob)
                .where(RelayJob.id == job_id, RelayJob.status.in_(OPEN_STATUSES),
                       or_(RelayJob.leased_until.is_(None), RelayJob.leased_until < now))
                .values(leased_until=now + LEASE, attempts=RelayJob.attempts + 1)
            )
            leased = result.rowcount == 1
        if leased:
            _renewer.hold(self.services, job_id)
        return leased

    def _release(self, job_id: str) -> None:
        _renewer.drop(job_id)
        with self.services.transaction() as session:
            session.execute(update(RelayJob).where(RelayJob.id == job_id).values(leased_until=None))

    def _status(self, job_id: str) -> str:
        with self.services.session() as session:
            return session.get(RelayJob, job_id).status

    def _fail(self, job_id: str, reason: str, *, block_number: int | None = None) -> str:
        """Fail a job for good. It gives its dedupe key up in the same write (`retired_key`): the request had no
        effect on chain, so the same request, or another one for the same nonce (a voter's next ballot, an
        organisation's invitation signed again), must be accepted afresh rather than meet this dead job."""
        with self.services.transaction() as session:
            job = session.get(RelayJob, job_id)
            job.status, job.error, job.dedupe_key = "failed", reason, retired_key(job.dedupe_key, job.id)
            if block_number is not None:
                job.block_number = block_number
        self.log(f"job {job_id} failed: {reason}")
        return "failed"

    # -- submit

    def _submit(self, job_id: str) -> str:
        services = self.services
        with services.session() as session:
            job = session.get(RelayJob, job_id)
            # An earlier request of the same order (a voter's earlier ballot) must be on chain first, not merely
            # signed: while it is `submitted` but not mined (the chain went away after signing, or its nonce was
            # taken and it is re-signed), this one's gas estimate would meet the voter's old nonce, and the
            # contract's GovernorInvalidSignature would fail a valid ballot for good (tests/faults/test_chain_down.py).
            if job.order_key is not None and session.scalar(
                select(RelayJob.id).where(RelayJob.order_key == job.order_key,
                                          RelayJob.status.in_(IN_FLIGHT_JOB_STATUSES),
                                          RelayJob.order_nonce < job.order_nonce).limit(1)):
                raise RetryLater(f"an earlier request of {job.order_key} is not on chain yet", countdown=1)
            try:
                sender = signer_account(services, job.payload["signer"])
                payload = payload_of(job)
                fn = payload.call(services)
            except (KeyError, ValueError, TypeError) as exc:
                return self._fail(job_id, f"malformed job payload: {exc}")
        chain = self._chain()
        try:
            if job.payload["signer"].startswith("organisation:"):
                self._top_up(sender.address)
            gas = chain.estimate(fn, sender.address)
            tx = fn.build_transaction({"from": sender.address, "gas": gas, "chainId": chain.chain_id, "nonce": 0,
                                       **chain.fees()})
            pending_nonce = chain.w3.eth.get_transaction_count(sender.address, "pending")
        except ContractRevert as exc:
            return self._fail(job_id, payload.refusal(services, exc) or f"refused by the contract: {exc}")
        except RetryLater:
            raise
        except Exception as exc:  # noqa: BLE001 - transport errors of every kind are transient
            raise RetryLater(f"chain unavailable: {exc}", countdown=3) from None

        with services.transaction() as session:
            # Still pending? Should this worker's lease have lapsed (cut off from the database past LEASE), another
            # may have signed the job meanwhile: signing it again would put it on chain twice.
            job = session.get(RelayJob, job_id, with_for_update=True, populate_existing=True)
            if job.status != "pending":
                raise RetryLater(f"job {job_id} was {job.status} by another worker meanwhile", countdown=1)
            nonce = _allocate_nonce(session, sender.address, pending_nonce)
            tx["nonce"] = nonce
            raw, tx_hash = chain.sign(tx, sender)
            job.status, job.tx_nonce, job.tx_hash, job.raw_tx, job.error = "submitted", nonce, tx_hash, raw, None
        self.log(f"job {job_id} ({job.kind}) signed as {tx_hash} nonce {nonce}")
        self._broadcast(raw)
        return "submitted"

    def _top_up(self, address: str) -> None:
        """Give an organisation's issuer key gas money from the relayer (harmless if it happens twice)."""
        chain = self._chain()
        if chain.w3.eth.get_balance(address) >= ORGANISATION_MIN_BALANCE:
            return
        relayer = self.services.keys.relayer
        with self.services.transaction() as session:
            nonce = _allocate_nonce(session, relayer.address,
                                    chain.w3.eth.get_transaction_count(relayer.address, "pending"))
            raw, tx_hash = chain.sign({"from": relayer.address, "to": address, "value": ORGANISATION_TOP_UP,
                                       "gas": 21_000, "nonce": nonce, "chainId": chain.chain_id, **chain.fees()},
                                      relayer)
        self._broadcast(raw)
        chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_WAIT_S)

    def _broadcast(self, raw: str) -> bool:
        """Send a signed transaction. False when the node says its nonce is used already (by it, or by another
        transaction: the confirm step looks at the receipt to tell which)."""
        try:
            self._chain().w3.eth.send_raw_transaction(raw)
        except Exception as exc:  # noqa: BLE001
            message = str(exc).lower()
            if "nonce too low" in message:
                return False
            if "already known" in message or "already imported" in message:
                return True  # the confirm step looks at the receipt
            raise RetryLater(f"broadcast failed: {exc}", countdown=3) from None
        return True

    # -- confirm

    def _confirm(self, job_id: str) -> str:
        """Follow a signed transaction until it is final: mined (`included`), then `confirmations` blocks deep
        (`confirmed`). A transaction that left the chain (a reorg dropped or replaced its block) is relayed again:
        the stored transaction re-sent while the sender's nonce is still free, or the job signed again when the
        nonce was taken meanwhile. A receipt found in another block than before (the transaction moved) updates
        the job."""
        services = self.services
        with services.session() as session:
            job = session.get(RelayJob, job_id)
            raw, tx_hash, sender, tx_nonce = job.raw_tx, job.tx_hash, job.sender, job.tx_nonce
            was_included = job.status == "included"
        chain = self._chain()
        try:
            receipt = _receipt(chain.w3, tx_hash)
            if receipt is None and was_included:
                self._back_to_relaying(job_id, "its block left the chain (a reorg)")
            if receipt is None:
                nonce_free = self._broadcast(raw)
                self._fill_nonce_gap(sender, tx_nonce)
                try:
                    # A used nonce: mined already (the receipt is there) or taken by another transaction (never).
                    wait = RECEIPT_WAIT_S if nonce_free else 2
                    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=wait, poll_latency=0.2)
                except Exception:  # noqa: BLE001 - not mined yet, or the chain went away
                    receipt = None
            if receipt is None:
                if chain.w3.eth.get_transaction_count(sender, "latest") > tx_nonce and _receipt(chain.w3, tx_hash) is None:
                    # The nonce was used by another transaction: ours can never be mined. Sign again.
                    with services.transaction() as session:
                        job = session.get(RelayJob, job_id)
                        job.status, job.tx_hash, job.raw_tx, job.tx_nonce = "pending", None, None, None
                        job.block_number = job.block_hash = None
                    raise RetryLater("nonce taken by another transaction; re-signing", countdown=0.5)
                raise RetryLater(f"{tx_hash} not mined yet", countdown=3)
            head = chain.w3.eth.block_number
        except RetryLater:
            raise
        except Exception as exc:  # noqa: BLE001
            raise RetryLater(f"chain unavailable: {exc}", countdown=3) from None

        if receipt["status"] != 1:
            tx = chain.w3.eth.get_transaction(tx_hash)
            reason = chain.why_failed(dict(tx), receipt)
            return self._fail(job_id, f"reverted on chain: {reason}", block_number=receipt["blockNumber"])
        block_number, block_hash = receipt["blockNumber"], "0x" + bytes(receipt["blockHash"]).hex()
        depth = head - block_number
        final = depth >= services.settings.confirmations
        result = payload_of(job).result(services, receipt)
        with services.transaction() as session:
            job = session.get(RelayJob, job_id)
            job.status = "confirmed" if final else "included"
            job.block_number, job.block_hash, job.result, job.error = block_number, block_hash, result, None
        if not final:
            self.log(f"job {job_id} included in block {block_number} ({depth} of "
                     f"{services.settings.confirmations} confirmations)")
            raise RetryLater(f"{tx_hash} is {depth} blocks deep; waiting for {services.settings.confirmations}",
                             countdown=CONFIRMATION_POLL_S)
        self.log(f"job {job_id} confirmed in block {block_number}")
        return "confirmed"

    def _back_to_relaying(self, job_id: str, why: str) -> None:
        with self.services.transaction() as session:
            job = session.get(RelayJob, job_id)
            job.status, job.block_number, job.block_hash = "submitted", None, None
        self.log(f"job {job_id}: {why}; relaying it again")

    def _fill_nonce_gap(self, sender: str, tx_nonce: int) -> None:
        """Broadcast again the stored transactions of `sender` below `tx_nonce` that the chain no longer knows.

        A node keeps a transaction above a missing nonce queued, unmined. Anvil's state file keeps mined blocks, not
        its pool: after a restart, the transactions signed just before the stop (and those whose broadcast failed
        while it was down) are gone, and every later transaction of the sender waits behind them until their own
        jobs' retries (backed off while the chain was down) come round. The node's pending count is the first nonce
        it has nothing ready for; each job below ours from there on is re-sent, exactly as signed (at most once
        holds: one nonce is mined once)."""
        chain = self._chain()
        pending = chain.w3.eth.get_transaction_count(sender, "pending")
        if pending >= tx_nonce:
            return
        with self.services.session() as session:
            missing = list(session.execute(
                select(RelayJob.tx_nonce, RelayJob.raw_tx)
                .where(RelayJob.sender == sender, RelayJob.status == "submitted", RelayJob.tx_nonce >= pending,
                       RelayJob.tx_nonce < tx_nonce, RelayJob.raw_tx.is_not(None))
                .order_by(RelayJob.tx_nonce)))
        for _nonce, raw in missing:
            try:
                self._broadcast(raw)
            except RetryLater:  # its own job sees to it
                continue
        if missing:
            self.log(f"re-sent {len(missing)} transactions of {sender} below nonce {tx_nonce} "
                     f"(the chain had nothing ready from nonce {pending})")

    def _chain(self):
        return self.services.chain


class _LeaseRenewer:
    """Renews, from one background thread, the leases of the jobs this process is working on."""

    def __init__(self) -> None:
        self._held: dict[str, Services] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, services: Services, job_id: str) -> None:
        with self._lock:
            self._held[job_id] = services
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="relay-lease-renewer", daemon=True)
                self._thread.start()

    def drop(self, job_id: str) -> None:
        with self._lock:
            self._held.pop(job_id, None)

    def _run(self) -> None:
        while True:
            time.sleep(RENEW_EVERY_S)
            with self._lock:
                held = list(self._held.items())
            by_services: dict[int, tuple[Services, list[str]]] = {}
            for job_id, services in held:
                by_services.setdefault(id(services), (services, []))[1].append(job_id)
            for services, job_ids in by_services.values():
                try:
                    with services.transaction() as session:
                        session.execute(update(RelayJob).where(RelayJob.id.in_(job_ids),
                                                               RelayJob.leased_until.is_not(None))
                                        .values(leased_until=utcnow() + LEASE))
                except Exception:  # noqa: BLE001 - database away: the lease may lapse; _submit's check keeps it safe
                    pass


_renewer = _LeaseRenewer()


def _receipt(w3: Web3, tx_hash: str) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except Exception as exc:  # noqa: BLE001
        if "not found" in str(exc).lower():
            return None
        raise


def _allocate_nonce(session: Session, address: str, chain_pending: int) -> int:
    """The next nonce of `address`: never below the chain's pending count, never handed out twice."""
    if session.get(RelaySender, address) is None:
        try:
            with session.begin_nested():
                session.add(RelaySender(address=address, next_nonce=chain_pending))
        except IntegrityError:
            pass
    row = session.execute(
        text("UPDATE relay_sender SET next_nonce = CASE WHEN next_nonce > :pending THEN next_nonce ELSE :pending END + 1 "
             "WHERE address = :address RETURNING next_nonce"),
        {"pending": chain_pending, "address": address},
    ).one()
    return int(row[0]) - 1


def stale_jobs(services: Services, *, older_than: dt.timedelta = dt.timedelta(seconds=10), limit: int = 500) -> list[str]:
    """Jobs not finished and not held by anyone, untouched for a while: the sweep dispatches them again."""
    now = utcnow()
    with services.session() as session:
        return list(session.scalars(
            select(RelayJob.id).where(
                RelayJob.status.in_(OPEN_STATUSES),
                or_(RelayJob.leased_until.is_(None), RelayJob.leased_until < now),
                or_(RelayJob.updated_at < now - older_than, and_(RelayJob.attempts == 0, RelayJob.created_at < now - older_than)),
            ).order_by(RelayJob.created_at).limit(limit)
        ))
