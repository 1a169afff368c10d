"""Relayed transactions: members sign, the service submits and pays. A job row is written (and committed) before
the API answers 202, so an accepted request survives any crash; the signed transaction is stored before it is
broadcast, so a retry re-sends the same transaction and it lands at most once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Uint256, UtcDateTime
from backend.models._common import Address, Hash, Timestamps

DEDUPE_KEY_LENGTH = 200


class RelayJob(Timestamps, Base):
    __tablename__ = "relay_job"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex: not guessable, not enumerable
    #: backend/domain/vocabulary.py JobKind and JobStatus.
    kind: Mapped[str] = mapped_column(String(24), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True, default="pending")
    #: Same request twice (a replayed ballot, a re-sent claim) finds the first job instead of a second one. A job
    #: that fails for good retires its key (`relay.retired_key`), so it never blocks a voter's or issuer's nonce.
    dedupe_key: Mapped[str] = mapped_column(String(DEDUPE_KEY_LENGTH), unique=True)
    #: Who asked (the signer of a ballot, the invitee of a claim, the signed-in city or organisation).
    requested_by: Mapped[str] = mapped_column(Address, index=True)
    #: The service key that signs the transaction (relayer, city or an organisation's issuer key).
    sender: Mapped[str] = mapped_column(Address, index=True)
    #: Ballots of one voter are submitted in the order of their signature nonces.
    order_key: Mapped[str | None] = mapped_column(String(80), index=True)
    order_nonce: Mapped[int | None] = mapped_column(Uint256)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    tx_nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(Hash, index=True)
    raw_tx: Mapped[str | None] = mapped_column(Text)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    #: The block the transaction was mined in: a receipt in another block (a reorg moved it) updates it.
    block_hash: Mapped[str | None] = mapped_column(Hash)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Why it failed for good (the contract's custom error, decoded), or the last transient error.
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: A worker holds the job until this time (a lease: a dead worker's job is picked up after it lapses).
    leased_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class RelaySender(Base):
    """The next transaction nonce of each service key, allocated atomically so concurrent workers never reuse one."""

    __tablename__ = "relay_sender"
    address: Mapped[str] = mapped_column(Address, primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)
