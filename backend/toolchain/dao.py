"""A thin driver over deployed contracts, for tests, the gas report and the benchmarks on a devnet: the same calls
the relayer and the city make, in domain words, signed by devnet keys."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from backend.chain import eip712
from backend.chain.accounts import dev_account
from backend.chain.client import ChainClient
from backend.chain.deploy import Deployment, DeploymentParams, deploy_all
from backend.domain.vocabulary import Category, ChainRole, ProposalState, Segment, Support
from backend.toolchain.software_passkey import SoftwarePasskey, sign_digest

__all__ = ["ABSTAIN", "AGAINST", "CULTURE", "FOR", "ISSUER_ROLE", "ORGANISATION", "RELATIONSHIP_POPULATION",
           "RESIDENT", "STATES", "TEST_PARAMS", "TOWN_PLANNING", "Dao", "Proposal", "deploy_dao", "unix_now"]

RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION = Segment.RESIDENT, Segment.RELATIONSHIP_POPULATION, Segment.ORGANISATION
AGAINST, FOR, ABSTAIN = Support.AGAINST, Support.FOR, Support.ABSTAIN
CULTURE, TOWN_PLANNING = Category.CULTURE, Category.TOWN_PLANNING
ISSUER_ROLE = ChainRole.ISSUER_ROLE.id_bytes
STATES = ProposalState.words()


@dataclass(eq=False)
class Proposal:
    proposal_id: int
    targets: list[str]
    values: list[int]
    calldatas: list[bytes]
    description: str
    description_hash: bytes = field(default=b"")


class Dao:
    def __init__(self, client: ChainClient, deployment: Deployment) -> None:
        self.client = client
        self.w3 = client.w3
        self.deployment = deployment
        self.card = deployment.contract(self.w3, "MembershipCard")
        self.badges = deployment.contract(self.w3, "CommunityBadges")
        self.timelock = deployment.contract(self.w3, "TimelockController")
        self.governor = deployment.contract(self.w3, "CityGovernor")
        self.outcomes = deployment.contract(self.w3, "OutcomeRegistry")
        self.accounts = deployment.contract(self.w3, "PasskeyAccountFactory")
        self.city = self.city_account()
        self.relayer = dev_account(1)
        self.issuer = dev_account(2)

    @staticmethod
    def city_account() -> LocalAccount:
        return dev_account(0)

    # ------------------------------------------------------------------ roles and cards

    def grant_issuer(self, org: LocalAccount) -> None:
        self.client.transact(self.card.functions.grantRole(ISSUER_ROLE, org.address), self.city)

    def issue(self, segment: int, member: LocalAccount | None = None, issuer: LocalAccount | None = None) -> LocalAccount:
        member = member or Account.create()
        self.client.transact(self.card.functions.issue(member.address, segment), issuer or self.issuer)
        return member

    def invitation(self, invitee: str, segment: int, *, nonce: int, expiry: int | None = None,
                   issuer: LocalAccount | None = None) -> tuple[dict, bytes]:
        expiry = expiry if expiry is not None else self.now() + 3600
        return eip712.sign_invitation(
            self.card, issuer or self.issuer, invitee=invitee, segment=segment, nonce=nonce, expiry=expiry
        )

    def claim(self, invitation: dict, signature: bytes):
        """The relayer submits a member's claim: the member pays nothing."""
        fields = (invitation["invitee"], invitation["segment"], invitation["issuer"], invitation["nonce"], invitation["expiry"])
        return self.client.transact(self.card.functions.claim(fields, signature), self.relayer)

    def leave_by_sig(self, member: LocalAccount, *, expiry: int | None = None):
        msg, signature = eip712.sign_leave(self.card, member, expiry=expiry or self.now() + 3600)
        fn = self.card.functions.leaveBySig(member.address, msg["nonce"], msg["expiry"], signature)
        return self.client.transact(fn, self.relayer)

    # ------------------------------------------------------------------ passkey members

    def passkey_account(self, passkey: SoftwarePasskey) -> str:
        """Where `passkey`'s account lives (created or not)."""
        key = passkey.public_key
        return self.accounts.functions.accountAddress(key.x, key.y).call()

    def join_with_passkey(self, segment: int, passkey: SoftwarePasskey | None = None, *, nonce: int | None = None):
        """A new member's first step: the relayer creates their passkey account and claims the card an issuer
        offered it, in one transaction. Returns (passkey, account address, receipt)."""
        passkey = passkey or SoftwarePasskey()
        account = self.passkey_account(passkey)
        invitation, signature = self.invitation(account, segment, nonce=nonce if nonce is not None else
                                                int.from_bytes(passkey.credential_id[:8], "big"))
        fields = (invitation["invitee"], invitation["segment"], invitation["issuer"], invitation["nonce"],
                  invitation["expiry"])
        key = passkey.public_key
        receipt = self.client.transact(self.accounts.functions.createAccountAndClaim(key.x, key.y, fields, signature),
                                       self.relayer)
        return passkey, account, receipt

    def vote_by_passkey(self, proposal: Proposal, passkey: SoftwarePasskey, account: str, support: int):
        """A passkey member's ballot: the device signs the EIP-712 digest, the relayer submits castVoteBySig."""
        nonce = self.governor.functions.nonces(account).call()
        message = eip712.ballot_message(proposal_id=proposal.proposal_id, support=support, voter=account, nonce=nonce)
        digest = eip712.digest_of(eip712.typed_data(eip712.domain_of(self.governor), eip712.BALLOT_TYPES, message))
        fn = self.governor.functions.castVoteBySig(proposal.proposal_id, support, account, sign_digest(passkey, digest))
        return self.client.transact(fn, self.relayer)

    def fund(self, account: LocalAccount, wei: int = 10**18) -> None:
        """Give an account ETH, for tests where a holder sends a transaction themself (members normally never do)."""
        tx = {"to": account.address, "value": wei, "gas": 21_000, "chainId": self.client.chain_id,
              "nonce": self.w3.eth.get_transaction_count(self.city.address, "pending"),
              "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
        self.client.send_signed(tx, self.city)

    def members(self, segments: list[int]) -> list[LocalAccount]:
        return [self.issue(s) for s in segments]

    # ------------------------------------------------------------------ proposals and ballots

    def propose(self, description: str, category: int = CULTURE, *, targets=None, calldatas=None,
                proposer: LocalAccount | None = None) -> Proposal:
        targets = targets or [self.outcomes.address]
        calldatas = calldatas or [b""]
        values = [0] * len(targets)
        fn = self.governor.functions.proposeWithCategory(targets, values, calldatas, description, category)
        self.client.transact(fn, proposer or self.relayer)
        proposal_id = self.governor.functions.hashProposal(
            targets, values, calldatas, self.w3.keccak(text=description)
        ).call()
        return Proposal(proposal_id, targets, values, calldatas, description, self.w3.keccak(text=description))

    def vote_by_sig(self, proposal: Proposal, voter: LocalAccount, support: int):
        """A member signs a ballot; the relayer submits castVoteBySig."""
        _msg, signature = eip712.sign_ballot(self.governor, voter, proposal_id=proposal.proposal_id, support=support)
        fn = self.governor.functions.castVoteBySig(proposal.proposal_id, support, voter.address, signature)
        return self.client.transact(fn, self.relayer)

    def state(self, proposal: Proposal) -> str:
        return STATES[self.governor.functions.state(proposal.proposal_id).call()]

    def start_voting(self, proposal: Proposal | int) -> None:
        """Move the devnet's clock just past the proposal's snapshot: it is Active."""
        self.advance_to(self.governor.functions.proposalSnapshot(_id_of(proposal)).call() + 1)

    def end_voting(self, proposal: Proposal | int) -> None:
        """Move the devnet's clock just past the proposal's deadline: its vote is over."""
        self.advance_to(self.governor.functions.proposalDeadline(_id_of(proposal)).call() + 1)

    def tallies(self, proposal: Proposal) -> dict[int, tuple[int, int, int]]:
        return {s: tuple(self.governor.functions.proposalVotesBySegment(proposal.proposal_id, s).call())
                for s in (RESIDENT, RELATIONSHIP_POPULATION, ORGANISATION)}

    def queue(self, proposal: Proposal):
        return self.client.transact(self.governor.functions.queue(
            proposal.targets, proposal.values, proposal.calldatas, proposal.description_hash), self.relayer)

    def execute(self, proposal: Proposal):
        return self.client.transact(self.governor.functions.execute(
            proposal.targets, proposal.values, proposal.calldatas, proposal.description_hash), self.relayer)

    # ------------------------------------------------------------------ time

    def block_number(self) -> int:
        return self.w3.eth.block_number

    def now(self) -> int:
        """The chain's time: the latest block's timestamp, which is the card's and the governor's clock."""
        return self.w3.eth.get_block("latest")["timestamp"]

    def time_of(self, receipt) -> int:
        """The moment a transaction took effect: its block's timestamp."""
        return self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]

    def mine_to(self, block: int) -> None:
        current = self.block_number()
        if block > current:
            self.client.mine(block - current)

    def advance_to(self, timestamp: int) -> None:
        """One block at `timestamp` (the card's and the governor's clock), or now when that has passed."""
        self.client.advance_to(timestamp)

    def wait_seconds(self, seconds: int) -> None:
        self.advance_to(self.now() + seconds)


def _id_of(proposal: Proposal | int) -> int:
    return proposal.proposal_id if isinstance(proposal, Proposal) else proposal


#: The governance settings of test and benchmark chains (seconds). A test moves the clock to reach a state
#: (`start_voting`, `end_voting`); the hour is for the wall clock, which moves the chain's clock too while a slow
#: machine runs a test: a proposal a test votes on stays Active however long that takes.
TEST_PARAMS = DeploymentParams(voting_delay=1, voting_period=3600, quorum_percent=10, timelock_delay=60)


def deploy_dao(client: ChainClient, params: DeploymentParams = TEST_PARAMS) -> Dao:
    """Every contract deployed from the devnet's city key, and the devnet's issuer key granted ISSUER_ROLE."""
    dao = Dao(client, deploy_all(client, Dao.city_account(), params))
    dao.grant_issuer(dao.issuer)
    return dao


def unix_now() -> int:
    return int(time.time())
