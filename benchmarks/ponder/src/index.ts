// One handler per event, doing what indexer/handlers.py + indexer/store.py do for the same event, so
// the benchmark compares like with like. Ours recomputes derived tables from the event rows of a batch;
// Ponder's idiom is to update them per event through its in-memory store (upserts with increments).
import { ponder } from "ponder:registry";
import {
  badgeBalance,
  badgeTransfer,
  badgeType,
  contractEvent,
  delegationChange,
  membershipCard,
  membershipEvent,
  outcome,
  proposal,
  proposalEvent,
  roleEvent,
  roleMember,
  tally,
  vote,
  votingPowerChange,
} from "ponder:schema";

import { CityGovernorAbi } from "../abis/CityGovernor";
import { CommunityBadgesAbi } from "../abis/CommunityBadges";
import { MembershipCardAbi } from "../abis/MembershipCard";
import { OutcomeRegistryAbi } from "../abis/OutcomeRegistry";
import { TimelockControllerAbi } from "../abis/TimelockController";

const ZERO = "0x0000000000000000000000000000000000000000";
const IPFS_URI = /ipfs:\/\/[A-Za-z0-9]+/;
const DOC_HASH = /document-hash:\s*(0x[0-9a-fA-F]{64})/;
const TALLY_COLUMN = ["against_votes", "for_votes", "abstain_votes"] as const;

// Loose types on purpose: the keep-whole handlers below are registered in a loop over the ABIs.
type AnyEvent = {
  args: Record<string, any>;
  log: { logIndex: number };
  block: { number: bigint };
  transaction: { hash: `0x${string}` };
};
type AnyContext = { db: any; chain: { id: number } };

const logKey = (event: AnyEvent, context: AnyContext) => ({
  chain_id: context.chain.id,
  tx_hash: event.transaction.hash,
  log_index: event.log.logIndex,
  block_number: Number(event.block.number),
});

// ---------------------------------------------------------------------- membership cards

ponder.on("MembershipCard:CardIssued", async ({ event, context }) => {
  const a = event.args;
  await context.db.insert(membershipEvent).values({
    ...logKey(event, context), kind: "issued", token_id: Number(a.tokenId), member: a.member,
    segment: a.segment, actor: a.issuer,
  });
  const card = {
    chain_id: context.chain.id, token_id: Number(a.tokenId), member: a.member, segment: a.segment,
    issuer: a.issuer, active: true, issued_block: Number(event.block.number), ended_block: null, ended_by: null,
  };
  await context.db.insert(membershipCard).values(card).onConflictDoUpdate(card);
});

async function cardEnded(event: AnyEvent, context: AnyContext, kind: "revoked" | "left", actor: string | null) {
  const a = event.args;
  await context.db.insert(membershipEvent).values({
    ...logKey(event, context), kind, token_id: Number(a.tokenId), member: a.member, segment: null, actor,
  });
  await context.db
    .update(membershipCard, { chain_id: context.chain.id, token_id: Number(a.tokenId) })
    .set({ active: false, ended_block: Number(event.block.number), ended_by: kind });
}

ponder.on("MembershipCard:CardRevoked", async ({ event, context }) => {
  await cardEnded(event, context, "revoked", event.args.revoker);
});

ponder.on("MembershipCard:CardLeft", async ({ event, context }) => {
  await cardEnded(event, context, "left", null);
});

ponder.on("MembershipCard:DelegateVotesChanged", async ({ event, context }) => {
  const a = event.args;
  await context.db.insert(votingPowerChange).values({
    ...logKey(event, context), account: a.delegate, previous_votes: Number(a.previousVotes),
    new_votes: Number(a.newVotes),
  });
});

ponder.on("MembershipCard:DelegateChanged", async ({ event, context }) => {
  const a = event.args;
  await context.db.insert(delegationChange).values({
    ...logKey(event, context), delegator: a.delegator, from_delegate: a.fromDelegate, to_delegate: a.toDelegate,
  });
});

// ---------------------------------------------------------------------- roles

async function roleChanged(event: AnyEvent, context: AnyContext, contract: string, granted: boolean) {
  const a = event.args;
  await context.db.insert(roleEvent).values({
    ...logKey(event, context), contract, role: a.role, account: a.account, sender: a.sender, granted,
  });
  const key = { chain_id: context.chain.id, contract, role: a.role, account: a.account };
  if (granted) {
    const row = { ...key, granted_block: Number(event.block.number) };
    await context.db.insert(roleMember).values(row).onConflictDoUpdate({ granted_block: row.granted_block });
  } else {
    await context.db.delete(roleMember, key);
  }
}

