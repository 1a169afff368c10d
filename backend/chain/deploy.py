"""Deploy the whole contract set wired together, and read or write its deployment manifest.

Wiring: MembershipCard (the city is admin) -> CommunityBadges and OutcomeRegistry read roles from it; the
TimelockController executes for CityGovernor (the governor alone proposes and cancels, anyone executes after the
delay, the deployer renounces the timelock's admin); the timelock is also given the city's admin role on the card,
so the DAO itself can register issuers by proposal.

The manifest `hardhat-free-devnet/deployments/<chainId>.json` is the only place addresses come from.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from backend.chain.artifacts import load_artifacts
from backend.chain.client import ChainClient
from backend.errors import DeploymentError
from backend.paths import DEPLOYMENTS_DIR

CONTRACT_NAMES = ("MembershipCard", "CommunityBadges", "TimelockController", "CityGovernor", "OutcomeRegistry")
ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_ADMIN_ROLE = b"\x00" * 32


@dataclass(frozen=True)
class DeploymentParams:
    """Governance settings. Voting delay and period are in blocks (the card's clock); the timelock delay in seconds."""

    voting_delay: int = 1
    voting_period: int = 50
    proposal_threshold: int = 0
    quorum_percent: int = 10
    timelock_delay: int = 60
    card_base_uri: str = "https://dao.kanazawa.example/cards/"


@dataclass(frozen=True)
class DeployedContract:
    address: str
    block_number: int
    tx_hash: str
    artifact_hash: str


@dataclass
class Deployment:
    chain_id: int
    city: str
    params: DeploymentParams
    contracts: dict[str, DeployedContract]
    source_hash: str
    compiler: str
    deployed_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    def contract(self, w3: Web3, name: str) -> Contract:
        return load_artifacts()[name].at(w3, self.contracts[name].address)

    @property
    def start_block(self) -> int:
        return min(c.block_number for c in self.contracts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "_generated": "by backend/chain/deploy.py (kanazawa-dao devnet up); do not edit",
            "chainId": self.chain_id,
            "city": self.city,
            "deployedAt": self.deployed_at,
            "params": asdict(self.params),
            "artifacts": {"sourceHash": self.source_hash, "compiler": self.compiler},
            "contracts": {
                name: {
                    "address": c.address,
                    "blockNumber": c.block_number,
                    "txHash": c.tx_hash,
                    "artifactHash": c.artifact_hash,
                }
                for name, c in self.contracts.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        return cls(
            chain_id=data["chainId"],
            city=data["city"],
            params=DeploymentParams(**data["params"]),
            contracts={
                name: DeployedContract(c["address"], c["blockNumber"], c["txHash"], c["artifactHash"])
                for name, c in data["contracts"].items()
            },
            source_hash=data["artifacts"]["sourceHash"],
            compiler=data["artifacts"]["compiler"],
            deployed_at=data["deployedAt"],
        )


def manifest_path(chain_id: int, directory: Path = DEPLOYMENTS_DIR) -> Path:
    return directory / f"{chain_id}.json"


def write_manifest(deployment: Deployment, directory: Path = DEPLOYMENTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = manifest_path(deployment.chain_id, directory)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(deployment.to_json(), indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a manifest
    return path


def read_manifest(chain_id: int, directory: Path = DEPLOYMENTS_DIR) -> Deployment:
    path = manifest_path(chain_id, directory)
    if not path.exists():
        raise DeploymentError(f"no deployment manifest for chain {chain_id} at {path}; run `kanazawa-dao devnet up`")
    try:
        return Deployment.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise DeploymentError(f"{path} is not a valid deployment manifest ({exc}); delete it and deploy again") from None


def verify_on_chain(deployment: Deployment, w3: Web3) -> list[str]:
    """Names of the manifest's contracts whose runtime code is not on this chain (empty when all match)."""
    problems = []
    if w3.eth.chain_id != deployment.chain_id:
        return [f"chain id is {w3.eth.chain_id}, manifest says {deployment.chain_id}"]
    artifacts = load_artifacts()
    for name, c in deployment.contracts.items():
        code = w3.eth.get_code(Web3.to_checksum_address(c.address))
        if not code:
            problems.append(f"{name}: no code at {c.address}")
        elif name in artifacts and artifacts[name].artifact_hash != c.artifact_hash:
            problems.append(f"{name}: deployed from an older build")
    return problems


def deploy_all(
    client: ChainClient, city: LocalAccount, params: DeploymentParams = DeploymentParams(), *, log=None
) -> Deployment:
    """Deploy and wire every contract from `city`'s account. `log` receives one line per step."""
    say = log or (lambda _msg: None)
    artifacts = load_artifacts()
    deployed: dict[str, DeployedContract] = {}

    def deploy(name: str, *args: Any) -> Contract:
        contract, receipt = artifacts[name].deploy(client, city, *args)
        deployed[name] = DeployedContract(
            contract.address, receipt["blockNumber"], "0x" + receipt["transactionHash"].hex().removeprefix("0x"),
            artifacts[name].artifact_hash,
        )
        say(f"deployed {name} at {contract.address} (block {receipt['blockNumber']}, gas {receipt['gasUsed']:,})")
        return contract

    card = deploy("MembershipCard", city.address, params.card_base_uri)
    deploy("CommunityBadges", card.address)
    timelock = deploy("TimelockController", params.timelock_delay, [], [ZERO_ADDRESS], city.address)
    governor = deploy(
        "CityGovernor", card.address, timelock.address, params.voting_delay, params.voting_period,
        params.proposal_threshold, params.quorum_percent,
    )
    deploy("OutcomeRegistry", card.address, governor.address)

    for role_name in ("PROPOSER_ROLE", "CANCELLER_ROLE"):
        role = getattr(timelock.functions, role_name)().call()
        client.transact(timelock.functions.grantRole(role, governor.address), city)
    client.transact(card.functions.grantRole(DEFAULT_ADMIN_ROLE, timelock.address), city)
    client.transact(timelock.functions.renounceRole(DEFAULT_ADMIN_ROLE, city.address), city)
    say("wired: governor proposes to the timelock, anyone executes, the timelock may register issuers")

    any_artifact = next(iter(artifacts.values()))
    return Deployment(
        chain_id=client.chain_id,
        city=city.address,
        params=params,
        contracts=deployed,
        source_hash=any_artifact.source_hash,
        compiler=any_artifact.compiler["version"],
    )
