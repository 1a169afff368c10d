"""Contract invariants: a hypothesis state machine drives random sequences of card, governance and outcome actions
against a fresh deployment on the session's anvil, keeps a plain Python model of what the contracts should do, and
after every step compares the whole observable state of the chain with the model:

- voting power: every known address's `getVotes` is 1 with an active card and 0 without, their sum is the number of
  active cards, which is also the card's total supply (`getPastTotalSupply`); the same at every past block where a
  card moved (`getPastVotes`, `getPastMembership`, `getPastTotalSupply`; the card counts seconds) and at every
  proposal's snapshot (`quorum`);
- one card per address (`balanceOf` <= 1), stable member numbers, `membershipOf` as modelled;
- soulbound: every `Transfer` the card ever emitted is a mint or a burn, exactly the ones the model expects,
  `ownerOf` / `locked` hold for every live token, every transfer and delegation attempt is refused with the
  contract's custom error and changes nothing;
- governance: for every proposal, `state` equals the model's state (Pending, Active, Canceled, Defeated, Succeeded,
  Queued, Executed; quorum 10 % of cards at the snapshot, majority, and for town planning a majority among resident
  voters: the rules of `tests/test_governor_model.model`), `proposalVotes` / `proposalVotesBySegment` / `hasVoted`
  equal the ballots the model saw accepted;
- `OutcomeRegistry`: every published version of every proposal, in order, and nothing published before voting ended.

Every refused action must be refused with exactly the custom error (and arguments) the model predicts, and every
action the model expects to pass must pass. On a failure hypothesis prints the shrunk step sequence.

Determinism: the chain runs with a block timestamp interval of 1 s (`anvil_setBlockTimestampInterval`), so the
model knows every block's timestamp (invitation and leave expiries, the timelock's ready time) exactly; time jumps
use `evm_setNextBlockTimestamp`. Each example starts from an `evm_snapshot` of the fresh deployment and is reverted
afterwards, like the `dao` fixture does for ordinary tests.

Speed (`Rpc`): web3's contract calls cost ~7 ms each here and one check is a few hundred reads, so reads are
ABI-encoded by hand and sent as one JSON-RPC batch per check; a transaction is first run as an `eth_call` at `pending`
(the block it will land in: same number, timestamp and state), which gives the refusal and its custom error without
`eth_estimateGas`'s binary search, and is only sent (with ample gas) when it passes.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, keccak, to_checksum_address
from eth_utils.abi import collapse_if_tuple
from hypothesis import Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from backend.chain import eip712
from backend.chain.accounts import dev_account
from backend.chain.deploy import deploy_all
from backend.chain.reverts import ContractRevert
from tests.conftest import TEST_PARAMS
from tests.dao import (
    ABSTAIN,
    AGAINST,
    CULTURE,
    FOR,
    ISSUER_ROLE,
    ORGANISATION,
    RELATIONSHIP_POPULATION,
    RESIDENT,
    STATES,
    TOWN_PLANNING,
    Dao,
)
from tests.test_governor_model import model as governor_model

# Sized for the CI budget: about 25 s on the shared 2-core machine when it is quiet, and well under 90 s when it is
# busy. Hypothesis prints the shrunk step sequence of any failure (shrinking a long sequence against a real chain can
# take a few minutes); the explain phase is left out, it replays the failure many more times for little here.
SETTINGS = settings(max_examples=30, stateful_step_count=40, deadline=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink])

ZERO = "0x" + "00" * 20
DEFAULT_ADMIN_ROLE = b"\x00" * 32
SEGMENTS = (RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION)
STATE_INDEX = {name: i for i, name in enumerate(STATES)}
TIMELOCK_READY = 2  # TimelockController.OperationState.Ready
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
DELEGATION_TYPES = {
    "Delegation": [
        {"name": "delegatee", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ]
}

# Actors. Members are deterministic keys, so a failing sequence replays with the same addresses.
MEMBERS = [f"m{i}" for i in range(24)]
ROLES = ["city", "relayer", "orgA", "orgB", "stranger"]  # dev accounts 0, 1, 2 (the deployment's issuer), 3, 4
ACTIONS = ["signal", "grant-orgB", "revoke-orgB"]  # what an executed proposal does, through the timelock

member_names = st.sampled_from(MEMBERS)
members_or_stranger = st.sampled_from([*MEMBERS, "stranger"])
voters = st.one_of(st.sampled_from(MEMBERS[:6]), members_or_stranger)  # small examples have members m0..m5
ballots = st.tuples(voters, st.sampled_from([AGAINST, FOR, FOR, ABSTAIN]))
# Half of them a lone ballot: with 20 or more cards, a lone FOR is a majority that misses the quorum of 2.
ballot_lists = st.one_of(st.lists(ballots, max_size=1), st.lists(ballots, min_size=2, max_size=6))
valid_segments = st.sampled_from(SEGMENTS)
any_segments = st.one_of(valid_segments, st.sampled_from([0, 4, 255]))
organisations = st.sampled_from(["orgA", "orgB"])


def _accounts() -> dict[str, LocalAccount]:
    accounts = {name: dev_account(i) for i, name in enumerate(ROLES)}
    for name in MEMBERS:
        accounts[name] = Account.from_key(keccak(text=f"kanazawa-dao invariants {name}"))
    return accounts


def _bitmap(*states: str) -> bytes:
    """OpenZeppelin's `_encodeStateBitmap`, as the bytes32 a GovernorUnexpectedProposalState carries."""
    return sum(1 << STATE_INDEX[s] for s in states).to_bytes(32, "big")


@functools.lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    return to_checksum_address(address)


def _decode_static(types: list[str], raw: bytes) -> list | None:
    """A fast path for outputs made of uints, bools, addresses and bytes32 only (nearly every read here)."""
    if len(raw) != 32 * len(types):
        return None
    values = []
    for i, type_ in enumerate(types):
        word = raw[32 * i:32 * i + 32]
        if type_.startswith("uint"):
            values.append(int.from_bytes(word, "big"))
        elif type_ == "bool":
            values.append(word != bytes(32))
        elif type_ == "address":
            values.append(_checksum("0x" + word[12:].hex()))
        elif type_ == "bytes32":
            values.append(word)
        else:
            return None
    return values