ponder.on("MembershipCard:RoleGranted", async ({ event, context }) => {
  await roleChanged(event, context, "MembershipCard", true);
});
ponder.on("MembershipCard:RoleRevoked", async ({ event, context }) => {
  await roleChanged(event, context, "MembershipCard", false);
});
ponder.on("TimelockController:RoleGranted", async ({ event, context }) => {
  await roleChanged(event, context, "TimelockController", true);
});
ponder.on("TimelockController:RoleRevoked", async ({ event, context }) => {
  await roleChanged(event, context, "TimelockController", false);
});

// ---------------------------------------------------------------------- badges

ponder.on("CommunityBadges:BadgeTypeCreated", async ({ event, context }) => {
  const a = event.args;
  await context.db.insert(badgeType).values({
    chain_id: context.chain.id, badge_type_id: Number(a.badgeTypeId), issuer: a.issuer, kind: a.kind,
    soulbound: a.soulbound, max_supply: Number(a.maxSupply), uri: a.uri, block_number: Number(event.block.number),
    tx_hash: event.transaction.hash, log_index: event.log.logIndex,
  });
});

async function addBalance(context: AnyContext, badgeTypeId: number, holder: string, delta: bigint) {
  const key = { chain_id: context.chain.id, badge_type_id: badgeTypeId, holder };
  const row = await context.db
    .insert(badgeBalance)
    .values({ ...key, balance: delta })
    .onConflictDoUpdate((current: { balance: bigint }) => ({ balance: current.balance + delta }));
  if (row.balance === 0n) await context.db.delete(badgeBalance, key); // ours keeps no zero rows
}

async function badgeMoved(event: AnyEvent, context: AnyContext, position: number, id: bigint, value: bigint) {
  const a = event.args;
  const badgeTypeId = Number(id);
  await context.db.insert(badgeTransfer).values({
    ...logKey(event, context), batch_index: position, badge_type_id: badgeTypeId, operator: a.operator,
    from_address: a.from, to_address: a.to, value,
  });
  if (a.from !== ZERO) await addBalance(context, badgeTypeId, a.from, -value);
  if (a.to !== ZERO) await addBalance(context, badgeTypeId, a.to, value);
}

ponder.on("CommunityBadges:TransferSingle", async ({ event, context }) => {
  await badgeMoved(event, context, 0, event.args.id, event.args.value);
});

ponder.on("CommunityBadges:TransferBatch", async ({ event, context }) => {
  const { ids, values } = event.args;
  if (ids.length !== values.length) {
    throw new Error(`TransferBatch in ${event.transaction.hash} has ${ids.length} ids but ${values.length} values`);
  }
  for (let i = 0; i < ids.length; i++) await badgeMoved(event, context, i, ids[i]!, values[i]!);
});

// ---------------------------------------------------------------------- governance

ponder.on("CityGovernor:ProposalCreated", async ({ event, context }) => {
  const a = event.args;
  const uri = IPFS_URI.exec(a.description);
  const docHash = DOC_HASH.exec(a.description);
  await context.db.insert(proposal).values({
    chain_id: context.chain.id, proposal_id: a.proposalId, proposer: a.proposer, targets: [...a.targets],
    values: a.values.map((v) => v.toString()), calldatas: [...a.calldatas], description: a.description,
    category: 0, document_uri: uri ? uri[0] : null, document_hash: docHash ? (docHash[1]!.toLowerCase() as `0x${string}`) : null,
    vote_start: Number(a.voteStart), vote_end: Number(a.voteEnd), eta: null, lifecycle: "created",
    block_number: Number(event.block.number), tx_hash: event.transaction.hash, log_index: event.log.logIndex,
  });
  await context.db.insert(proposalEvent).values({
    ...logKey(event, context), proposal_id: a.proposalId, kind: "created", eta: null,
  });
});

// Follows its ProposalCreated in the same transaction.
ponder.on("CityGovernor:ProposalCategorized", async ({ event, context }) => {
  await context.db
    .update(proposal, { chain_id: context.chain.id, proposal_id: event.args.proposalId })
    .set({ category: event.args.category });
});

async function lifecycle(event: AnyEvent, context: AnyContext, kind: string, eta: number | null) {
  const proposalId: bigint = event.args.proposalId;
  await context.db.insert(proposalEvent).values({ ...logKey(event, context), proposal_id: proposalId, kind, eta });
  await context.db
    .update(proposal, { chain_id: context.chain.id, proposal_id: proposalId })
    .set(kind === "queued" ? { lifecycle: kind, eta } : { lifecycle: kind });
}

