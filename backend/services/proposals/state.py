"""A proposal's state: derived from the index and the head where that is final, asked of the governor where
it is not; and reads of the chain at past blocks, cached once final."""

from __future__ import annotations

from typing import Any

from backend.chain.jsonrpc import JsonRpcUnavailable
from backend.domain.vocabulary import Category, ProposalState, Segment
from backend.models.chain import IndexerCursor, Proposal
from backend.services import chain_checks
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
    """One request's reads of the chain at past blocks (the governor's quorum at a snapshot, the card supply at a
    block). Answers about a final block (at least `confirmations` below the head) can never change: they come from
    and go into `services.past_values`; a reorg within that depth may change the others (a card revoked before the
    snapshot in the new branch), which are read for this request only, so no state the governor does not have is
    ever shown. `prefetch` reads what is missing in one batch (a page of the proposal list may need twenty
    quorums: one round trip instead of twenty)."""

    def __init__(self, services: Services, head: int | None) -> None:
        self.services = services
        self.final_to = -1 if head is None else head - max(1, services.settings.confirmations)
        self.recent: dict[tuple[str, str, int], int] = {}

    def _key(self, contract: str, fn_name: str, block: int) -> tuple[str, str, int]:
        return (contract, fn_name, block)

    def _known(self, key: tuple[str, str, int]) -> int | None:
        value = self.services.past_values.get(key)
        return value if value is not None else self.recent.get(key)

    def prefetch(self, wanted: list[tuple[str, str, int]]) -> None:
        """Read every (contract, function, block) not known yet. Refusals are left out (`get` raises them)."""
        missing = list(dict.fromkeys(w for w in wanted if self._known(self._key(*w)) is None))
        if not missing:
            return
        answers = chain_checks.call_many(self.services, [getattr(self.services.contract(c).functions, f)(b)
                                                         for c, f, b in missing], refusals="return")
        for (contract, fn_name, block), value in zip(missing, answers):
            if isinstance(value, RefusedByChain):
                continue
            key = self._key(contract, fn_name, block)
            if block <= self.final_to:
                self.services.past_values.put(key, value)
            else:
                self.recent[key] = value

    def get(self, contract: str, fn_name: str, block: int) -> int:
        key = self._key(contract, fn_name, block)
        if self._known(key) is None:
            self.prefetch([(contract, fn_name, block)])
        value = self._known(key)
        if value is None:  # refused: ask again to raise the refusal
            fn = getattr(self.services.contract(contract).functions, fn_name)(block)
            return chain_checks.call_many(self.services, [fn])[0]
        return value


def head_of(services: Services) -> int | None:
    """The chain's current block, read once per request (None when the chain does not answer), through the cheap
    reader: web3's `eth.block_number` costs more than the answer."""
    try:
        return int(services.chain.rpc.call("eth_blockNumber"), 16)
    except (Unavailable, JsonRpcUnavailable, TypeError, ValueError):  # no chain client, no answer, not a number
        return None


def indexed_to(session, chain_id: int) -> int:
    cursor = session.get(IndexerCursor, chain_id)
    return cursor.block_number if cursor is not None else -1


def derived_state(services: Services, p: Proposal, tallies: dict[str, Any], head: int | None, indexed_to: int,
           past: PastReads) -> str:
    """The governor's state, derived from what the index knows and the head instead of an RPC per proposal.

    OpenZeppelin's `Governor.state` with the block number as clock: Pending while the snapshot is not below the
    head, Active up to and including the deadline, then Defeated unless the quorum (the governor's own
    `quorum(snapshot)`, a fact about the past, cached) is reached by for + abstain and the vote succeeded (more for
    than against; town planning also more for than against among residents), else Succeeded. Canceled and
    executed are final once indexed. The governor stays the source of truth where the index cannot know: a queued
    proposal (the timelock may have executed or cancelled it since), a vote that ended above what the indexer has
    seen (the tallies may be incomplete), a proposal made or ended within the last `confirmations` blocks (a reorg
    may still change it, and the indexer may not have seen the reorg yet), and whenever the chain does not answer
    (then what the indexer recorded).
    """
    if p.lifecycle == "canceled":
        return ProposalState.CANCELED.word
    if p.lifecycle == "executed":
        return ProposalState.EXECUTED.word
    if p.lifecycle != "created" or head is None or p.block_number > past.final_to:
        return live_state(services, p.proposal_id, p.lifecycle)  # (a proposal not final yet: the chain decides)
    if p.vote_start >= head:
        return ProposalState.PENDING.word
    if p.vote_end >= head:
        return ProposalState.ACTIVE.word
    if p.vote_end > indexed_to or p.vote_end > past.final_to:
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