def _checksummed(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return _checksum(value)
    if isinstance(value, (tuple, list)):
        return tuple(_checksummed(v) for v in value)
    return value


# ---------------------------------------------------------------------- lean JSON-RPC


@dataclass(frozen=True)
class Refused:
    """An expected read that reverts with `error` (e.g. ownerOf of a burned card)."""

    error: str


class Rpc:
    """Contract calls and transactions ABI-encoded by hand and sent over one HTTP session, several hundred reads to a
    JSON-RPC batch. Reverts decode through the project's RevertDecoder into `ContractRevert`, as everywhere else."""

    def __init__(self, url: str, decoder, chain_id: int) -> None:
        self.url = url
        self.decoder = decoder
        self.chain_id = chain_id
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy lookups per request: it is a local anvil
        self._abis: dict[tuple[str, str, int], tuple[bytes, list[str], list[str]]] = {}
        self._encoded: dict[tuple, tuple[str, list[str]]] = {}  # the same reads come back every step

    def register(self, contract) -> None:
        for item in contract.abi:
            if item.get("type") == "function":
                self._abis[(contract.address, item["name"], len(item["inputs"]))] = (
                    function_abi_to_4byte_selector(item),
                    [collapse_if_tuple(i) for i in item["inputs"]],
                    [collapse_if_tuple(o) for o in item["outputs"]],
                )

    def encode(self, contract, name: str, args: list) -> tuple[str, list[str]]:
        key = (contract.address, name, *args) if all(isinstance(a, (int, str, bytes)) for a in args) else None
        if key is not None and key in self._encoded:
            return self._encoded[key]
        selector, in_types, out_types = self._abis[(contract.address, name, len(args))]
        encoded = "0x" + (selector + abi_encode(in_types, args)).hex(), out_types
        if key is not None:
            self._encoded[key] = encoded
        return encoded

    def batch(self, requests_: list[tuple[str, list]]) -> list[dict]:
        if not requests_:
            return []
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(requests_)]
        return sorted(self.session.post(self.url, json=body, timeout=60).json(), key=lambda r: r["id"])

    def request(self, method: str, params: list) -> Any:
        (reply,) = self.batch([(method, params)])
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def revert_of(self, reply: dict) -> ContractRevert:
        data = reply["error"].get("data")
        if isinstance(data, dict):
            data = data.get("data")
        return self.decoder.decode(data if isinstance(data, str) and data.startswith("0x") else None)

    def decode(self, out_types: list[str], reply: dict) -> Any:
        if "error" in reply:
            return self.revert_of(reply)
        raw = bytes.fromhex(reply["result"][2:])
        values = _decode_static(out_types, raw)
        if values is None:
            values = _checksummed(abi_decode(out_types, raw))
        return values[0] if len(values) == 1 else tuple(values)

    def calls(self, calls: list[tuple[Any, str, list, str]], extra: list[tuple[str, list]] = ()) -> tuple[list, list]:
        """(contract, function, args, block tag) -> values or ContractRevert; `extra` raw requests -> replies."""
        encoded = [self.encode(contract, name, args) for contract, name, args, _ in calls]
        replies = self.batch([("eth_call", [{"to": c[0].address, "data": data}, c[3]])
                              for c, (data, _) in zip(calls, encoded)] + list(extra))
        results = [self.decode(out_types, reply) for (_, out_types), reply in zip(encoded, replies)]
        return results, replies[len(calls):]

    def transact(self, contract, name: str, args: list, sender: LocalAccount) -> dict | ContractRevert:
        """What `client.transact` does, in fewer round trips: the call at `pending` (the next block: same number,
        timestamp and state as the transaction will see) says whether it is refused and why; if not, the transaction
        is signed with ample gas, sent and its receipt returned."""
        data, _ = self.encode(contract, name, args)
        call, nonce = self.batch([
            ("eth_call", [{"from": sender.address, "to": contract.address, "data": data}, "pending"]),
            ("eth_getTransactionCount", [sender.address, "pending"]),
        ])
        if "error" in call:
            return self.revert_of(call)
        receipt = self.receipt(self.send_raw(contract, name, args, sender, int(nonce["result"], 16)))
        assert receipt["status"] == "0x1", f"{name}: the call at pending passed but the transaction reverted: {receipt}"
        return receipt

    def send_raw(self, contract, name: str, args: list, sender: LocalAccount, nonce: int) -> str:
        data, _ = self.encode(contract, name, args)
        tx = {"to": contract.address, "data": data, "value": 0, "gas": 3_000_000, "nonce": nonce,
              "chainId": self.chain_id, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}
        return self.request("eth_sendRawTransaction", ["0x" + bytes(sender.sign_transaction(tx).raw_transaction).hex()])

    def receipt(self, tx_hash: str) -> dict:
        deadline = time.monotonic() + 60
        while (receipt := self.request("eth_getTransactionReceipt", [tx_hash])) is None:  # anvil mines at once
            assert time.monotonic() < deadline, f"no receipt for {tx_hash}"
            time.sleep(0.002)
        return receipt


# ---------------------------------------------------------------------- the model


@dataclass
class CardModel:
    token_id: int = 0  # member number, 0 if never a member; stable across leaving and rejoining
    segment: int = 0  # segment of the current (or last) card
    issuer: str = ZERO
    since: int = 0  # block of the current (or last) card
    active: bool = False


@dataclass(eq=False)
class ProposalModel:
    label: str
    proposal_id: int
    category: int
    action: str
    proposer: str  # address
    targets: list[str]
    values: list[int]
    calldatas: list[bytes]
    description: str
    description_hash: bytes
    snapshot: int
    deadline: int
    votes: dict[str, tuple[int, int]] = field(default_factory=dict)  # voter -> (segment at snapshot, support)
    eta: int | None = None  # timestamp the timelock operation becomes ready, once queued
    operation_id: bytes = b""
    executed: bool = False
    canceled: bool = False
    outcomes: list[tuple] = field(default_factory=list)  # (status, publishedAt, publisher, contentHash, reportURI)
    snapshot_checked: bool = False
    metadata_checked: bool = False

    def __repr__(self) -> str:  # how hypothesis shows it in a failing step sequence
        return f"<{self.label}: category {self.category}, {self.action}>"