ponder.on("CityGovernor:ProposalQueued", async ({ event, context }) => {
  await lifecycle(event, context, "queued", Number(event.args.etaSeconds));
});
ponder.on("CityGovernor:ProposalExecuted", async ({ event, context }) => {
  await lifecycle(event, context, "executed", null);
});
ponder.on("CityGovernor:ProposalCanceled", async ({ event, context }) => {
  await lifecycle(event, context, "canceled", null);
});

// SegmentVoteCounted precedes its VoteCast in the same transaction: (tx, proposal, voter) -> segment.
// Ponder runs events in log order, so an in-memory map carries it, as ours does within a batch.
const segments = new Map<string, number>();
const voteKey = (tx: string, proposalId: bigint, voter: string) => `${tx}|${proposalId}|${voter.toLowerCase()}`;

ponder.on("CityGovernor:SegmentVoteCounted", async ({ event }) => {
  const a = event.args;
  segments.set(voteKey(event.transaction.hash, a.proposalId, a.voter), a.segment);
});

async function voteCast(event: AnyEvent, context: AnyContext) {
  const a = event.args;
  const key = voteKey(event.transaction.hash, a.proposalId, a.voter);
  const segment = segments.get(key);
  if (segment === undefined) throw new Error(`VoteCast in ${event.transaction.hash} without its SegmentVoteCounted`);
  segments.delete(key);
  const weight = Number(a.weight);
  await context.db.insert(vote).values({
    ...logKey(event, context), proposal_id: a.proposalId, voter: a.voter, support: a.support, weight,
    reason: a.reason, segment,
  });
  const column = TALLY_COLUMN[a.support as 0 | 1 | 2];
  await context.db
    .insert(tally)
    .values({
      chain_id: context.chain.id, proposal_id: a.proposalId, segment,
      against_votes: 0, for_votes: 0, abstain_votes: 0, [column]: weight,
    })
    .onConflictDoUpdate((row: Record<string, number>) => ({ [column]: row[column]! + weight }));
}

ponder.on("CityGovernor:VoteCast", async ({ event, context }) => {
  await voteCast(event, context);
});
ponder.on("CityGovernor:VoteCastWithParams", async ({ event, context }) => {
  await voteCast(event, context);
});

ponder.on("OutcomeRegistry:OutcomePublished", async ({ event, context }) => {
  const a = event.args;
  await context.db.insert(outcome).values({
    ...logKey(event, context), proposal_id: a.proposalId, version: Number(a.version), status: a.status,
    report_uri: a.reportURI, content_hash: a.contentHash, publisher: a.publisher,
  });
});

// ---------------------------------------------------------------------- everything else: kept whole

// Integers beyond 2^53 do not survive JSON readers: keep them as decimal strings (as ours does).
function jsonable(value: unknown): unknown {
  if (typeof value === "bigint") {
    return value >= -(2n ** 53n) && value < 2n ** 53n ? Number(value) : value.toString();
  }
  if (Array.isArray(value)) return value.map(jsonable);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonable(v)]));
  }
  return value;
}

const HANDLED = new Set([
  "MembershipCard:CardIssued", "MembershipCard:CardRevoked", "MembershipCard:CardLeft",
  "MembershipCard:DelegateVotesChanged", "MembershipCard:DelegateChanged",
  "MembershipCard:RoleGranted", "MembershipCard:RoleRevoked",
  "TimelockController:RoleGranted", "TimelockController:RoleRevoked",
  "CommunityBadges:BadgeTypeCreated", "CommunityBadges:TransferSingle", "CommunityBadges:TransferBatch",
  "CityGovernor:ProposalCreated", "CityGovernor:ProposalCategorized", "CityGovernor:ProposalQueued",
  "CityGovernor:ProposalExecuted", "CityGovernor:ProposalCanceled", "CityGovernor:SegmentVoteCounted",
  "CityGovernor:VoteCast", "CityGovernor:VoteCastWithParams", "OutcomeRegistry:OutcomePublished",
]);

const ABIS: Record<string, readonly { type: string; name?: string }[]> = {
  MembershipCard: MembershipCardAbi,
  CommunityBadges: CommunityBadgesAbi,
  TimelockController: TimelockControllerAbi,
  CityGovernor: CityGovernorAbi,
  OutcomeRegistry: OutcomeRegistryAbi,
};

for (const [contract, abi] of Object.entries(ABIS)) {
  for (const item of abi) {
    if (item.type !== "event" || HANDLED.has(`${contract}:${item.name}`)) continue;
    const name = item.name!;
    (ponder.on as (key: string, fn: (args: { event: AnyEvent; context: AnyContext }) => Promise<void>) => void)(
      `${contract}:${name}`,
      async ({ event, context }) => {
        await context.db.insert(contractEvent).values({
          ...logKey(event, context), contract, event: name, args: jsonable(event.args ?? {}),
        });
      },
    );
  }
}
