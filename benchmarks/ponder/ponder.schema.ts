// The tables of backend/models/chain.py, one for one (same names, columns, keys and indexes), so Ponder
// writes what our indexer writes. Ponder keeps its own progress (_ponder_checkpoint) and its raw-data
// store (schema ponder_sync): there is no indexer_cursor or block table here.
import { index, onchainTable, primaryKey, uniqueIndex } from "ponder";

// (chain_id, tx_hash, log_index) + block_number: the identity of the log a row came from.
const logKey = (t: any) => ({
  chain_id: t.integer().notNull(),
  tx_hash: t.hex().notNull(),
  log_index: t.integer().notNull(),
  block_number: t.int8({ mode: "number" }).notNull(),
});
const logPk = (table: any) => primaryKey({ columns: [table.chain_id, table.tx_hash, table.log_index] });

// ---------------------------------------------------------------------- membership cards

export const membershipEvent = onchainTable(
  "membership_event",
  (t) => ({
    ...logKey(t),
    kind: t.text().notNull(), // issued | revoked | left
    token_id: t.int8({ mode: "number" }).notNull(),
    member: t.hex().notNull(),
    segment: t.smallint(),
    actor: t.hex(), // issuer (issued) or revoker (revoked)
  }),
  (table) => ({
    pk: logPk(table),
    blockIdx: index().on(table.block_number),
    tokenIdx: index().on(table.token_id),
    memberIdx: index().on(table.member),
  }),
);

export const membershipCard = onchainTable(
  "membership_card",
  (t) => ({
    chain_id: t.integer().notNull(),
    token_id: t.int8({ mode: "number" }).notNull(),
    member: t.hex().notNull(),
    segment: t.smallint().notNull(),
    issuer: t.hex().notNull(),
    active: t.boolean().notNull(),
    issued_block: t.int8({ mode: "number" }).notNull(),
    ended_block: t.int8({ mode: "number" }),
    ended_by: t.text(), // revoked | left
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.chain_id, table.token_id] }),
    memberIdx: index().on(table.member),
    segmentIdx: index().on(table.segment),
    issuerIdx: index().on(table.issuer),
    activeIdx: index().on(table.active),
  }),
);

export const votingPowerChange = onchainTable(
  "voting_power_change",
  (t) => ({
    ...logKey(t),
    account: t.hex().notNull(),
    previous_votes: t.int8({ mode: "number" }).notNull(),
    new_votes: t.int8({ mode: "number" }).notNull(),
  }),
  (table) => ({
    pk: logPk(table),
    blockIdx: index().on(table.block_number),
    accountIdx: index().on(table.account),
  }),
);

export const delegationChange = onchainTable(
  "delegation_change",
  (t) => ({
    ...logKey(t),
    delegator: t.hex().notNull(),
    from_delegate: t.hex().notNull(),
    to_delegate: t.hex().notNull(),
  }),
  (table) => ({
    pk: logPk(table),
    blockIdx: index().on(table.block_number),
    delegatorIdx: index().on(table.delegator),
  }),
);

// ---------------------------------------------------------------------- badges

export const badgeType = onchainTable(
  "badge_type",
  (t) => ({
    chain_id: t.integer().notNull(),
    badge_type_id: t.int8({ mode: "number" }).notNull(),
    issuer: t.hex().notNull(),
    kind: t.smallint().notNull(), // 0 attendance, 1 cultural work, 2 perk
    soulbound: t.boolean().notNull(),
    max_supply: t.int8({ mode: "number" }).notNull(), // 0 = unlimited
    uri: t.text().notNull(),
    block_number: t.int8({ mode: "number" }).notNull(),
    tx_hash: t.hex().notNull(),
    log_index: t.integer().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.chain_id, table.badge_type_id] }),
    issuerIdx: index().on(table.issuer),
  }),
);

export const badgeTransfer = onchainTable(
  "badge_transfer",
  (t) => ({
    ...logKey(t),
    batch_index: t.integer().notNull(),
    badge_type_id: t.int8({ mode: "number" }).notNull(),
    operator: t.hex().notNull(),
    from_address: t.hex().notNull(),
    to_address: t.hex().notNull(),
    value: t.bigint().notNull(), // numeric(78): uint256
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.chain_id, table.tx_hash, table.log_index, table.batch_index] }),
    blockIdx: index().on(table.block_number),
    typeIdx: index().on(table.badge_type_id),
    fromIdx: index().on(table.from_address),
    toIdx: index().on(table.to_address),
  }),
);

export const badgeBalance = onchainTable(
  "badge_balance",
  (t) => ({
    chain_id: t.integer().notNull(),
    badge_type_id: t.int8({ mode: "number" }).notNull(),
    holder: t.hex().notNull(),
    balance: t.int8({ mode: "bigint" }).notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.chain_id, table.badge_type_id, table.holder] }),
  }),
);

