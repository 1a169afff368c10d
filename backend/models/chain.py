"""Tables for everything the chain says. Written only by the indexer (indexer/handlers.py), read by everyone.

Event rows are keyed by the event's identity `(chain_id, tx_hash, log_index)`, so replaying a range changes
nothing. Derived tables (current cards, badge balances, tallies, role members) are recomputed from the event rows
for the keys a batch touched, so they stay exact under replays and reorgs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Address, Base, Hash, Uint256, UtcDateTime

__all__ = [
    "IndexerCursor", "Block", "MembershipEvent", "MembershipCard", "VotingPowerChange", "DelegationChange",
    "BadgeType", "BadgeTransfer", "BadgeBalance", "Proposal", "ProposalEvent", "Vote", "Tally", "Outcome",
    "RoleEvent", "RoleMember", "ContractEvent", "CHAIN_TABLES",
]


class _LogKey:
    """The identity of the log a row came from, and where it sits in the chain."""

    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)


class IndexerCursor(Base):
    """How far the indexer has got on a chain. Never ahead of the data: written in the same transaction."""

    __tablename__ = "indexer_cursor"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(Hash)
    manifest_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())


class Block(Base):
    """Headers of blocks that carried events (their timestamps date the events), plus the most recent blocks below
    the cursor, used to find the fork point of a reorg. Older headers without events are pruned, so the table is
    a function of the chain and the cursor alone."""

    __tablename__ = "block"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(Hash)
    parent_hash: Mapped[str] = mapped_column(Hash)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    has_events: Mapped[bool] = mapped_column(Boolean)


# ---------------------------------------------------------------------- membership cards


class MembershipEvent(_LogKey, Base):
    """CardIssued / CardRevoked / CardLeft."""

    __tablename__ = "membership_event"
    kind: Mapped[str] = mapped_column(String(8))  # issued | revoked | left
    token_id: Mapped[int] = mapped_column(BigInteger, index=True)
    member: Mapped[str] = mapped_column(Address, index=True)
    segment: Mapped[int | None] = mapped_column(SmallInteger)
    actor: Mapped[str | None] = mapped_column(Address)  # issuer (issued) or revoker (revoked)


class MembershipCard(Base):
    """The current card of each member number (derived from membership_event)."""

    __tablename__ = "membership_card"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member: Mapped[str] = mapped_column(Address, index=True)
    segment: Mapped[int] = mapped_column(SmallInteger, index=True)
    issuer: Mapped[str] = mapped_column(Address, index=True)
    active: Mapped[bool] = mapped_column(Boolean, index=True)
    issued_block: Mapped[int] = mapped_column(BigInteger)
    ended_block: Mapped[int | None] = mapped_column(BigInteger)
    ended_by: Mapped[str | None] = mapped_column(String(8))  # revoked | left


class VotingPowerChange(_LogKey, Base):
    """DelegateVotesChanged: voting-power history of each account."""

    __tablename__ = "voting_power_change"
    account: Mapped[str] = mapped_column(Address, index=True)
    previous_votes: Mapped[int] = mapped_column(BigInteger)
    new_votes: Mapped[int] = mapped_column(BigInteger)


class DelegationChange(_LogKey, Base):
    """DelegateChanged (always to self for cards, emitted at each issue)."""

    __tablename__ = "delegation_change"
    delegator: Mapped[str] = mapped_column(Address, index=True)
    from_delegate: Mapped[str] = mapped_column(Address)
    to_delegate: Mapped[str] = mapped_column(Address)


# ---------------------------------------------------------------------- badges


class BadgeType(Base):
    __tablename__ = "badge_type"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    badge_type_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    issuer: Mapped[str] = mapped_column(Address, index=True)
    kind: Mapped[int] = mapped_column(SmallInteger)  # 0 attendance, 1 cultural work, 2 perk
    soulbound: Mapped[bool] = mapped_column(Boolean)
    max_supply: Mapped[int] = mapped_column(BigInteger)  # 0 = unlimited
    uri: Mapped[str] = mapped_column(Text)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(Hash)
    log_index: Mapped[int] = mapped_column(Integer)


class BadgeTransfer(Base):
    """TransferSingle and TransferBatch, one row per (log, position in the batch). Mints come from 0x0."""

    __tablename__ = "badge_transfer"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    badge_type_id: Mapped[int] = mapped_column(BigInteger, index=True)
    operator: Mapped[str] = mapped_column(Address)
    from_address: Mapped[str] = mapped_column(Address, index=True)
    to_address: Mapped[str] = mapped_column(Address, index=True)
    value: Mapped[int] = mapped_column(Uint256)


class BadgeBalance(Base):
    """Derived from badge_transfer: what each address holds of each badge type (rows with 0 are removed)."""

    __tablename__ = "badge_balance"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    badge_type_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    holder: Mapped[str] = mapped_column(Address, primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)


# ---------------------------------------------------------------------- governance


class Proposal(Base):
    """ProposalCreated + ProposalCategorized, with the latest recorded lifecycle event. Live states (Active,
    Succeeded, Defeated) follow from the current block and the tallies; the API derives them."""

    __tablename__ = "proposal"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(Uint256, primary_key=True)
    proposer: Mapped[str] = mapped_column(Address, index=True)
    targets: Mapped[list[str]] = mapped_column(JSON)
    values: Mapped[list[str]] = mapped_column(JSON)  # decimal strings: wei amounts exceed JSON numbers
    calldatas: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[int] = mapped_column(SmallInteger, index=True)  # 0 culture, 1 town planning
    document_uri: Mapped[str | None] = mapped_column(Text)
    document_hash: Mapped[str | None] = mapped_column(Hash)
    vote_start: Mapped[int] = mapped_column(BigInteger)  # the snapshot block
    vote_end: Mapped[int] = mapped_column(BigInteger)
    eta: Mapped[int | None] = mapped_column(BigInteger)
    lifecycle: Mapped[str] = mapped_column(String(10), index=True)  # created | queued | executed | canceled
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    log_index: Mapped[int] = mapped_column(Integer)


class ProposalEvent(_LogKey, Base):
    """Every state change a proposal went through: created, queued, executed, canceled."""

    __tablename__ = "proposal_event"
    proposal_id: Mapped[int] = mapped_column(Uint256, index=True)
    kind: Mapped[str] = mapped_column(String(10))
    eta: Mapped[int | None] = mapped_column(BigInteger)


class Vote(_LogKey, Base):
    """VoteCast / VoteCastWithParams, with the voter's segment as of the snapshot (SegmentVoteCounted)."""

    __tablename__ = "vote"
    proposal_id: Mapped[int] = mapped_column(Uint256, index=True)
    voter: Mapped[str] = mapped_column(Address, index=True)
    support: Mapped[int] = mapped_column(SmallInteger)  # 0 against, 1 for, 2 abstain
    weight: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    segment: Mapped[int] = mapped_column(SmallInteger)