def proposal_id_of(targets, values, calldatas, description_hash) -> int:
    """Governor.hashProposal."""
    encoded = abi_encode(["address[]", "uint256[]", "bytes[]", "bytes32"], [targets, values, calldatas, description_hash])
    return int.from_bytes(keccak(encoded), "big")


class DaoInvariants(RuleBasedStateMachine):
    """One example = one fresh copy of the deployment (evm_snapshot) and a random sequence of steps."""

    # Set by the test function before hypothesis runs the machine.
    dao: Dao
    rpc: Rpc
    accounts: dict[str, LocalAccount]
    card_domain: dict
    governor_domain: dict

    proposals = Bundle("proposals")

    def __init__(self) -> None:
        super().__init__()
        self.client = self.dao.client
        self.card, self.governor = self.dao.card, self.dao.governor
        self.timelock, self.registry = self.dao.timelock, self.dao.outcomes
        self.params = self.dao.deployment.params
        self.snapshot_id = self.client.snapshot()
        head = self.rpc.request("eth_getBlockByNumber", ["latest", False])
        self.block, self.ts = int(head["number"], 16), int(head["timestamp"], 16)
        self.log_cursor = self.block  # Transfer logs up to here have been checked

        self.cards = {name: CardModel() for name in self.accounts}
        self.history: dict[str, list[tuple[int, int]]] = {name: [] for name in self.accounts}  # (block, segment|0)
        self.last_token_id = 0
        self.issuers = {"orgA"}
        self.used_invitations: dict[str, set[int]] = {"orgA": set(), "orgB": set()}
        self.card_nonces = {name: 0 for name in self.accounts}
        self.governor_nonces = {name: 0 for name in self.accounts}
        self.expected_transfers: list[tuple[str, str, int]] = []
        self.unchecked_changes: list[tuple[int, str]] = []  # (block, member) of card moves, checked as past blocks
        self.all_proposals: list[ProposalModel] = []
        self.storage_changed = True  # a transaction landed since the last check (or nothing was checked yet)
        self.ballots_changed = False  # a ballot landed since the last check

    def teardown(self) -> None:
        self.client.revert(self.snapshot_id)

    # ------------------------------------------------------------------ model helpers

    def address(self, name: str) -> str:
        if name == "zero":
            return ZERO
        return self.accounts[name].address

    def segment_at(self, name: str, timepoint: int) -> int:
        segment = 0
        for changed, value in self.history[name]:
            if changed > timepoint:
                break
            segment = value
        return segment

    def active_count_at(self, timepoint: int) -> int:
        return sum(1 for name in self.accounts if self.segment_at(name, timepoint))

    def holder_of(self, token_id: int) -> str | None:
        for name, card in self.cards.items():
            if card.token_id == token_id and card.active:
                return name
        return None

    def result(self, p: ProposalModel):
        """Tallies and Defeated/Succeeded by the plain rules of tests/test_governor_model.py."""
        members = []
        for name in self.accounts:
            segment = self.segment_at(name, p.snapshot)
            if segment:
                vote = p.votes.get(name)
                members.append((segment, vote[1] if vote else None))
        return governor_model(p.category, members, self.params.quorum_percent)

    def state(self, p: ProposalModel, clock: int) -> str:
        """The governor's state at time `clock` (the card's clock is the block time: a read at `latest` sees the
        head's timestamp; a transaction the head's + 1)."""
        if p.executed:
            return "Executed"
        if p.canceled:
            return "Canceled"
        if clock <= p.snapshot:
            return "Pending"
        if clock <= p.deadline:
            return "Active"
        if self.result(p).state == "Defeated":
            return "Defeated"
        return "Succeeded" if p.eta is None else "Queued"

    # ------------------------------------------------------------------ sending

    def send(self, contract, fn: str, args: list, sender: str, refusal: tuple[str, dict] | None, what: str) -> bool:
        """Send `fn(*args)` from `sender`. `refusal` is the (custom error, args) the model expects, None for success.
        Returns whether it landed."""
        outcome = self.rpc.transact(contract, fn, args, self.accounts[sender])
        if isinstance(outcome, ContractRevert):
            assert refusal is not None, f"{what}: the chain refused with {outcome}; the model expected success"
            error, error_args = refusal
            assert outcome.error == error and outcome.args_dict == error_args, (
                f"{what}: the chain refused with {outcome}; the model expected {error}({error_args})"
            )
            event(f"{what}: refused {error}")
            return False
        assert refusal is None, f"{what}: the chain accepted it; the model expected the refusal {refusal[0]}({refusal[1]})"
        assert int(outcome["blockNumber"], 16) == self.block + 1, "one transaction, one block"
        self.block += 1
        self.ts += 1
        self.storage_changed = True
        event(f"{what}: ok")
        return True

    def mined(self, blocks: int) -> None:
        self.client.mine(blocks)
        self.block += blocks
        self.ts += blocks

    def minted(self, name: str, segment: int, issuer: str) -> None:
        card = self.cards[name]
        if card.token_id == 0:
            self.last_token_id += 1
            card.token_id = self.last_token_id
        card.segment, card.issuer, card.since, card.active = segment, self.address(issuer), self.ts, True
        self.history[name].append((self.ts, segment))
        self.expected_transfers.append((ZERO, self.address(name), card.token_id))
        self.unchecked_changes.append((self.ts, name))

    def burned(self, name: str) -> None:
        card = self.cards[name]
        card.active = False
        self.history[name].append((self.ts, 0))
        self.expected_transfers.append((self.address(name), ZERO, card.token_id))
        self.unchecked_changes.append((self.ts, name))

    def issue_refusal(self, name: str, segment: int) -> tuple[str, dict] | None:
        """MembershipCard._issue's checks, in the contract's order."""
        if segment not in SEGMENTS:
            return "MembershipCardInvalidSegment", {"segment": segment}
        if self.cards[name].active:
            return "MembershipCardAlreadyMember", {"account": self.address(name)}
        return None

    # ------------------------------------------------------------------ cards

    @initialize(target=proposals,
                segments=st.one_of(st.lists(valid_segments, min_size=2, max_size=6),
                                   st.lists(valid_segments, min_size=20, max_size=len(MEMBERS))),
                proposals=st.lists(st.tuples(st.sampled_from([CULTURE, TOWN_PLANNING]), st.sampled_from(ACTIONS),
                                             ballot_lists), min_size=1, max_size=2))
    def initial_state(self, segments, proposals):
        """Members m0, m1, ... (20 or more cards make the 10 % quorum 2 votes or more), then proposals open for voting
        with a first few signed ballots, so that most examples carry a proposal through its whole life."""
        for name, segment in zip(MEMBERS, segments):
            self.issue(name, segment, "orgA")
        made = [self.propose(category, action, "relayer", False) for category, action, _ in proposals]
        self.mined(self.params.voting_delay)
        for p, (_, _, ballots) in zip(made, proposals):
            self.vote_many(p, ballots)
        return multiple(*made)

    @rule(member=member_names, segment=any_segments, issuer=st.sampled_from(["orgA", "orgB", "stranger"]))
    def issue(self, member, segment, issuer):
        if issuer not in self.issuers:
            refusal = "AccessControlUnauthorizedAccount", {"account": self.address(issuer), "neededRole": ISSUER_ROLE}
        else:
            refusal = self.issue_refusal(member, segment)
        if self.send(self.card, "issue", [self.address(member), segment], issuer, refusal, "issue"):
            self.minted(member, segment, issuer)

    @rule(invitee=member_names, segment=any_segments, issuer=organisations, nonce=st.integers(0, 4),
          variant=st.sampled_from(["valid", "valid", "valid-last-second", "expired", "forged"]))
    def claim(self, invitee, segment, issuer, nonce, variant):
        """The relayer submits a claim of an EIP-712 invitation."""
        now = self.ts + 1  # the claim's block
        expiry = {"valid-last-second": now, "expired": now - 1}.get(variant, now + 3600)
        msg = eip712.invitation_message(invitee=self.address(invitee), segment=segment, issuer=self.address(issuer),
                                        nonce=nonce, expiry=expiry)
        signer = self.accounts["stranger" if variant == "forged" else issuer]
        signature = eip712.sign(signer, eip712.typed_data(self.card_domain, eip712.INVITATION_TYPES, msg))
        if expiry < now:
            refusal = "MembershipCardInvitationExpired", {"expiry": expiry, "now_": now}
        elif issuer not in self.issuers:
            refusal = "MembershipCardInvalidIssuer", {"issuer": self.address(issuer)}
        elif nonce in self.used_invitations[issuer]:
            refusal = "MembershipCardInvitationUsed", {"issuer": self.address(issuer), "nonce": nonce}
        elif variant == "forged":
            refusal = "MembershipCardInvalidInvitationSignature", {"issuer": self.address(issuer),
                                                                    "invitee": self.address(invitee)}
        else:
            refusal = self.issue_refusal(invitee, segment)
        fields = (msg["invitee"], msg["segment"], msg["issuer"], msg["nonce"], msg["expiry"])
        if self.send(self.card, "claim", [fields, signature], "relayer", refusal, "claim"):
            self.used_invitations[issuer].add(nonce)
            self.minted(invitee, segment, issuer)

    @rule(issuer=organisations, nonce=st.integers(0, 4))
    def cancel_invitation(self, issuer, nonce):
        refusal = None
        if nonce in self.used_invitations[issuer]:
            refusal = "MembershipCardInvitationUsed", {"issuer": self.address(issuer), "nonce": nonce}
        if self.send(self.card, "cancelInvitation", [nonce], issuer, refusal, "cancelInvitation"):
            self.used_invitations[issuer].add(nonce)

    @rule(member=member_names, by=st.sampled_from(["city", "orgA", "orgB", "stranger", "m0"]))
    def revoke(self, member, by):
        card = self.cards[member]
        if not card.active:
            refusal = "MembershipCardNotMember", {"account": self.address(member)}
        elif by == "city" or (card.issuer == self.address(by) and by in self.issuers):
            refusal = None
        else:
            refusal = "MembershipCardUnauthorizedRevoker", {"caller": self.address(by), "member": self.address(member)}
        if self.send(self.card, "revoke", [self.address(member)], by, refusal, "revoke"):
            self.burned(member)

    @rule(member=members_or_stranger,
          how=st.sampled_from(["direct", "sig", "sig", "sig-expired", "sig-replayed", "sig-forged"]))
    def leave(self, member, how):
        not_member = "MembershipCardNotMember", {"account": self.address(member)}
        if how == "direct":
            landed = self.send(self.card, "leave", [], member, None if self.cards[member].active else not_member,
                               "leave")
        else:
            now, current = self.ts + 1, self.card_nonces[member]
            expiry = now - 1 if how == "sig-expired" else now + 3600
            nonce = (current - 1 if current else current + 1) if how == "sig-replayed" else current
            msg = {"member": self.address(member), "nonce": nonce, "expiry": expiry}
            signer = self.accounts["orgB" if how == "sig-forged" else member]
            signature = eip712.sign(signer, eip712.typed_data(self.card_domain, eip712.LEAVE_TYPES, msg))
            if how == "sig-expired":
                refusal = "MembershipCardSignatureExpired", {"expiry": expiry, "now_": now}
            elif how == "sig-forged":
                refusal = "MembershipCardInvalidLeaveSignature", {"member": self.address(member)}
            elif how == "sig-replayed":
                refusal = "InvalidAccountNonce", {"account": self.address(member), "currentNonce": current}
            else:
                refusal = None if self.cards[member].active else not_member
            landed = self.send(self.card, "leaveBySig", [msg["member"], nonce, expiry, signature], "relayer", refusal,
                               f"leaveBySig ({how})")
            if landed:
                self.card_nonces[member] += 1
        if landed:
            self.burned(member)

    @rule(holder=member_names, to=st.sampled_from([*MEMBERS[:4], "stranger", "zero"]),
          how=st.sampled_from(["transferFrom", "safeTransferFrom", "approved-operator", "delegate", "delegateBySig"]))
    def move_card(self, holder, to, how):
        """Every way of moving a card or its vote is refused with the contract's error; nothing changes. Delegating
        to oneself (ERC-5805 front ends ask for it) lands as a no-op; by signature it spends the signer's nonce."""
        if how.startswith("delegate"):
            refusal = "MembershipCardDelegationDisabled", {"account": self.address(holder), "delegatee": self.address(to)}
            if to == holder:
                refusal = None
            if how == "delegate":
                self.send(self.card, "delegate", [self.address(to)], holder, refusal, how)
                return
            msg = {"delegatee": self.address(to), "nonce": self.card_nonces[holder], "expiry": self.ts + 3600}
            signed = self.accounts[holder].sign_message(
                encode_typed_data(full_message=eip712.typed_data(self.card_domain, DELEGATION_TYPES, msg)))
            args = [msg["delegatee"], msg["nonce"], msg["expiry"], signed.v, signed.r.to_bytes(32, "big"),
                    signed.s.to_bytes(32, "big")]
            if self.send(self.card, "delegateBySig", args, "relayer", refusal, how):
                self.card_nonces[holder] += 1
            return
        token_id = self.cards[holder].token_id or 1
        sender = holder
        if how == "approved-operator" and self.cards[holder].active:
            # The holder may approve an operator (a plain ERC-721 approval), but the operator cannot move it either.
            self.send(self.card, "approve", [self.address("stranger"), token_id], holder, None, "approve")
            sender = "stranger"
        if to == "zero":
            refusal = "ERC721InvalidReceiver", {"receiver": ZERO}
        elif self.holder_of(token_id) is not None:
            refusal = "MembershipCardSoulbound", {"tokenId": token_id}
        else:
            refusal = "ERC721NonexistentToken", {"tokenId": token_id}
        fn = "safeTransferFrom" if how == "safeTransferFrom" else "transferFrom"
        self.send(self.card, fn, [self.address(holder), self.address(to), token_id], sender, refusal, how)

    @rule(org=organisations, granted=st.booleans(), by=st.sampled_from(["city", "city", "stranger"]))
    def set_issuer(self, org, granted, by):
        """The city grants or revokes an organisation's ISSUER_ROLE directly (a stranger cannot)."""
        refusal = None
        if by != "city":
            refusal = "AccessControlUnauthorizedAccount", {"account": self.address(by), "neededRole": DEFAULT_ADMIN_ROLE}
        fn = "grantRole" if granted else "revokeRole"
        if self.send(self.card, fn, [ISSUER_ROLE, self.address(org)], by, refusal, fn):
            (self.issuers.add if granted else self.issuers.discard)(org)

    @rule(ops=st.lists(st.tuples(st.sampled_from(["issue", "leave", "revoke"]), st.sampled_from(MEMBERS[:4]),
                                 valid_segments), min_size=2, max_size=4))
    def same_block(self, ops):
        """Several card changes mined in one block (automine off), e.g. a member leaving and rejoining with another
        segment: votes, memberships and supply as of that block must be its end state. Transactions that revert are
        mined too (status 0); the model predicts which, in the block's order. (`segment` is used by `issue` only.)"""
        senders = {"issue": lambda member: "orgA", "leave": lambda member: member, "revoke": lambda member: "city"}
        nonces: dict[str, int] = {}
        sent = []
        self.rpc.request("evm_setAutomine", [False])
        try:
            for kind, member, segment in ops:
                sender = senders[kind](member)
                if sender not in nonces:
                    nonces[sender] = int(self.rpc.request("eth_getTransactionCount", [self.address(sender), "latest"]), 16)
                args = {"issue": [self.address(member), segment], "leave": [], "revoke": [self.address(member)]}[kind]
                tx_hash = self.rpc.send_raw(self.card, kind, args, self.accounts[sender], nonces[sender])
                nonces[sender] += 1
                sent.append((tx_hash, kind, member, segment))
            self.rpc.request("evm_mine", [])
        finally:
            self.rpc.request("evm_setAutomine", [True])
        self.block += 1
        self.ts += 1
        self.storage_changed = True
        receipts = [(self.rpc.receipt(tx_hash), kind, member, segment) for tx_hash, kind, member, segment in sent]
        for receipt, kind, member, segment in sorted(receipts, key=lambda r: int(r[0]["transactionIndex"], 16)):
            assert int(receipt["blockNumber"], 16) == self.block, "all in one block"
            active = self.cards[member].active
            expected = (not active and "orgA" in self.issuers) if kind == "issue" else active
            landed = receipt["status"] == "0x1"
            assert landed == expected, (
                f"same block: {kind} {member} {'landed' if landed else 'reverted'}; the model expected the opposite")
            event(f"same block {kind}: {'ok' if landed else 'reverted'}")
            if landed and kind == "issue":
                self.minted(member, segment, "orgA")
            elif landed:
                self.burned(member)

    # ------------------------------------------------------------------ proposals

    @rule(target=proposals, category=st.sampled_from([CULTURE, TOWN_PLANNING, CULTURE, TOWN_PLANNING, 2, 255]),
          action=st.sampled_from(ACTIONS), proposer=st.sampled_from(["relayer", "city", "m0"]), plain=st.booleans())
    def propose_rule(self, category, action, proposer, plain):
        """`plain` uses the standard `propose` (always culture); categories 2 and up are refused."""
        p = self.propose(CULTURE if plain else category, action, proposer, plain)
        return multiple() if p is None else p

    def propose(self, category, action, proposer, plain) -> ProposalModel | None:
        if action == "signal":  # a proposal without actions: an empty call on the timelock
            targets, calldatas = [self.timelock.address], [b""]
        else:
            role_fn = "grantRole" if action == "grant-orgB" else "revokeRole"
            data, _ = self.rpc.encode(self.card, role_fn, [ISSUER_ROLE, self.address("orgB")])
            targets, calldatas = [self.card.address], [bytes.fromhex(data[2:])]
        label = f"p{len(self.all_proposals)}"
        description = f"invariants {label}: category {category}, {action}"
        values = [0]
        if plain:
            fn, args = "propose", [targets, values, calldatas, description]
        else:
            fn, args = "proposeWithCategory", [targets, values, calldatas, description, category]
        refusal = None if category in (CULTURE, TOWN_PLANNING) else ("CityGovernorInvalidCategory", {"category": category})
        if not self.send(self.governor, fn, args, proposer, refusal, fn):
            return None
        description_hash = keccak(text=description)
        snapshot = self.ts + self.params.voting_delay
        p = ProposalModel(label, proposal_id_of(targets, values, calldatas, description_hash), category, action,
                          self.address(proposer), targets, values, calldatas, description, description_hash, snapshot,
                          snapshot + self.params.voting_period)
        self.all_proposals.append(p)
        return p

    @rule(proposal=proposals)
    def propose_again(self, proposal):
        """The same proposal twice is refused, whatever its state."""
        p = proposal
        refusal = "GovernorUnexpectedProposalState", {
            "proposalId": p.proposal_id, "current": STATE_INDEX[self.state(p, self.ts + 1)],
            "expectedStates": b"\x00" * 32}
        args = [p.targets, p.values, p.calldatas, p.description, p.category]
        self.send(self.governor, "proposeWithCategory", args, "relayer", refusal, "propose again")

    @rule(proposal=proposals, voter=voters, support=st.sampled_from([0, 1, 1, 2, 3]),
          how=st.sampled_from(["castVote", "castVoteBySig", "castVoteBySig", "forged-signature"]))
    def vote_rule(self, proposal, voter, support, how):
        self.vote(proposal, voter, support, how)

    @rule(proposal=proposals, ballots=ballot_lists)
    def vote_many(self, proposal, ballots):
        """Several members' signed ballots, relayed one after the other."""
        for voter, support in ballots:
            self.vote(proposal, voter, support, "castVoteBySig")

    def vote(self, p: ProposalModel, voter: str, support: int, how: str) -> None:
        if how == "castVote":
            fn, args, sender = "castVote", [p.proposal_id, support], voter
        else:
            signer = self.accounts[("orgB" if voter == "stranger" else "stranger") if how == "forged-signature" else voter]
            msg = eip712.ballot_message(proposal_id=p.proposal_id, support=support, voter=self.address(voter),
                                        nonce=self.governor_nonces[voter])
            signature = eip712.sign(signer, eip712.typed_data(self.governor_domain, eip712.BALLOT_TYPES, msg))
            fn, args, sender = "castVoteBySig", [p.proposal_id, support, self.address(voter), signature], "relayer"
        state = self.state(p, self.ts + 1)
        segment = self.segment_at(voter, p.snapshot)
        if how == "forged-signature":
            refusal = "GovernorInvalidSignature", {"voter": self.address(voter)}
        elif state != "Active":
            refusal = "GovernorUnexpectedProposalState", {
                "proposalId": p.proposal_id, "current": STATE_INDEX[state], "expectedStates": _bitmap("Active")}
        elif not segment:
            refusal = "CityGovernorNotMemberAtSnapshot", {"voter": self.address(voter), "snapshot": p.snapshot}
        elif voter in p.votes:
            refusal = "GovernorAlreadyCastVote", {"voter": self.address(voter)}
        elif support > 2:
            refusal = "GovernorInvalidVoteType", {}
        else:
            refusal = None
        if self.send(self.governor, fn, args, sender, refusal, how):
            p.votes[voter] = (segment, support)
            self.ballots_changed = True
            if fn == "castVoteBySig":
                self.governor_nonces[voter] += 1

    @rule(proposal=proposals, by=st.sampled_from(["relayer", "city", "m0"]))
    def cancel(self, proposal, by):
        """Only the proposer, only while Pending."""
        p = proposal
        refusal = None
        if self.state(p, self.ts + 1) != "Pending" or self.address(by) != p.proposer:
            refusal = "GovernorUnableToCancel", {"proposalId": p.proposal_id, "account": self.address(by)}
        if self.send(self.governor, "cancel", [p.targets, p.values, p.calldatas, p.description_hash], by, refusal,
                     "cancel"):
            p.canceled = True

    @rule(proposal=proposals)
    def queue(self, proposal):
        p = proposal
        state = self.state(p, self.ts + 1)
        refusal = None
        if state != "Succeeded":
            refusal = "GovernorUnexpectedProposalState", {
                "proposalId": p.proposal_id, "current": STATE_INDEX[state], "expectedStates": _bitmap("Succeeded")}
        if self.send(self.governor, "queue", [p.targets, p.values, p.calldatas, p.description_hash], "relayer",
                     refusal, "queue"):
            p.eta = self.ts + self.params.timelock_delay
            # TimelockController.hashOperationBatch with GovernorTimelockControl's salt.
            salt = bytes(a ^ b for a, b in zip(bytes.fromhex(self.governor.address[2:]) + b"\x00" * 12,
                                               p.description_hash))
            p.operation_id = keccak(abi_encode(["address[]", "uint256[]", "bytes[]", "bytes32", "bytes32"],
                                               [p.targets, p.values, p.calldatas, b"\x00" * 32, salt]))

    @rule(proposal=proposals)
    def execute(self, proposal):
        p = proposal
        state = self.state(p, self.ts + 1)
        if state != "Queued":
            refusal = "GovernorUnexpectedProposalState", {
                "proposalId": p.proposal_id, "current": STATE_INDEX[state], "expectedStates": _bitmap("Queued")}
        elif self.ts + 1 < p.eta:
            refusal = "TimelockUnexpectedOperationState", {
                "operationId": p.operation_id, "expectedStates": (1 << TIMELOCK_READY).to_bytes(32, "big")}
        else:
            refusal = None
        if self.send(self.governor, "execute", [p.targets, p.values, p.calldatas, p.description_hash], "relayer",
                     refusal, "execute"):
            p.executed = True
            if p.action == "grant-orgB":
                self.issuers.add("orgB")
            elif p.action == "revoke-orgB":
                self.issuers.discard("orgB")

    @rule(proposal=proposals, status=st.sampled_from([1, 2, 3, 4, 5, 0, 6]),
          publisher=st.sampled_from(["city", "city", "relayer"]),
          report=st.sampled_from(["ok", "ok", "ok", "no-uri", "no-hash"]))
    def publish_outcome(self, proposal, status, publisher, report):
        p = proposal
        uri = "" if report == "no-uri" else f"ipfs://report-{p.label}-{len(p.outcomes)}"
        content_hash = b"\x00" * 32 if report == "no-hash" else keccak(text=uri)
        state = self.state(p, self.ts + 1)
        if publisher != "city":
            refusal = "OutcomeRegistryUnauthorized", {"account": self.address(publisher)}
        elif not 1 <= status <= 5:
            refusal = "OutcomeRegistryInvalidStatus", {"status": status}
        elif report != "ok":
            refusal = "OutcomeRegistryEmptyReport", {}
        elif state in ("Pending", "Active"):
            refusal = "OutcomeRegistryVotingNotEnded", {"proposalId": p.proposal_id, "state": STATE_INDEX[state]}
        else:
            refusal = None
        if self.send(self.registry, "publishOutcome", [p.proposal_id, status, uri, content_hash], publisher, refusal,
                     "publishOutcome"):
            p.outcomes.append((status, self.ts, self.address(publisher), content_hash, uri))

    @rule(proposal_id=st.integers(1, 2**256 - 1))
    def publish_outcome_of_unknown_proposal(self, proposal_id):
        refusal = "OutcomeRegistryUnknownProposal", {"proposalId": proposal_id}
        self.send(self.registry, "publishOutcome", [proposal_id, 1, "ipfs://x", keccak(text="x")], "city", refusal,
                  "publishOutcome (unknown proposal)")

    # ------------------------------------------------------------------ time

    @rule(blocks=st.sampled_from([1, 2, 5, 10, 21]))
    def mine(self, blocks):
        self.mined(blocks)

    @rule(seconds=st.sampled_from([1, 30, 58, 59, 60, 3600]))
    def wait(self, seconds):
        """One block `seconds` after the last (the timelock delay is 60 s)."""
        self.rpc.request("evm_setNextBlockTimestamp", [self.ts + seconds])
        self.client.mine(1)
        self.block += 1
        self.ts += seconds

    @rule(proposal=proposals, stages=st.integers(1, 4))
    def advance(self, proposal, stages):
        """Move a proposal `stages` stages along its life: into its voting period, past its deadline, queued, to its
        timelock's ready time, executed. (queue and execute are also tried at random times by their own rules.)"""
        p = proposal
        for _ in range(stages):
            state = self.state(p, self.ts + 1)
            if state == "Pending":
                self.mined(p.snapshot - self.ts)  # the next transaction votes
            elif state == "Active":
                self.mined(p.deadline + 1 - self.ts)
            elif state == "Succeeded":
                self.queue(p)
            elif state == "Queued" and self.ts + 1 < p.eta:
                self.wait(p.eta - 1 - self.ts)  # the next transaction lands exactly at the ready time
            elif state == "Queued":
                self.execute(p)
            else:
                return

    # ------------------------------------------------------------------ invariants

    @invariant()
    def chain_matches_model(self):
        """Everything observable equals the model. Views read storage and the block (number, timestamp): storage only
        changes when a transaction lands (a refused one is never sent; mining and waiting send none), so the
        storage-only views are read after every step that landed one, and the block-dependent ones (proposal states,
        newly past blocks and snapshots, the head) after every step."""
        card, governor, registry = self.card, self.governor, self.registry
        checks: list[tuple[Any, str, list, str, Any, str]] = []  # contract, fn, args, block, expected, label

        def check(contract, fn, args, expected, label, block="latest"):
            checks.append((contract, fn, args, block, expected, label))

        def check_past(block, names):  # a read at `pending` has clock = head's time + 1: up to the head is past
            check(card, "getPastTotalSupply", [block], self.active_count_at(block), f"getPastTotalSupply({block})",
                  "pending")
            for name in names:
                segment = self.segment_at(name, block)
                check(card, "getPastVotes", [self.address(name), block], 1 if segment else 0,
                      f"getPastVotes({name}, {block})", "pending")
                check(card, "getPastMembership", [self.address(name), block], (self.cards[name].token_id, segment),
                      f"getPastMembership({name}, {block})", "pending")

        full = self.storage_changed
        active = sum(1 for c in self.cards.values() if c.active)
        if full:
            # Voting power and one card per address, for every known address.
            for name in [*self.accounts, "timelock"]:
                addr = self.timelock.address if name == "timelock" else self.address(name)
                model = self.cards.get(name, CardModel())
                check(card, "getVotes", [addr], int(model.active), f"getVotes({name})")
                check(card, "balanceOf", [addr], int(model.active), f"balanceOf({name})")
                if name == "timelock":
                    continue
                check(card, "membershipOf", [addr],
                      (model.token_id, model.segment if model.active else 0, model.issuer, model.since, model.active),
                      f"membershipOf({name})")
                check(card, "nonces", [addr], self.card_nonces[name], f"card nonces({name})")
                check(governor, "nonces", [addr], self.governor_nonces[name], f"governor nonces({name})")
            # The card's total supply now (the head is a past block at `pending`).
            check(card, "getPastTotalSupply", [self.ts], active, f"getPastTotalSupply(head {self.ts})", "pending")
            # Soulbound tokens: owner and lock of every member number ever minted.
            for token_id in range(1, self.last_token_id + 1):
                holder = self.holder_of(token_id)
                gone = Refused("ERC721NonexistentToken")
                check(card, "ownerOf", [token_id], self.address(holder) if holder else gone, f"ownerOf({token_id})")
                check(card, "locked", [token_id], True if holder else gone, f"locked({token_id})")
            # Supply as of each moment a card moved, and the member's vote and segment as of it and just before
            # (every member as of every proposal's snapshot, below).
            for block, name in sorted(set(self.unchecked_changes)):
                check_past(block, [name])
                check_past(block - 1, [name])
            self.unchecked_changes = []
            # Roles and invitations.
            for org in ("orgA", "orgB"):
                check(card, "hasRole", [ISSUER_ROLE, self.address(org)], org in self.issuers, f"ISSUER_ROLE({org})")
                for nonce in range(5):
                    check(card, "invitationUsed", [self.address(org), nonce], nonce in self.used_invitations[org],
                          f"invitationUsed({org}, {nonce})")

        for p in self.all_proposals:
            pid = p.proposal_id
            state = self.state(p, self.ts)
            event(f"a proposal reached {state}")
            check(governor, "state", [pid], STATE_INDEX[state], f"state({p.label})")
            if p.snapshot <= self.ts and not p.snapshot_checked:
                # The snapshot is past: everyone's vote and segment as of it, the supply and the quorum.
                check_past(p.snapshot, self.accounts)
                supply = self.active_count_at(p.snapshot)
                check(governor, "quorum", [p.snapshot], supply * self.params.quorum_percent // 100,
                      f"quorum({p.label})", "pending")
                p.snapshot_checked = True
            if not full:
                continue
            first = not p.metadata_checked
            if first:  # fixed at creation
                check(governor, "proposalSnapshot", [pid], p.snapshot, f"proposalSnapshot({p.label})")
                check(governor, "proposalDeadline", [pid], p.deadline, f"proposalDeadline({p.label})")
                check(governor, "proposalProposer", [pid], p.proposer, f"proposalProposer({p.label})")
                check(governor, "proposalCategory", [pid], p.category, f"proposalCategory({p.label})")
                p.metadata_checked = True
            check(governor, "proposalEta", [pid], p.eta or 0, f"proposalEta({p.label})")
            tallies = {s: [0, 0, 0] for s in SEGMENTS}
            for segment, support in p.votes.values():
                tallies[segment][support] += 1
            assert {s: tuple(t) for s, t in tallies.items()} == self.result(p).tallies  # the model agrees with itself
            for s in SEGMENTS:
                check(governor, "proposalVotesBySegment", [pid, s], tuple(tallies[s]),
                      f"proposalVotesBySegment({p.label}, {s})")
            check(governor, "proposalVotes", [pid], tuple(sum(t[i] for t in tallies.values()) for i in range(3)),
                  f"proposalVotes({p.label})")
            if self.ballots_changed or first:  # only a ballot writes the has-voted bitmap
                for name in [*MEMBERS, "stranger"]:
                    check(governor, "hasVoted", [pid, self.address(name)], name in p.votes,
                          f"hasVoted({p.label}, {name})")
            check(registry, "outcomeCount", [pid], len(p.outcomes), f"outcomeCount({p.label})")
            for version, outcome in enumerate(p.outcomes):
                check(registry, "outcomeAt", [pid, version], outcome, f"outcomeAt({p.label}, {version})")

        extra = [("eth_getBlockByNumber", ["latest", False])]
        if full and self.block > self.log_cursor:
            extra.append(("eth_getLogs", [{"address": card.address, "topics": ["0x" + TRANSFER_TOPIC.hex()],
                                           "fromBlock": hex(self.log_cursor + 1), "toBlock": hex(self.block)}]))
        results, replies = self.rpc.calls([c[:4] for c in checks], extra)

        mismatches = []
        for (_, _, _, _, expected, label), actual in zip(checks, results):
            if isinstance(expected, Refused):
                ok = isinstance(actual, ContractRevert) and actual.error == expected.error
            else:
                ok = not isinstance(actual, ContractRevert) and actual == expected
            if not ok:
                mismatches.append(f"  {label}: chain {actual!r}, model {expected!r}")
        if full:
            voting_power = sum(r for (_, fn, *_), r in zip(checks, results) if fn == "getVotes" and isinstance(r, int))
            if voting_power != active:
                mismatches.append(f"  sum of getVotes: chain {voting_power}, active cards {active}")
        head = replies[0]["result"]
        if (int(head["number"], 16), int(head["timestamp"], 16)) != (self.block, self.ts):
            mismatches.append(f"  head (block, timestamp): chain {head['number'], head['timestamp']}, "
                              f"model {self.block, self.ts}")
        if len(replies) > 1:
            # Every Transfer the card emitted: mints and burns only, exactly the modelled ones, in order.
            seen = [(to_checksum_address(log["topics"][1][-40:]), to_checksum_address(log["topics"][2][-40:]),
                     int(log["topics"][3], 16)) for log in replies[1]["result"]]
            moved = [t for t in seen if ZERO not in (t[0], t[1])]
            if moved:
                mismatches.append(f"  a card moved between holders: {moved}")
            if seen != self.expected_transfers:
                mismatches.append(f"  Transfer events: chain {seen}, model {self.expected_transfers}")
            self.expected_transfers = []
            self.log_cursor = self.block
        self.storage_changed = self.ballots_changed = False
        assert not mismatches, "the chain differs from the model:\n" + "\n".join(mismatches)


