"""A proposal's state: derived from the index and the head where that is final, asked of the governor where
it is not; and reads of the chain at past moments, cached once final."""

from __future__ import annotations

from typing import Any

from backend.domain.vocabulary import Category, ProposalState, Segment
from backend.models.chain import Block, IndexerCursor, Proposal
from backend.services import chain_checks
from backend.services.chain_checks import Head
from backend.services.context import Services
from backend.services.errors import RefusedByChain, Unavailable

#: What the index's life cycle says when the governor cannot be asked: only the final ones name a state; a proposal
#: merely created is in a state the index alone cannot tell (Pending, Active, Defeated, Succeeded, Expired).
_LIFECYCLE_STATES = {"queued": ProposalState.QUEUED, "executed": ProposalState.EXECUTED,
                     "canceled": ProposalState.CANCELED}
UNKNOWN_STATE = "Unknown"


def live_state(services: Services, proposal_id: int, lifecycle: str) -> str:
    """The governor's state now. When the chain does not answer: the final state the index recorded, or
    "Unknown" (never a state name the governor does not have)."""
    try:
        (state,) = chain_checks.call_many(services, [services.contract("CityGovernor").functions.state(proposal_id)])
        return ProposalState(state).word
    except (Unavailable, RefusedByChain):
        known = _LIFECYCLE_STATES.get(lifecycle)
        return known.word if known is not None else UNKNOWN_STATE


class PastReads:
    """One request's reads of the chain at past moments (the governor's quorum at a snapshot, the card supply at a
    time). Answers about a final moment (before the final block's time: `Head.final_timestamp`) can never change:
    they come from and go into `services.past_values`; a reorg within that depth may change the others (a card
    revoked before the snapshot in the new branch), which are read for this request only, so no state the governor
    does not have is ever shown. `prefetch` reads what is missing in one batch (a page of the proposal list may
    need twenty quorums: one round trip instead of twenty)."""

    def __init__(self, services: Services, head: Head | None) -> None:
        self.services = services
        self.final_before = -1 if head is None else head.final_timestamp
        self.recent: dict[tuple[str, str, int], int] = {}

    def _known(self, key: tuple[str, str, int]) -> int | None:
        value = self.services.past_values.get(key)
        return value if value is not None else self.recent.get(key)

    def prefetch(self, wanted: list[tuple[str, str, int]]) -> None:
        """Read every (contract, function, timepoint) not known yet. Refusals are left out (`get` raises them)."""
        missing = list(dict.fromkeys(w for w in wanted if self._known(w) is None))
        if not missing:
            return
        answers = chain_checks.call_many(self.services, [getattr(self.services.contract(c).functions, f)(t)
                                                         for c, f, t in missing], refusals="return")
        for key, value in zip(missing, answers):
            if isinstance(value, RefusedByChain):
                continue
            if key[2] < self.final_before:
                self.services.past_values.put(key, value)
            else:
                self.recent[key] = value

    def get(self, contract: str, fn_name: str, timepoint: int) -> int:
        key = (contract, fn_name, timepoint)
        if self._known(key) is None:
            self.prefetch([key])
        value = self._known(key)
        if value is None:  # refused: ask again to raise the refusal
            fn = getattr(self.services.contract(contract).functions, fn_name)(timepoint)
            return chain_checks.call_many(self.services, [fn])[0]
        return value


def head_of(services: Services) -> Head | None:
    """The chain's head, read once per request (None when the chain does not answer)."""
    try:
        return chain_checks.head(services)
    except Unavailable:
        return None


def indexed_until(session, chain_id: int) -> int:
    """The time of the newest block the indexer has indexed (-1 before the first): every vote cast before it is
    in the tallies. The indexer keeps the header of its cursor's block."""
    cursor = session.get(IndexerCursor, chain_id)
    if cursor is None:
        return -1
    block = session.get(Block, (chain_id, cursor.block_number))
    return block.timestamp if block is not None else -1


def derived_state(services: Services, p: Proposal, tallies: dict[str, Any], head: Head | None, indexed_until: int,
                  past: PastReads) -> str:
    """The governor's state, derived from what the index knows and the head instead of an RPC per proposal.

    OpenZeppelin's `Governor.state` with the card's clock (seconds): Pending while the snapshot is not before the
    head's time, Active up to and including the deadline, then Defeated unless the quorum (the governor's own
    `quorum(snapshot)`, a fact about the past, cached) is reached by for + abstain and the vote succeeded (more for
    than against; town planning also more for than against among residents), else Succeeded. Canceled and
    executed are final once indexed. The governor stays the source of truth where the index cannot know: a queued
    proposal (the timelock may have executed or cancelled it since), a vote that ended after the newest block the
    indexer has seen (the tallies may be incomplete), a proposal made or ended within the last `confirmations`
    blocks (a reorg may still change it, and the indexer may not have seen the reorg yet), and whenever the chain
    does not answer (then what the indexer recorded).
    """
    if p.lifecycle == "canceled":
        return ProposalState.CANCELED.word
    if p.lifecycle == "executed":
        return ProposalState.EXECUTED.word
    if p.lifecycle != "created" or head is None or p.block_number > head.final_number:
        return live_state(services, p.proposal_id, p.lifecycle)  # (a proposal not final yet: the chain decides)
    if p.vote_start >= head.timestamp:
        return ProposalState.PENDING.word
    if p.vote_end >= head.timestamp:
        return ProposalState.ACTIVE.word
    if p.vote_end >= indexed_until or p.vote_end >= head.final_timestamp:
        return live_state(services, p.proposal_id, p.lifecycle)
    try:
        quorum = past.get("CityGovernor", "quorum", p.vote_start)
    except (Unavailable, RefusedByChain):
        return live_state(services, p.proposal_id, p.lifecycle)
    overall, residents = tallies["overall"], tallies["by_segment"][Segment.RESIDENT.word]
    reached = quorum <= overall["for"] + overall["abstain"]
    succeeded = overall["for"] > overall["against"] and (
        p.category != Category.TOWN_PLANNING or residents["for"] > residents["against"])
    return (ProposalState.SUCCEEDED if reached and succeeded else ProposalState.DEFEATED).word