class Tally(Base):
    """Derived from vote: totals per proposal and segment, exactly the governor's proposalVotesBySegment."""

    __tablename__ = "tally"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(Uint256, primary_key=True)
    segment: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    against_votes: Mapped[int] = mapped_column(BigInteger)
    for_votes: Mapped[int] = mapped_column(BigInteger)
    abstain_votes: Mapped[int] = mapped_column(BigInteger)


class Outcome(_LogKey, Base):
    """OutcomePublished: every version the city published."""

    __tablename__ = "outcome"
    __table_args__ = (Index("ix_outcome_proposal_version", "chain_id", "proposal_id", "version", unique=True),)
    proposal_id: Mapped[int] = mapped_column(Uint256)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(SmallInteger)  # 1 adopted .. 5 abandoned
    report_uri: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(Hash)
    publisher: Mapped[str] = mapped_column(Address)


# ---------------------------------------------------------------------- roles


class RoleEvent(_LogKey, Base):
    """RoleGranted / RoleRevoked on the card (city, issuers) and the timelock."""

    __tablename__ = "role_event"
    contract: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(Hash)
    account: Mapped[str] = mapped_column(Address, index=True)
    sender: Mapped[str] = mapped_column(Address)
    granted: Mapped[bool] = mapped_column(Boolean)


class RoleMember(Base):
    """Derived from role_event: who holds which role now."""

    __tablename__ = "role_member"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(Hash, primary_key=True)
    account: Mapped[str] = mapped_column(Address, primary_key=True)
    granted_block: Mapped[int] = mapped_column(BigInteger)


class ContractEvent(_LogKey, Base):
    """Events without a table of their own (ERC-721 Transfer, Locked, timelock calls, settings changes, ...), kept
    whole with their decoded arguments, so that every on-chain event of our contracts is in SQL."""

    __tablename__ = "contract_event"
    contract: Mapped[str] = mapped_column(String(32), index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    args: Mapped[dict[str, Any]] = mapped_column(JSON)


CHAIN_TABLES: list[Any] = [
    IndexerCursor, Block, MembershipEvent, MembershipCard, VotingPowerChange, DelegationChange, BadgeType,
    BadgeTransfer, BadgeBalance, Proposal, ProposalEvent, Vote, Tally, Outcome, RoleEvent, RoleMember,
    ContractEvent,
]