def deploy_short_voting_dao(client) -> Dao:
    """conftest's `deploy_dao` with a voting period of 20 s instead of an hour, so that proposals end within a
    40-step sequence by themselves (every landed transaction is a block, a second later) and get queued, executed
    and published."""
    dao = Dao(client, deploy_all(client, Dao.city_account(), dataclasses.replace(TEST_PARAMS, voting_period=20)))
    dao.grant_issuer(dao.issuer)
    return dao


def test_contracts_keep_their_invariants(client):
    """Random sequences of card, governance and outcome actions keep every invariant (see the module docstring)."""
    outer = client.snapshot()
    try:
        dao = deploy_short_voting_dao(client)
        accounts = _accounts()
        for name in MEMBERS:  # members send some transactions themselves (castVote, leave, transfer attempts)
            client.w3.provider.make_request("anvil_setBalance", [accounts[name].address, hex(10**20)])
        client.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])
        rpc = Rpc(client.w3.provider.endpoint_uri, client.decoder, client.chain_id)
        for contract in (dao.card, dao.governor, dao.outcomes, dao.timelock):
            rpc.register(contract)
        DaoInvariants.dao = dao
        DaoInvariants.rpc = rpc
        DaoInvariants.accounts = accounts
        DaoInvariants.card_domain = eip712.domain_of(dao.card)
        DaoInvariants.governor_domain = eip712.domain_of(dao.governor)
        run_state_machine_as_test(DaoInvariants, settings=SETTINGS)
    finally:
        client.w3.provider.make_request("anvil_removeBlockTimestampInterval", [])
        client.revert(outer)
