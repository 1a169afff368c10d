"""What each event means for the database: one small handler per `(contract, event)`.

A handler receives the decoded log and appends rows to the batch; it never talks to the database. The store
(indexer/store.py) derives the current cards, badge balances, tallies, role members and proposal life cycle from
the rows that were new. Events without a handler are kept whole in `contract_event`.

Proposal descriptions follow backend/domain/proposal_description.py: the document's `ipfs://` URI and its
keccak-256 are the description's trailer, read from its end only (text a proposer typed cannot pose as it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from backend.domain import proposal_description
from backend.domain.json_values import jsonable
from backend.errors import KanazawaDaoError
from backend.models import chain as m

ZERO = "0x0000000000000000000000000000000000000000"


class InconsistentLogs(KanazawaDaoError):
    """The logs of a transaction do not fit together (for example a VoteCast without its SegmentVoteCounted)."""


@dataclass(frozen=True)
class Log:
    contract: str
    event: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int


@dataclass
class Batch:
    chain_id: int
    rows: dict[type, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # SegmentVoteCounted precedes its VoteCast in the same transaction: (tx, proposal, voter) -> segment
    _segments: dict[tuple[str, int, str], int] = field(default_factory=dict)
    # ProposalCategorized follows its ProposalCreated in the same transaction
    _created: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, model: type, log: Log, **values: Any) -> dict[str, Any]:
        row = {"chain_id": self.chain_id, "tx_hash": log.tx_hash, "log_index": log.log_index,
               "block_number": log.block_number, **values}
        self.rows[model].append(row)
        return row

    @property
    def event_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


Handler = Callable[[Batch, Log], None]


# ---------------------------------------------------------------------- membership cards


def card_issued(batch: Batch, log: Log) -> None:
    a = log.args
    batch.add(m.MembershipEvent, log, kind="issued", token_id=a["tokenId"], member=a["member"],
              segment=a["segment"], actor=a["issuer"])


def card_revoked(batch: Batch, log: Log) -> None:
    a = log.args
    batch.add(m.MembershipEvent, log, kind="revoked", token_id=a["tokenId"], member=a["member"], segment=None,
              actor=a["revoker"])


def card_left(batch: Batch, log: Log) -> None:
    a = log.args
    batch.add(m.MembershipEvent, log, kind="left", token_id=a["tokenId"], member=a["member"], segment=None, actor=None)


def voting_power_changed(batch: Batch, log: Log) -> None:
    a = log.args
    batch.add(m.VotingPowerChange, log, account=a["delegate"], previous_votes=a["previousVotes"],
              new_votes=a["newVotes"])


def delegation_changed(batch: Batch, log: Log) -> None:
    a = log.args
    batch.add(m.DelegationChange, log, delegator=a["delegator"], from_delegate=a["fromDelegate"],
              to_delegate=a["toDelegate"])


# ---------------------------------------------------------------------- roles


def role_changed(batch: Batch, log: Log) -> None:
    a = log.args
    batch.add(m.RoleEvent, log, contract=log.contract, role=a["role"], account=a["account"], sender=a["sender"],
              granted=log.event == "RoleGranted")


# ---------------------------------------------------------------------- badges


def badge_type_created(batch: Batch, log: Log) -> None:
    a = log.args
    batch.rows[m.BadgeType].append({
        "chain_id": batch.chain_id, "badge_type_id": a["badgeTypeId"], "issuer": a["issuer"], "kind": a["kind"],
        "soulbound": a["soulbound"], "max_supply": a["maxSupply"], "uri": a["uri"],
        "block_number": log.block_number, "tx_hash": log.tx_hash, "log_index": log.log_index,
    })


def _badge_moved(batch: Batch, log: Log, position: int, badge_type_id: int, value: int) -> None:
    a = log.args
    batch.add(m.BadgeTransfer, log, batch_index=position, badge_type_id=badge_type_id, operator=a["operator"],
              from_address=a["from"], to_address=a["to"], value=value)


def badge_transfer_single(batch: Batch, log: Log) -> None:
    _badge_moved(batch, log, 0, log.args["id"], log.args["value"])


def badge_transfer_batch(batch: Batch, log: Log) -> None:
    ids, values = log.args["ids"], log.args["values"]
    if len(ids) != len(values):
        raise InconsistentLogs(f"TransferBatch in {log.tx_hash} has {len(ids)} ids but {len(values)} values")
    for position, (badge_type_id, value) in enumerate(zip(ids, values)):
        _badge_moved(batch, log, position, badge_type_id, value)


# ---------------------------------------------------------------------- governance


def proposal_created(batch: Batch, log: Log) -> None:
    a = log.args
    description = a["description"]
    trailer = proposal_description.parse(description)
    row = {
        "chain_id": batch.chain_id, "proposal_id": a["proposalId"], "proposer": a["proposer"],
        "targets": a["targets"], "values": [str(v) for v in a["values"]], "calldatas": a["calldatas"],
        "description": description, "category": 0,
        "document_uri": trailer.document_uri, "document_hash": trailer.document_hash,
        "vote_start": a["voteStart"], "vote_end": a["voteEnd"], "eta": None, "lifecycle": "created",
        "block_number": log.block_number, "tx_hash": log.tx_hash, "log_index": log.log_index,
    }
    batch.rows[m.Proposal].append(row)
    batch._created[a["proposalId"]] = row
    batch.add(m.ProposalEvent, log, proposal_id=a["proposalId"], kind="created", eta=None)


def proposal_categorized(batch: Batch, log: Log) -> None:
    row = batch._created.get(log.args["proposalId"])
    if row is None:
        raise InconsistentLogs(f"ProposalCategorized in {log.tx_hash} without its ProposalCreated")
    row["category"] = log.args["category"]


def _proposal_lifecycle(kind: str) -> Handler:
    def handle(batch: Batch, log: Log) -> None:
        proposal_id = log.args["proposalId"]
        batch.add(m.ProposalEvent, log, proposal_id=proposal_id, kind=kind, eta=log.args.get("etaSeconds"))

    handle.__name__ = f"proposal_{kind}"
    return handle


def segment_vote_counted(batch: Batch, log: Log) -> None:
    a = log.args
    batch._segments[(log.tx_hash, a["proposalId"], a["voter"])] = a["segment"]


def vote_cast(batch: Batch, log: Log) -> None:
    a = log.args
    key = (log.tx_hash, a["proposalId"], a["voter"])
    segment = batch._segments.pop(key, None)
    if segment is None:
        raise InconsistentLogs(f"VoteCast in {log.tx_hash} without its SegmentVoteCounted")
    batch.add(m.Vote, log, proposal_id=a["proposalId"], voter=a["voter"], support=a["support"], weight=a["weight"],
              reason=a["reason"], segment=segment)


def outcome_published(batch: Batch, log: Log) -> None:
    a = log.args
    batch.add(m.Outcome, log, proposal_id=a["proposalId"], version=a["version"], status=a["status"],
              report_uri=a["reportURI"], content_hash=a["contentHash"], publisher=a["publisher"])


def keep_whole(batch: Batch, log: Log) -> None:
    batch.add(m.ContractEvent, log, contract=log.contract, event=log.event, args=jsonable(log.args))


#: The declarative map: (contract, event) -> handler. Anything else goes to `keep_whole`.
HANDLERS: dict[tuple[str, str], Handler] = {
    ("MembershipCard", "CardIssued"): card_issued,
    ("MembershipCard", "CardRevoked"): card_revoked,
    ("MembershipCard", "CardLeft"): card_left,
    ("MembershipCard", "DelegateVotesChanged"): voting_power_changed,
    ("MembershipCard", "DelegateChanged"): delegation_changed,
    ("MembershipCard", "RoleGranted"): role_changed,
    ("MembershipCard", "RoleRevoked"): role_changed,
    ("TimelockController", "RoleGranted"): role_changed,
    ("TimelockController", "RoleRevoked"): role_changed,
    ("CommunityBadges", "BadgeTypeCreated"): badge_type_created,
    ("CommunityBadges", "TransferSingle"): badge_transfer_single,
    ("CommunityBadges", "TransferBatch"): badge_transfer_batch,
    ("CityGovernor", "ProposalCreated"): proposal_created,
    ("CityGovernor", "ProposalCategorized"): proposal_categorized,
    ("CityGovernor", "ProposalQueued"): _proposal_lifecycle("queued"),
    ("CityGovernor", "ProposalExecuted"): _proposal_lifecycle("executed"),
    ("CityGovernor", "ProposalCanceled"): _proposal_lifecycle("canceled"),
    ("CityGovernor", "SegmentVoteCounted"): segment_vote_counted,
    ("CityGovernor", "VoteCast"): vote_cast,
    ("CityGovernor", "VoteCastWithParams"): vote_cast,
    ("OutcomeRegistry", "OutcomePublished"): outcome_published,
}


def handler_for(contract: str, event: str) -> Handler:
    return HANDLERS.get((contract, event), keep_whole)
