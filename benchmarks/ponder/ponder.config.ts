// Ponder config for the side-by-side benchmark: everything comes from the environment, which
// scripts/bench_ponder.py sets from the deployment manifest (see README.md).
import { createConfig } from "ponder";

import { CityGovernorAbi } from "./abis/CityGovernor";
import { CommunityBadgesAbi } from "./abis/CommunityBadges";
import { MembershipCardAbi } from "./abis/MembershipCard";
import { OutcomeRegistryAbi } from "./abis/OutcomeRegistry";
import { TimelockControllerAbi } from "./abis/TimelockController";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

const address = (name: string) => env(name) as `0x${string}`;
const startBlock = Number(env("PONDER_START_BLOCK"));
// Unset: follow the head. The benchmark sets it, so every source stops at the same block as ours.
const endBlock = process.env.PONDER_END_BLOCK ? Number(process.env.PONDER_END_BLOCK) : undefined;
const range = { chain: "anvil", startBlock, endBlock } as const;
// Ponder throttles each RPC URL adaptively, from 20 requests/s up (node_modules/ponder/src/rpc/index.ts).
// PONDER_RPC_FANOUT=n lists the URL n times (n buckets, n x the throttle), to see Ponder without it.
// Unset or 1: Ponder as shipped, which is what the benchmark reports.
const rpcUrl = env("PONDER_RPC_URL");
const fanout = Number(process.env.PONDER_RPC_FANOUT ?? 1);

export default createConfig({
  database: { kind: "postgres", connectionString: env("DATABASE_URL") },
  chains: {
    anvil: {
      id: Number(process.env.PONDER_CHAIN_ID ?? 31337),
      rpc: fanout > 1 ? Array.from({ length: fanout }, () => rpcUrl) : rpcUrl,
      // anvil reuses chain id 31337 for unrelated chains: never serve RPC results from ponder_sync.
      disableCache: true,
      pollingInterval: Number(process.env.PONDER_POLLING_INTERVAL_MS ?? 100),
    },
  },
  contracts: {
    MembershipCard: { abi: MembershipCardAbi, address: address("PONDER_CARD_ADDRESS"), ...range },
    CommunityBadges: { abi: CommunityBadgesAbi, address: address("PONDER_BADGES_ADDRESS"), ...range },
    TimelockController: { abi: TimelockControllerAbi, address: address("PONDER_TIMELOCK_ADDRESS"), ...range },
    CityGovernor: { abi: CityGovernorAbi, address: address("PONDER_GOVERNOR_ADDRESS"), ...range },
    OutcomeRegistry: { abi: OutcomeRegistryAbi, address: address("PONDER_OUTCOMES_ADDRESS"), ...range },
  },
});