// ---------------------------------------------------------------------- governance

export const proposal = onchainTable(
  "proposal",
  (t) => ({
    chain_id: t.integer().notNull(),
    proposal_id: t.bigint().notNull(),
    proposer: t.hex().notNull(),
    targets: t.json().$type<string[]>().notNull(),
    values: t.json().$type<string[]>().notNull(), // decimal strings
    calldatas: t.json().$type<string[]>().notNull(),
    description: t.text().notNull(),
    category: t.smallint().notNull(), // 0 culture, 1 town planning
    document_uri: t.text(),
    document_hash: t.hex(),
    vote_start: t.int8({ mode: "number" }).notNull(),
    vote_end: t.int8({ mode: "number" }).notNull(),
    eta: t.int8({ mode: "number" }),
    lifecycle: t.text().notNull(), // created | queued | executed | canceled
    block_number: t.int8({ mode: "number" }).notNull(),
    tx_hash: t.hex().notNull(),
    log_index: t.integer().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.chain_id, table.proposal_id] }),
    proposerIdx: index().on(table.proposer),
    categoryIdx: index().on(table.category),
    lifecycleIdx: index().on(table.lifecycle),
    blockIdx: index().on(table.block_number),
  }),
);

export const proposalEvent = onchainTable(
  "proposal_event",
  (t) => ({
    ...logKey(t),
    proposal_id: t.bigint().notNull(),
    kind: t.text().notNull(),
    eta: t.int8({ mode: "number" }),
  }),
  (table) => ({
    pk: logPk(table),
    blockIdx: index().on(table.block_number),
    proposalIdx: index().on(table.proposal_id),
  }),
);

export const vote = onchainTable(
  "vote",
  (t) => ({
    ...logKey(t),
    proposal_id: t.bigint().notNull(),
    voter: t.hex().notNull(),
    support: t.smallint().notNull(), // 0 against, 1 for, 2 abstain
    weight: t.int8({ mode: "number" }).notNull(),
    reason: t.text().notNull(),
    segment: t.smallint().notNull(),
  }),
  (table) => ({
    pk: logPk(table),
    blockIdx: index().on(table.block_number),
    proposalIdx: index().on(table.proposal_id),
    voterIdx: index().on(table.voter),
  }),
);

export const tally = onchainTable(
  "tally",
  (t) => ({
    chain_id: t.integer().notNull(),
    proposal_id: t.bigint().notNull(),
    segment: t.smallint().notNull(),
    against_votes: t.int8({ mode: "number" }).notNull(),
    for_votes: t.int8({ mode: "number" }).notNull(),
    abstain_votes: t.int8({ mode: "number" }).notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.chain_id, table.proposal_id, table.segment] }),
  }),
);

export const outcome = onchainTable(
  "outcome",
  (t) => ({
    ...logKey(t),
    proposal_id: t.bigint().notNull(),
    version: t.integer().notNull(),
    status: t.smallint().notNull(), // 1 adopted .. 5 abandoned
    report_uri: t.text().notNull(),
    content_hash: t.hex().notNull(),
    publisher: t.hex().notNull(),
  }),
  (table) => ({
    pk: logPk(table),
    blockIdx: index().on(table.block_number),
    proposalVersionIdx: uniqueIndex().on(table.chain_id, table.proposal_id, table.version),
  }),
);

// ---------------------------------------------------------------------- roles

export const roleEvent = onchainTable(
  "role_event",
  (t) => ({
    ...logKey(t),
    contract: t.text().notNull(),
    role: t.hex().notNull(),
    account: t.hex().notNull(),
    sender: t.hex().notNull(),
    granted: t.boolean().notNull(),
  }),
  (table) => ({
    pk: logPk(table),
    blockIdx: index().on(table.block_number),
    accountIdx: index().on(table.account),
  }),
);

export const roleMember = onchainTable(
  "role_member",
  (t) => ({
    chain_id: t.integer().notNull(),
    contract: t.text().notNull(),
    role: t.hex().notNull(),
    account: t.hex().notNull(),
    granted_block: t.int8({ mode: "number" }).notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.chain_id, table.contract, table.role, table.account] }),
  }),
);

// Events without a table of their own (ERC-721 Transfer, Locked, timelock calls, settings changes, ...),
// kept whole with their decoded arguments, as our `keep_whole` handler does.
export const contractEvent = onchainTable(
  "contract_event",
  (t) => ({
    ...logKey(t),
    contract: t.text().notNull(),
    event: t.text().notNull(),
    args: t.json().notNull(),
  }),
  (table) => ({
    pk: logPk(table),
    blockIdx: index().on(table.block_number),
    contractIdx: index().on(table.contract),
    eventIdx: index().on(table.event),
  }),
);
