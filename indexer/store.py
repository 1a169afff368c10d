"""Writing a batch: event rows inserted in bulk with ON CONFLICT DO NOTHING (a replay changes nothing), derived
tables recomputed from the event rows for the keys the batch touched, blocks and the cursor written, all in the
caller's single transaction. Rolling back a reorg deletes everything above the fork and recomputes the same way.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from sqlalchemy import and_, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend.models import chain as m
from indexer.handlers import Batch

#: Event tables with a block_number column, deleted above the fork point on a reorg.
EVENT_TABLES = (
    m.MembershipEvent, m.VotingPowerChange, m.DelegationChange, m.BadgeType, m.BadgeTransfer, m.Proposal,
    m.ProposalEvent, m.Vote, m.Outcome, m.RoleEvent, m.ContractEvent,
)
_CHUNK = 1000  # rows per multi-row INSERT; keeps SQLite under its bound-parameter limit


def _insert(session: Session):
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_ignoring_duplicates(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = _insert(session)
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(model).on_conflict_do_nothing(), rows[start:start + _CHUNK])


def upsert(session: Session, model: type, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not rows:
        return
    insert = _insert(session)
    for start in range(0, len(rows), _CHUNK):
        stmt = insert(model)
        update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), rows[start:start + _CHUNK])


def write_batch(session: Session, batch: Batch) -> None:
    for model, rows in batch.rows.items():
        insert_ignoring_duplicates(session, model, rows)
    recompute(session, batch.chain_id, cards=batch.cards, balances=batch.balances, tallies=batch.tallies,
              roles=batch.roles, proposals=batch.proposals)


# ---------------------------------------------------------------------- derived tables


def _chunks(items: Iterable[Any], size: int = 500) -> Iterable[list[Any]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def recompute(session: Session, chain_id: int, *, cards=(), balances=(), tallies=(), roles=(), proposals=()) -> None:
    for chunk in _chunks(cards):
        _recompute_cards(session, chain_id, chunk)
    for chunk in _chunks(balances):
        _recompute_balances(session, chain_id, chunk)
    for chunk in _chunks(tallies):
        _recompute_tallies(session, chain_id, chunk)
    for chunk in _chunks(roles):
        _recompute_roles(session, chain_id, chunk)
    for chunk in _chunks(proposals):
        _recompute_proposals(session, chain_id, chunk)


def _recompute_cards(session: Session, chain_id: int, token_ids: list[int]) -> None:
    events = session.execute(
        select(m.MembershipEvent)
        .where(m.MembershipEvent.chain_id == chain_id, m.MembershipEvent.token_id.in_(token_ids))
        .order_by(m.MembershipEvent.block_number, m.MembershipEvent.log_index)
    ).scalars()
    cards: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.kind == "issued":
            cards[e.token_id] = {"chain_id": chain_id, "token_id": e.token_id, "member": e.member,
                                 "segment": e.segment, "issuer": e.actor, "active": True,
                                 "issued_block": e.block_number, "ended_block": None, "ended_by": None}
        elif e.token_id in cards:
            cards[e.token_id].update(active=False, ended_block=e.block_number, ended_by=e.kind)
    session.execute(delete(m.MembershipCard).where(
        m.MembershipCard.chain_id == chain_id, m.MembershipCard.token_id.in_(token_ids)))
    insert_ignoring_duplicates(session, m.MembershipCard, list(cards.values()))


def _recompute_balances(session: Session, chain_id: int, keys: list[tuple[int, str]]) -> None:
    t = m.BadgeTransfer
    totals: dict[tuple[int, str], int] = defaultdict(int)
    for holder_column, sign in ((t.to_address, 1), (t.from_address, -1)):
        rows = session.execute(
            select(t.badge_type_id, holder_column, t.value)
            .where(t.chain_id == chain_id, tuple_(t.badge_type_id, holder_column).in_(keys))
        )
        for badge_type_id, holder, value in rows:
            totals[(badge_type_id, holder)] += sign * value
    b = m.BadgeBalance
    session.execute(delete(b).where(b.chain_id == chain_id, tuple_(b.badge_type_id, b.holder).in_(keys)))
    insert_ignoring_duplicates(session, b, [
        {"chain_id": chain_id, "badge_type_id": k[0], "holder": k[1], "balance": v} for k, v in totals.items() if v
    ])


def _recompute_tallies(session: Session, chain_id: int, proposal_ids: list[int]) -> None:
    v = m.Vote
    rows = session.execute(
        select(v.proposal_id, v.segment, v.support, func.sum(v.weight))
        .where(v.chain_id == chain_id, v.proposal_id.in_(proposal_ids))
        .group_by(v.proposal_id, v.segment, v.support)
    )
    tallies: dict[tuple[int, int], dict[str, Any]] = {}
    for proposal_id, segment, support, weight in rows:
        row = tallies.setdefault((proposal_id, segment), {
            "chain_id": chain_id, "proposal_id": proposal_id, "segment": segment,
            "against_votes": 0, "for_votes": 0, "abstain_votes": 0})
        row[("against_votes", "for_votes", "abstain_votes")[support]] += int(weight)
    session.execute(delete(m.Tally).where(m.Tally.chain_id == chain_id, m.Tally.proposal_id.in_(proposal_ids)))
    insert_ignoring_duplicates(session, m.Tally, list(tallies.values()))


def _recompute_roles(session: Session, chain_id: int, keys: list[tuple[str, str, str]]) -> None:
    r = m.RoleEvent
    events = session.execute(
        select(r).where(r.chain_id == chain_id, tuple_(r.contract, r.role, r.account).in_(keys))
        .order_by(r.block_number, r.log_index)
    ).scalars()
    members: dict[tuple[str, str, str], dict[str, Any] | None] = {}
    for e in events:
        key = (e.contract, e.role, e.account)
        members[key] = ({"chain_id": chain_id, "contract": e.contract, "role": e.role, "account": e.account,
                         "granted_block": e.block_number} if e.granted else None)
    rm = m.RoleMember
    session.execute(delete(rm).where(rm.chain_id == chain_id, tuple_(rm.contract, rm.role, rm.account).in_(keys)))
    insert_ignoring_duplicates(session, rm, [row for row in members.values() if row])


def _recompute_proposals(session: Session, chain_id: int, proposal_ids: list[int]) -> None:
    pe = m.ProposalEvent
    events = session.execute(
        select(pe).where(pe.chain_id == chain_id, pe.proposal_id.in_(proposal_ids))
        .order_by(pe.block_number, pe.log_index)
    ).scalars()
    state: dict[int, tuple[str, int | None]] = {}
    for e in events:
        eta = e.eta if e.kind == "queued" else state.get(e.proposal_id, ("created", None))[1]
        state[e.proposal_id] = (e.kind, eta)
    for proposal_id, (lifecycle, eta) in state.items():
        session.execute(
            m.Proposal.__table__.update()
            .where(and_(m.Proposal.chain_id == chain_id, m.Proposal.proposal_id == proposal_id))
            .values(lifecycle=lifecycle, eta=eta)
        )


# ---------------------------------------------------------------------- reorgs


def prune_blocks(session: Session, chain_id: int, *, below: int) -> None:
    """Forget headers without events that have left the recent window."""
    session.execute(delete(m.Block).where(
        m.Block.chain_id == chain_id, m.Block.number < below, m.Block.has_events.is_(False)))


def rollback_above(session: Session, chain_id: int, fork_block: int) -> int:
    """Delete everything indexed above `fork_block` and recompute what it touched. Returns rows deleted."""
    above = lambda model: and_(model.chain_id == chain_id, model.block_number > fork_block)  # noqa: E731
    cards = set(session.execute(select(m.MembershipEvent.token_id).where(above(m.MembershipEvent))).scalars())
    tallies = set(session.execute(select(m.Vote.proposal_id).where(above(m.Vote))).scalars())
    proposals = set(session.execute(select(m.ProposalEvent.proposal_id).where(above(m.ProposalEvent))).scalars())
    roles = set(session.execute(
        select(m.RoleEvent.contract, m.RoleEvent.role, m.RoleEvent.account).where(above(m.RoleEvent))).tuples())
    balances: set[tuple[int, str]] = set()
    for holder in (m.BadgeTransfer.to_address, m.BadgeTransfer.from_address):
        balances |= set(session.execute(
            select(m.BadgeTransfer.badge_type_id, holder).where(above(m.BadgeTransfer))).tuples())
    deleted = 0
    for model in EVENT_TABLES:
        deleted += session.execute(delete(model).where(above(model))).rowcount or 0
    session.execute(delete(m.Block).where(m.Block.chain_id == chain_id, m.Block.number > fork_block))
    created_gone = {p for p in proposals if not session.get(m.Proposal, (chain_id, p))}
    if created_gone:
        session.execute(delete(m.Tally).where(m.Tally.chain_id == chain_id, m.Tally.proposal_id.in_(created_gone)))
    balances = {b for b in balances if b[1] != "0x0000000000000000000000000000000000000000"}
    recompute(session, chain_id, cards=cards, balances=balances, tallies=tallies, roles=roles,
              proposals=proposals - created_gone)
    return deleted


def reset_chain(session: Session, chain_id: int) -> None:
    """Forget everything indexed for `chain_id` (used when the contracts were redeployed)."""
    for model in (*EVENT_TABLES, m.MembershipCard, m.BadgeBalance, m.Tally, m.RoleMember, m.Block, m.IndexerCursor):
        session.execute(delete(model).where(model.chain_id == chain_id))
