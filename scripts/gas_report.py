"""Gas report: our contracts against plain OpenZeppelin 5.x baselines, like for like, in one run on a fresh anvil.

Usage: `.venv/bin/python -m scripts.gas_report [--json]`. The table goes to stdout, progress to stderr.

How it measures:
  - One fresh anvil on a free port, stopped at the end. Our contracts are deployed with `deploy_all`; the baseline is
    OpenZeppelin's wizard token (`BaselineVotesToken`: ERC721 + ERC721Votes, owner-only `mint`, no auto-delegation)
    and wizard governor (`BaselineGovernor`: Governor + Settings + CountingSimple + Votes + QuorumFraction +
    TimelockControl) with OpenZeppelin's `TimelockController`, wired like ours (governor proposes and cancels,
    anyone executes, the deployer renounces the admin role), with the same governance settings. Both are compiled
    by `compile_contracts` with the same solc-js, optimizer and EVM version.
  - Every figure is a receipt's `gasUsed` (so it includes the 21,000 intrinsic gas and the calldata).
  - Steady state: the first-ever mint, ballot or proposal on a fresh contract pays for fresh global storage (a
    counter, a bitmap word, a tally slot). Each action is therefore measured on its 5th occurrence, after 4 identical
    warm-up operations on each side: the 5th card and the 5th token mint + delegate, the 5th ballot on a proposal,
    the 5th proposal, queue and execute, the 5th single-recipient badge mint of a type, the 5th outcome.
  - Both governors get the same proposals (targets, values, calldatas, description), so the proposal ids, the
    calldata and the event data are identical; the executed action is the same empty call to an EOA.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from backend.chain import eip712
from backend.chain.accounts import dev_account
from backend.chain.artifacts import Artifact, load_artifacts
from backend.chain.client import ChainClient
from backend.chain.deploy import ZERO_ADDRESS, DeploymentParams, deploy_all
from backend.domain.vocabulary import ChainRole
from backend.paths import REPO_ROOT
from backend.toolchain import npm as toolchain
from backend.toolchain.anvil import free_port, start_anvil
from backend.toolchain.compile import EVM_VERSION, OPTIMIZER_RUNS, build_artifacts
from backend.toolchain.dao import (CULTURE, FOR, ORGANISATION, RELATIONSHIP_POPULATION, RESIDENT, TOWN_PLANNING, Dao,
                                   Proposal)
from backend.toolchain.software_passkey import SoftwarePasskey

BASELINE_DIR = REPO_ROOT / "benchmarks" / "baseline"
BASELINE_BUILD_DIR = BASELINE_DIR / "build"
REPRODUCE = ".venv/bin/python -m scripts.gas_report"

#: Operations of the same kind done on each side before the measured one (which is the WARMUP + 1-th).
WARMUP = 4
#: Governance actions must stay within this factor of the OpenZeppelin baseline.
GOVERNANCE_LIMIT = 1.10
#: Per-recipient cost of a 100-recipient badge mint, as a fraction of a 1-recipient mint, must stay under this.
BADGE_BATCH_LIMIT = 0.30
BADGE_BATCH = 100
#: A passkey member's ballot (P-256 signature checked by the precompile) may cost at most this much more than an
#: EOA's: the WebAuthn assertion carries the authenticator data and the client data JSON, and the account is asked
#: by ERC-1271.
PASSKEY_LIMIT = 1.30
#: A hardfork before the P-256 precompile (EIP-7951 / RIP-7212 at 0x100): anvil's default has it, prague does not.
NO_PRECOMPILE_HARDFORK = "prague"

#: Governance settings of both sides (seconds): an hour of voting leaves room for every warm-up ballot however slow
#: the machine; no setting changes the gas of the measured operations.
PARAMS = DeploymentParams(voting_delay=1, voting_period=3600, proposal_threshold=0, quorum_percent=10,
                          timelock_delay=60)

#: The executed action on both sides: an empty call to an address without code.
ACTION_TARGET = Web3.to_checksum_address(Web3.keccak(text="kanazawa-dao gas report: empty call")[12:])
REPORT_URI = "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
BADGE_URI = "ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
KIND_ATTENDANCE, KIND_PERK = 0, 2
IMPLEMENTED = 4
#: Invitation expiry: fixed (2100-01-01), so the signed invitation, hence the claim's calldata, is the same every run.
INVITATION_EXPIRY = 4_102_444_800


@dataclass
class Row:
    """One line of the report. `ratio` is ours / baseline, except for the badge batch rows, where it is the
    per-recipient cost over a 1-recipient mint of the same type (what that goal is about). `met` is None when the row
    has no goal; `exempt` rows show their goal but are not held to it."""

    key: str
    action: str
    ours: int | None
    baseline: int | None = None
    ratio: float | None = None
    goal: str = "-"
    met: bool | None = None
    exempt: bool = False
    parts: dict[str, int] = field(default_factory=dict)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _gas(receipt: TxReceipt) -> int:
    return int(receipt["gasUsed"])


def _account(label: str, index: int) -> LocalAccount:
    """A fixed account per (label, index): random addresses would make calldata costs (zero bytes) vary by a few gas
    from run to run; these keep the report byte-for-byte reproducible."""
    return Account.from_key(Web3.keccak(text=f"kanazawa-dao gas report: {label} {index}"))


# ---------------------------------------------------------------------- the baseline side


def load_baseline_artifacts() -> dict[str, Artifact]:
    """The OpenZeppelin baseline contracts (benchmarks/baseline/), compiled (when stale) into its build/."""
    return build_artifacts(BASELINE_DIR, BASELINE_BUILD_DIR)


class Baseline:
    """The OpenZeppelin wizard token + governor + TimelockController, driven the way our `Dao` drives ours."""

    def __init__(self, client: ChainClient, owner: LocalAccount, params: DeploymentParams) -> None:
        self.client = client
        self.owner = owner
        artifacts = load_baseline_artifacts()
        client.add_abis([a.abi for a in artifacts.values()])
        self.token, _ = artifacts["BaselineVotesToken"].deploy(client, owner, owner.address)
        timelock_artifact = load_artifacts()["TimelockController"]  # OpenZeppelin's, the very bytecode we deploy
        self.timelock, _ = timelock_artifact.deploy(client, owner, params.timelock_delay, [], [ZERO_ADDRESS], owner.address)
        self.governor, _ = artifacts["BaselineGovernor"].deploy(
            client, owner, self.token.address, self.timelock.address, params.voting_delay, params.voting_period,
            params.proposal_threshold, params.quorum_percent,
        )
        for role_name in ("PROPOSER_ROLE", "CANCELLER_ROLE"):
            role = getattr(self.timelock.functions, role_name)().call()
            client.transact(self.timelock.functions.grantRole(role, self.governor.address), owner)
        client.transact(self.timelock.functions.renounceRole(ChainRole.DEFAULT_ADMIN_ROLE.id_bytes, owner.address), owner)

    def mint(self, to: str) -> TxReceipt:
        return self.client.transact(self.token.functions.mint(to), self.owner)

    def delegate(self, holder: LocalAccount) -> TxReceipt:
        return self.client.transact(self.token.functions.delegate(holder.address), holder)


# ---------------------------------------------------------------------- proposals on either governor


@dataclass(frozen=True)
class ProposalSpec:
    description: str
    targets: tuple[str, ...] = (ACTION_TARGET,)
    values: tuple[int, ...] = (0,)
    calldatas: tuple[bytes, ...] = (b"",)

    @property
    def description_hash(self) -> bytes:
        return Web3.keccak(text=self.description)

    def args(self) -> tuple[list, list, list]:
        return list(self.targets), list(self.values), list(self.calldatas)

    def proposal_id(self, governor: Contract) -> int:
        return governor.functions.hashProposal(*self.args(), self.description_hash).call()


def propose(client: ChainClient, governor: Contract, spec: ProposalSpec, sender: LocalAccount,
            category: int | None = None) -> TxReceipt:
    """`propose` when `category` is None, else `proposeWithCategory` (ours only)."""
    if category is None:
        fn = governor.functions.propose(*spec.args(), spec.description)
    else:
        fn = governor.functions.proposeWithCategory(*spec.args(), spec.description, category)
    return client.transact(fn, sender)


def cast_vote(client: ChainClient, governor: Contract, spec: ProposalSpec, voter: LocalAccount, support: int) -> TxReceipt:
    return client.transact(governor.functions.castVote(spec.proposal_id(governor), support), voter)


def cast_vote_by_sig(client: ChainClient, governor: Contract, spec: ProposalSpec, voter: LocalAccount, support: int,
                     relayer: LocalAccount) -> TxReceipt:
    proposal_id = spec.proposal_id(governor)
    _msg, signature = eip712.sign_ballot(governor, voter, proposal_id=proposal_id, support=support)
    return client.transact(governor.functions.castVoteBySig(proposal_id, support, voter.address, signature), relayer)


def queue(client: ChainClient, governor: Contract, spec: ProposalSpec, sender: LocalAccount) -> TxReceipt:
    return client.transact(governor.functions.queue(*spec.args(), spec.description_hash), sender)


def execute(client: ChainClient, governor: Contract, spec: ProposalSpec, sender: LocalAccount) -> TxReceipt:
    return client.transact(governor.functions.execute(*spec.args(), spec.description_hash), sender)


def _mine_past(dao: Dao, timepoints: list[int]) -> None:
    """One block after every given moment (snapshots, deadlines: the clocks count seconds)."""
    dao.advance_to(max(timepoints) + 1)


# ---------------------------------------------------------------------- rows


def _versus(key: str, action: str, ours: int, baseline: int, goal: str, limit: float | None, *,
            strict_less: bool = False, exempt: bool = False, parts: dict[str, int] | None = None) -> Row:
    ratio = ours / baseline
    if strict_less:
        met: bool | None = ours < baseline
    elif limit is not None:
        met = ratio <= limit
    else:
        met = None
    return Row(key, action, ours, baseline, ratio, goal, met, exempt, parts or {})


def _batch_row(key: str, action: str, total: int, single: int, *, exempt: bool = False) -> Row:
    per_recipient = round(total / BADGE_BATCH)
    ratio = total / BADGE_BATCH / single
    goal = f"per recipient < {BADGE_BATCH_LIMIT:.0%} of a 1-recipient mint"
    if exempt:
        # A transferable badge needs one ERC-1155 balance slot per holder: the 20,000-gas write alone is above 30 %
        # of a single mint. The goal is for event airdrops, which are soulbound attendance badges.
        goal += " (exempt: one new balance slot per holder)"
    return Row(key, action, total, None, ratio, goal, ratio < BADGE_BATCH_LIMIT, exempt=exempt,
               parts={"per_recipient": per_recipient, "single_mint": single, "recipients": BADGE_BATCH})


# ---------------------------------------------------------------------- the measurement


def measure(*, log: Callable[[str], None] = _say) -> list[Row]:
    """Start a fresh anvil, deploy both sides, measure every row, stop anvil; then the passkey ballot again on a
    chain without the P-256 precompile. Deterministic: same input, same gas."""
    anvil = start_anvil(free_port())
    log(f"anvil started on {anvil.rpc_url}")
    try:
        rows = _measure(ChainClient.connect(anvil.rpc_url), log)
    finally:
        anvil.stop()
        log("anvil stopped")
    anvil = start_anvil(free_port(), extra_args=["--hardfork", NO_PRECOMPILE_HARDFORK])
    log(f"anvil ({NO_PRECOMPILE_HARDFORK}: no P-256 precompile) started on {anvil.rpc_url}")
    try:
        rows.append(_measure_without_precompile(ChainClient.connect(anvil.rpc_url), log))
    finally:
        anvil.stop()
        log("anvil stopped")
    return _ordered(rows)


def _measure_without_precompile(client: ChainClient, log: Callable[[str], None]) -> Row:
    """The 5th passkey ballot vs the 5th EOA ballot where P-256 is checked in Solidity (OpenZeppelin's fallback):
    some chains lack the precompile."""
    _one_second_per_block(client)
    dao = Dao(client, deploy_all(client, dev_account(0), PARAMS))
    dao.grant_issuer(dao.issuer)
    n = WARMUP + 1
    voters = [_account("no-precompile member", i) for i in range(n)]
    for voter in voters:
        client.transact(dao.card.functions.issue(voter.address, RESIDENT), dao.issuer)
    passkeys = [dao.join_with_passkey(RESIDENT, SoftwarePasskey.from_label(f"gas report passkey {i}"), nonce=100 + i)
                for i in range(n)]
    eoa_spec, passkey_spec = ProposalSpec("Gas report: EOA ballots"), ProposalSpec("Gas report: passkey ballots")
    for spec in (eoa_spec, passkey_spec):
        propose(client, dao.governor, spec, dao.relayer, CULTURE)
    _mine_past(dao, [dao.governor.functions.proposalSnapshot(s.proposal_id(dao.governor)).call()
                     for s in (eoa_spec, passkey_spec)])
    for voter in voters:
        eoa = cast_vote_by_sig(client, dao.governor, eoa_spec, voter, FOR, dao.relayer)
    proposal = Proposal(passkey_spec.proposal_id(dao.governor), *passkey_spec.args(), passkey_spec.description,
                        passkey_spec.description_hash)
    for passkey, account, _ in passkeys:
        ballot = dao.vote_by_passkey(proposal, passkey, account, FOR)
    log(f"without the precompile: passkey castVoteBySig {_gas(ballot):,} vs EOA {_gas(eoa):,}")
    return _versus("cast_vote_by_sig_passkey_no_precompile", "castVoteBySig by a passkey account (5th voter, "
                   f"relayed, no P-256 precompile: anvil --hardfork {NO_PRECOMPILE_HARDFORK})", _gas(ballot), _gas(eoa),
                   "- (reported: some chains lack the precompile)", None)


def _one_second_per_block(client: ChainClient) -> None:
    """Every block a second after the last, whatever the wall clock does: the card's clock is the block time, and a
    card issued in the same second as the one before shares its supply checkpoint (a cheaper write), so without
    this the figures would depend on how fast the machine is. One action a second is also what a city sees."""
    client.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])


def _measure(client: ChainClient, log: Callable[[str], None]) -> list[Row]:
    _one_second_per_block(client)
    city = dev_account(0)
    deployment = deploy_all(client, city, PARAMS)
    dao = Dao(client, deployment)
    dao.grant_issuer(dao.issuer)
    base = Baseline(client, city, PARAMS)
    relayer, issuer = dao.relayer, dao.issuer
    log("deployed our contracts (deploy_all) and the OpenZeppelin baseline (token, timelock, governor)")
    rows: list[Row] = []
    n = WARMUP + 1

    # -- cards: our 5th card issued vs the baseline's 5th token minted + delegated; then our 10th card (the 5th claim)
    # vs the baseline's 10th token, so that both sides also hold the same number of cards and supply checkpoints
    issue_segments = [RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION, RESIDENT, RESIDENT]
    ours_voters: list[LocalAccount] = []
    for i, segment in enumerate(issue_segments):
        member = _account("member", i)
        dao.fund(member)  # they cast votes themselves below; funding is not measured
        issued = client.transact(dao.card.functions.issue(member.address, segment), issuer)
        ours_voters.append(member)
    # Claims: nonces 1..5 of one issuer, so the measured claim's nonce lands in an already-used bitmap word.
    claim_segments = [RELATIONSHIP_POPULATION, RESIDENT, ORGANISATION, RELATIONSHIP_POPULATION, RELATIONSHIP_POPULATION]
    for nonce, segment in enumerate(claim_segments, start=1):
        invitation, signature = dao.invitation(_account("invitee", nonce).address, segment, nonce=nonce,
                                               expiry=INVITATION_EXPIRY)
        claimed = dao.claim(invitation, signature)
    # Passkey members: 5 accounts created and their cards claimed, one transaction each (the 5th measured).
    passkey_voters = []
    for i in range(n):
        passkey = SoftwarePasskey.from_label(f"gas report passkey {i}")
        _, account, joined = dao.join_with_passkey(RESIDENT, passkey, nonce=100 + i)
        passkey_voters.append((passkey, account))
    base_holders: list[LocalAccount] = []
    base_card: list[tuple[int, int]] = []
    for i in range(2 * n):
        holder = _account("holder", i)
        dao.fund(holder)
        minted = base.mint(holder.address)
        delegated = base.delegate(holder)
        base_holders.append(holder)
        base_card.append((_gas(minted), _gas(delegated)))
    base_voters = base_holders[:n]
    for key, action, ours, (mint_gas, delegate_gas) in (
        ("card_issue", "card issue (issuer mints, auto-delegated)", _gas(issued), base_card[n - 1]),
        ("card_claim", "card claim by relayed invitation (5th nonce, used bitmap word)", _gas(claimed),
         base_card[2 * n - 1]),
    ):
        rows.append(_versus(key, action, ours, mint_gas + delegate_gas, "< baseline mint + delegate", None,
                            strict_less=True, parts={"baseline_mint": mint_gas, "baseline_delegate": delegate_gas}))
        log(f"{action}: {ours:,} vs mint {mint_gas:,} + delegate {delegate_gas:,}")
    rows.append(_versus("passkey_join", "passkey account created + card claimed, one relayed transaction (5th)",
                        _gas(joined), _gas(claimed), "- (vs our card claim to an existing address)", None))
    log(f"passkey join {_gas(joined):,} vs claim {_gas(claimed):,}")

    # -- proposals: the same specs on both governors, 4 warm-ups first
    warmups = [ProposalSpec(f"Gas report warm-up proposal {k}: an empty call") for k in range(1, n)]
    p_culture = ProposalSpec("Gas report: culture proposal (propose)")
    p_culture_cat = ProposalSpec("Gas report: culture proposal (proposeWithCategory)")
    p_town = ProposalSpec("Gas report: town-planning proposal (proposeWithCategory)")
    for spec in warmups:
        propose(client, dao.governor, spec, relayer)
        propose(client, base.governor, spec, relayer)
    ours_culture = propose(client, dao.governor, p_culture, relayer)
    base_culture = propose(client, base.governor, p_culture, relayer)
    ours_culture_cat = propose(client, dao.governor, p_culture_cat, relayer, CULTURE)
    base_culture_cat = propose(client, base.governor, p_culture_cat, relayer)
    ours_town = propose(client, dao.governor, p_town, relayer, TOWN_PLANNING)
    p_passkey = ProposalSpec("Gas report: passkey ballots (ours only)")
    propose(client, dao.governor, p_passkey, relayer, CULTURE)
    base_town = propose(client, base.governor, p_town, relayer)
    gov_goal = f"<= {GOVERNANCE_LIMIT:.2f} x baseline"
    rows.append(_versus("propose_culture", "propose (culture, the default: `propose`)", _gas(ours_culture),
                        _gas(base_culture), gov_goal, GOVERNANCE_LIMIT))
    rows.append(_versus("propose_culture_with_category", "propose (culture, via `proposeWithCategory`)",
                        _gas(ours_culture_cat), _gas(base_culture_cat), gov_goal, GOVERNANCE_LIMIT))
    rows.append(_versus("propose_town_planning", "propose (town planning, via `proposeWithCategory`)", _gas(ours_town),
                        _gas(base_town), f"{gov_goal} (exempt: stores its category, 1 more slot)", GOVERNANCE_LIMIT,
                        exempt=True))
    log(f"propose: culture {_gas(ours_culture):,} vs {_gas(base_culture):,}; "
        f"town planning {_gas(ours_town):,} vs {_gas(base_town):,}")

    all_specs = [*warmups, p_culture, p_culture_cat, p_town]
    sides = ((dao.governor, ours_voters), (base.governor, base_voters))
    _mine_past(dao, [g.functions.proposalSnapshot(s.proposal_id(g)).call() for g, _ in sides for s in all_specs]
               + [dao.governor.functions.proposalSnapshot(p_passkey.proposal_id(dao.governor)).call()])

    # -- ballots: one FOR on each warm-up proposal (so they can be queued and executed as warm-ups too), then the
    # 5th voter's ballot on p_culture (castVote) and on p_culture_cat (castVoteBySig, relayed)
    for governor, voters in sides:
        for spec in warmups:
            cast_vote(client, governor, spec, voters[0], FOR)
    measured: dict[str, list[int]] = {"cast_vote": [], "cast_vote_by_sig": []}
    for governor, voters in sides:
        for voter in voters:
            receipt = cast_vote(client, governor, p_culture, voter, FOR)
        measured["cast_vote"].append(_gas(receipt))
        for voter in voters:
            receipt = cast_vote_by_sig(client, governor, p_culture_cat, voter, FOR, relayer)
        measured["cast_vote_by_sig"].append(_gas(receipt))
    rows.append(_versus("cast_vote", "castVote (5th voter)", *measured["cast_vote"], gov_goal, GOVERNANCE_LIMIT))
    rows.append(_versus("cast_vote_by_sig", "castVoteBySig (5th voter, relayed)", *measured["cast_vote_by_sig"],
                        gov_goal, GOVERNANCE_LIMIT))
    log(f"castVote {measured['cast_vote']}, castVoteBySig {measured['cast_vote_by_sig']} (ours, baseline)")
    passkey_proposal = Proposal(p_passkey.proposal_id(dao.governor), *p_passkey.args(), p_passkey.description,
                                p_passkey.description_hash)
    for passkey, account in passkey_voters:  # the 5th passkey ballot vs the 5th EOA ballot on a proposal like it
        receipt = dao.vote_by_passkey(passkey_proposal, passkey, account, FOR)
    rows.append(_versus("cast_vote_by_sig_passkey", "castVoteBySig by a passkey account (5th voter, relayed, "
                        "P-256 precompile)", _gas(receipt), measured["cast_vote_by_sig"][0],
                        f"<= {PASSKEY_LIMIT:.2f} x our EOA castVoteBySig", PASSKEY_LIMIT))
    log(f"passkey castVoteBySig {_gas(receipt):,} vs EOA {measured['cast_vote_by_sig'][0]:,}")

    # -- queue and execute: 4 warm-ups, then p_culture, on both sides
    _mine_past(dao, [g.functions.proposalDeadline(s.proposal_id(g)).call() for g, _ in sides for s in all_specs])
    for spec in [*warmups, p_culture]:
        for governor, _ in sides:
            state = governor.functions.state(spec.proposal_id(governor)).call()
            if state != 4:  # Succeeded
                raise RuntimeError(f"{spec.description!r} is in state {state} on {governor.address}, not Succeeded")
    for governor, _ in sides:
        for spec in [*warmups, p_culture]:
            receipt = queue(client, governor, spec, relayer)
        measured.setdefault("queue", []).append(_gas(receipt))
    dao.wait_seconds(PARAMS.timelock_delay + 1)
    for governor, _ in sides:
        for spec in [*warmups, p_culture]:
            receipt = execute(client, governor, spec, relayer)
        measured.setdefault("execute", []).append(_gas(receipt))
    rows.append(_versus("queue", "queue (timelock schedule)", *measured["queue"], gov_goal, GOVERNANCE_LIMIT))
    rows.append(_versus("execute", "execute (empty call to an EOA through the timelock)", *measured["execute"],
                        gov_goal, GOVERNANCE_LIMIT))
    log(f"queue {measured['queue']}, execute {measured['execute']} (ours, baseline)")

    # -- outcomes (ours only): 4 warm-ups, then the 5th
    for spec in [*warmups, p_culture]:
        proposal_id = spec.proposal_id(dao.governor)
        content_hash = Web3.keccak(text=f"report of {spec.description}")
        published = client.transact(
            dao.outcomes.functions.publishOutcome(proposal_id, IMPLEMENTED, REPORT_URI, content_hash), city
        )
    rows.append(Row("outcome_publish", "outcome publish (first version, report URI + content hash)", _gas(published)))
    log(f"outcome publish {_gas(published):,}")

    # -- badges: 100 more members, then per type 4 warm-up single mints, the 5th single mint and a 100-recipient mint
    recipients = []
    for i in range(BADGE_BATCH):
        member = _account("badge recipient", i).address
        client.transact(dao.card.functions.issue(member, (RESIDENT, RELATIONSHIP_POPULATION)[i % 2]), issuer)
        recipients.append(member)
    log(f"issued {BADGE_BATCH} more cards for the badge recipients")
    for label, kind, soulbound in (("attendance (soulbound)", KIND_ATTENDANCE, True),
                                   ("perk (transferable)", KIND_PERK, False)):
        type_id = dao.badges.functions.badgeTypeCount().call() + 1
        client.transact(dao.badges.functions.createBadgeType(BADGE_URI, 0, soulbound, kind), issuer)
        for voter in ours_voters:
            single = client.transact(dao.badges.functions.mint(type_id, [voter.address]), issuer)
        batch = client.transact(dao.badges.functions.mint(type_id, recipients), issuer)
        short = label.split()[0]
        rows.append(Row(f"badge_{short}_single", f"badge mint, {label}, 1 recipient", _gas(single)))
        rows.append(_batch_row(f"badge_{short}_batch", f"badge mint, {label}, {BADGE_BATCH} recipients",
                               _gas(batch), _gas(single), exempt=not soulbound))
        log(f"badge {label}: 1 recipient {_gas(single):,}, {BADGE_BATCH} recipients {_gas(batch):,}")
    return _ordered(rows)


ORDER = [
    "card_issue", "card_claim", "passkey_join", "cast_vote", "cast_vote_by_sig", "cast_vote_by_sig_passkey",
    "cast_vote_by_sig_passkey_no_precompile", "propose_culture", "propose_culture_with_category",
    "propose_town_planning", "queue", "execute", "badge_attendance_single", "badge_attendance_batch",
    "badge_perk_single", "badge_perk_batch", "outcome_publish",
]


def _ordered(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: ORDER.index(r.key))


# ---------------------------------------------------------------------- environment and rendering


def environment() -> dict[str, Any]:
    """Compiler, library and devnet versions the figures were measured with."""
    compiler = next(iter(load_baseline_artifacts().values())).compiler
    ours_compiler = next(iter(load_artifacts().values())).compiler
    anvil_line = subprocess.run([str(toolchain.anvil_binary()), "--version"], capture_output=True, text=True,
                                check=False).stdout.splitlines()
    return {
        "solc": compiler["version"],
        "solc_ours": ours_compiler["version"],
        "optimizer_runs": OPTIMIZER_RUNS,
        "evm_version": EVM_VERSION,
        "openzeppelin": toolchain.package_version("@openzeppelin/contracts"),
        "anvil": anvil_line[0].removeprefix("anvil Version: ").strip() if anvil_line else "unknown",
        "warmup_operations": WARMUP,
        "reproduce": REPRODUCE,
    }


def _fmt(gas: int | None) -> str:
    return "-" if gas is None else f"{gas:,}"


def _cells(row: Row) -> list[str]:
    ours = _fmt(row.ours)
    baseline = _fmt(row.baseline)
    ratio = "-" if row.ratio is None else f"{row.ratio:.3f}"
    if "baseline_mint" in row.parts:
        baseline += f" (mint {row.parts['baseline_mint']:,} + delegate {row.parts['baseline_delegate']:,})"
    if "per_recipient" in row.parts:
        ours += f" total, {row.parts['per_recipient']:,} per recipient"
        ratio = f"{row.ratio:.3f} per recipient / 1-recipient mint ({row.ratio:.1%})"
    if row.met is None:
        met = "-"
    else:
        met = "yes" if row.met else "**NO**"
        if row.exempt:
            met += " (exempt)"
    return [row.action, ours, baseline, ratio, row.goal, met]


def render_markdown(rows: list[Row], env: dict[str, Any]) -> str:
    lines = [
        f"Gas used per transaction (receipt `gasUsed`, 21,000 intrinsic gas included), ours vs plain OpenZeppelin "
        f"{env['openzeppelin']}, same run, steady state ({env['warmup_operations']} identical warm-up operations on "
        f"each side before the measured one).",
        "",
        f"solc-js {env['solc']} (optimizer {env['optimizer_runs']} runs, EVM {env['evm_version']}), "
        f"OpenZeppelin Contracts {env['openzeppelin']}, anvil {env['anvil']}.",
        f"How to reproduce: `{env['reproduce']}` (add `--json` for machine-readable output).",
        "",
        "| action | ours (gas) | baseline (gas) | ratio ours/baseline | goal | met? |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.gas_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of the Markdown table")
    args = parser.parse_args(argv)
    rows = measure()
    env = environment()
    if args.json:
        print(json.dumps({"environment": env, "rows": [asdict(r) for r in rows]}, indent=2))
    else:
        print(render_markdown(rows, env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
