"""Writing a batch in the caller's single transaction.

Event rows: the keys already stored for the batch's block range are read first (normally none), and only the new
rows are bulk-inserted, so a replay changes nothing. Derived tables follow from those new rows alone: tallies and
badge balances are incremented by their deltas (and decremented by the deltas of rows a reorg removes, then rows
that reach zero are dropped, exactly as a fresh index would not have them); current cards, role members and the
proposal life cycle are recomputed from their (few) events for the keys the new rows touched.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from sqlalchemy import and_, delete, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from backend.db import dialect_insert
from backend.models import chain as m
from indexer import bulk
from indexer.handlers import ZERO, Batch

#: Tables of rows that come from logs, all with a block_number, deleted above the fork point on a reorg.
EVENT_TABLES = (
    m.MembershipEvent, m.VotingPowerChange, m.DelegationChange, m.BadgeType, m.BadgeTransfer, m.Proposal,
    m.ProposalEvent, m.Vote, m.Outcome, m.RoleEvent, m.ContractEvent,
)
_TALLY_KEYS = ["chain_id", "proposal_id", "segment"]
_TALLY_COUNTERS = ["against_votes", "for_votes", "abstain_votes"]
_BALANCE_KEYS = ["chain_id", "badge_type_id", "holder"]


def insert_ignoring_duplicates(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """For small tables (cards, role members, blocks): ORM-level INSERT .. ON CONFLICT DO NOTHING."""
    if not rows:
        return
    insert = dialect_insert(session)
    for start in range(0, len(rows), 1000):
        session.execute(insert(model).on_conflict_do_nothing(), rows[start:start + 1000])


def upsert(session: Session, model: type, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not rows:
        return
    stmt = dialect_insert(session)(model)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), rows)


# ---------------------------------------------------------------------- a batch


def write_batch(session: Session, batch: Batch, start: int, end: int) -> None:
    """Store what `batch` (decoded from blocks start..end) says, once."""
    conn = session.connection()
    fresh: dict[type, list[dict[str, Any]]] = {}
    for model, rows in batch.rows.items():
        rows = _not_stored(conn, model, rows, batch.chain_id, start, end)
        bulk.insert(conn, model.__table__, rows)
        fresh[model] = rows
    _apply_deltas(conn, batch.chain_id, fresh.get(m.Vote, []), fresh.get(m.BadgeTransfer, []), sign=1)
    _recompute_touched(session, batch.chain_id, fresh)


def _primary_key(model: type) -> list[str]:
    return [c.name for c in model.__table__.primary_key.columns]


def _not_stored(conn: Connection, model: type, rows: list[dict[str, Any]], chain_id: int, start: int,
                end: int) -> list[dict[str, Any]]:
    if not rows:
        return rows
    keys = _primary_key(model)
    table = model.__table__
    stored = {tuple(r) for r in conn.execute(
        select(*(table.c[k] for k in keys))
        .where(table.c.chain_id == chain_id, table.c.block_number.between(start, end))
    )}
    if not stored:
        return rows
    return [row for row in rows if tuple(row[k] for k in keys) not in stored]


def _apply_deltas(conn: Connection, chain_id: int, votes: Iterable[dict[str, Any]],
                  transfers: Iterable[dict[str, Any]], *, sign: int) -> None:
    tallies: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for vote in votes:
        tallies[(vote["proposal_id"], vote["segment"])][vote["support"]] += sign * vote["weight"]
    bulk.increment(conn, m.Tally.__table__, _TALLY_KEYS, _TALLY_COUNTERS, [
        {"chain_id": chain_id, "proposal_id": p, "segment": s, "against_votes": a, "for_votes": f,
         "abstain_votes": ab} for (p, s), (a, f, ab) in tallies.items()])

    balances: dict[tuple[int, str], int] = defaultdict(int)
    for transfer in transfers:
        value = sign * int(transfer["value"])
        if transfer["to_address"] != ZERO:
            balances[(transfer["badge_type_id"], transfer["to_address"])] += value
        if transfer["from_address"] != ZERO:
            balances[(transfer["badge_type_id"], transfer["from_address"])] -= value
    bulk.increment(conn, m.BadgeBalance.__table__, _BALANCE_KEYS, ["balance"], [
        {"chain_id": chain_id, "badge_type_id": t, "holder": h, "balance": v} for (t, h), v in balances.items() if v])
    if any(v < 0 for v in balances.values()) or sign < 0:
        # What reaches zero disappears, as a fresh index would never have written it.
        conn.execute(delete(m.BadgeBalance).where(m.BadgeBalance.chain_id == chain_id, m.BadgeBalance.balance == 0))
    if sign < 0 and tallies:
        t = m.Tally
        conn.execute(delete(t).where(t.chain_id == chain_id, t.against_votes == 0, t.for_votes == 0,
                                     t.abstain_votes == 0))


def _recompute_touched(session: Session, chain_id: int, rows: dict[type, list[dict[str, Any]]]) -> None:
    recompute(
        session, chain_id,
        cards={r["token_id"] for r in rows.get(m.MembershipEvent, [])},
        roles={(r["contract"], r["role"], r["account"]) for r in rows.get(m.RoleEvent, [])},
        proposals={r["proposal_id"] for r in rows.get(m.ProposalEvent, []) if r["kind"] != "created"},
    )


# ---------------------------------------------------------------------- derived tables with few events


def _chunks(items: Iterable[Any], size: int = 500) -> Iterable[list[Any]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def recompute(session: Session, chain_id: int, *, cards=(), roles=(), proposals=()) -> None:
    for chunk in _chunks(cards):
        _recompute_cards(session, chain_id, chunk)
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
    bulk.insert(session.connection(), m.MembershipCard.__table__, list(cards.values()))


def _recompute_roles(session: Session, chain_id: int, keys: list[tuple[str, str, str]]) -> None:
    r = m.RoleEvent
    events = session.execute(
        select(r).where(r.chain_id == chain_id, tuple_(r.contract, r.role, r.account).in_(keys))
        .order_by(r.block_number, r.log_index)
    ).scalars()
    members: dict[tuple[str, str, str], dict[str, Any] | None] = {}
    for e in events:
        members[(e.contract, e.role, e.account)] = (
            {"chain_id": chain_id, "contract": e.contract, "role": e.role, "account": e.account,
             "granted_block": e.block_number} if e.granted else None)
    rm = m.RoleMember
    session.execute(delete(rm).where(rm.chain_id == chain_id, tuple_(rm.contract, rm.role, rm.account).in_(keys)))
    bulk.insert(session.connection(), rm.__table__, [row for row in members.values() if row])


def _recompute_proposals(session: Session, chain_id: int, proposal_ids: list[int]) -> None:
    pe = m.ProposalEvent
    events = session.execute(
        select(pe).where(pe.chain_id == chain_id, pe.proposal_id.in_(proposal_ids))
        .order_by(pe.block_number, pe.log_index)
    ).scalars()
    state: dict[int, tuple[str, int | None]] = {p: ("created", None) for p in proposal_ids}
    for e in events:
        eta = e.eta if e.kind == "queued" else state[e.proposal_id][1]
        state[e.proposal_id] = (e.kind, eta)
    for proposal_id, (lifecycle, eta) in state.items():
        session.execute(
            m.Proposal.__table__.update()
            .where(and_(m.Proposal.chain_id == chain_id, m.Proposal.proposal_id == proposal_id))
            .values(lifecycle=lifecycle, eta=eta)
        )


# ---------------------------------------------------------------------- reorgs and resets


def prune_blocks(session: Session, chain_id: int, *, below: int) -> None:
    """Forget headers without events that have left the recent window."""
    session.execute(delete(m.Block).where(
        m.Block.chain_id == chain_id, m.Block.number < below, m.Block.has_events.is_(False)))


def rollback_above(session: Session, chain_id: int, fork_block: int) -> int:
    """Delete everything indexed above `fork_block`, undoing its deltas and recomputing what it touched."""
    conn = session.connection()
    above = lambda model: and_(model.chain_id == chain_id, model.block_number > fork_block)  # noqa: E731
    gone = {model: [dict(r._mapping) for r in conn.execute(select(model.__table__).where(above(model)))]
            for model in (m.Vote, m.BadgeTransfer, m.MembershipEvent, m.RoleEvent, m.ProposalEvent)}
    _apply_deltas(conn, chain_id, gone[m.Vote], gone[m.BadgeTransfer], sign=-1)
    deleted = 0
    for model in EVENT_TABLES:
        deleted += conn.execute(delete(model).where(above(model))).rowcount or 0
    conn.execute(delete(m.Block).where(m.Block.chain_id == chain_id, m.Block.number > fork_block))
    gone[m.ProposalEvent] = [dict(r, kind="reorged") for r in gone[m.ProposalEvent]]
    _recompute_touched(session, chain_id, gone)
    return deleted


def reset_chain(session: Session, chain_id: int) -> None:
    """Forget everything indexed for `chain_id` (used when the contracts were redeployed)."""
    for model in (*EVENT_TABLES, m.MembershipCard, m.BadgeBalance, m.Tally, m.RoleMember, m.Block, m.IndexerCursor):
        session.execute(delete(model).where(model.chain_id == chain_id))
