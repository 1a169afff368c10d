"""The relay job kinds of proposals: submitting one, queueing it, executing it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from backend.domain.vocabulary import JobKind
from backend.services import relay
from backend.services.context import Services


@relay.job_kind
@dataclass(frozen=True)
class ProposeJob(relay.JobPayload):
    """A drafted proposal submitted by the relayer (`proposeWithCategory`)."""

    kind: ClassVar[JobKind] = JobKind.PROPOSE
    proposal_id: int
    description: str
    category: int
    targets: list[str]
    values: list[int]
    calldatas: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"proposal_id": str(self.proposal_id), "description": self.description, "category": self.category,
                "actions": {"targets": list(self.targets), "values": [str(v) for v in self.values],
                            "calldatas": list(self.calldatas)}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProposeJob:
        a = data["actions"]
        return cls(int(data["proposal_id"]), data["description"], int(data["category"]), a["targets"],
                   [int(v) for v in a["values"]], a["calldatas"])

    def call(self, services: Services):
        return services.contract("CityGovernor").functions.proposeWithCategory(
            self.targets, self.values, [bytes.fromhex(c[2:]) for c in self.calldatas], self.description,
            self.category)


@dataclass(frozen=True)
class _ProposalStepJob(relay.JobPayload):
    proposal_id: int
    targets: list[str]
    values: list[int]
    calldatas: list[str]
    description_hash: str

    def to_json(self) -> dict[str, Any]:
        return {"proposal_id": str(self.proposal_id), "targets": list(self.targets),
                "values": [str(v) for v in self.values], "calldatas": list(self.calldatas),
                "description_hash": self.description_hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _ProposalStepJob:
        return cls(int(data["proposal_id"]), data["targets"], [int(v) for v in data["values"]], data["calldatas"],
                   data["description_hash"])

    def _args(self) -> tuple:
        return (self.targets, self.values, [bytes.fromhex(c.removeprefix("0x")) for c in self.calldatas],
                bytes.fromhex(self.description_hash[2:]))


@relay.job_kind
@dataclass(frozen=True)
class QueueJob(_ProposalStepJob):
    """A succeeded proposal queued in the timelock (the governor's `queue`)."""

    kind: ClassVar[JobKind] = JobKind.QUEUE_PROPOSAL

    def call(self, services: Services):
        return services.contract("CityGovernor").functions.queue(*self._args())


@relay.job_kind
@dataclass(frozen=True)
class ExecuteJob(_ProposalStepJob):
    """A queued proposal carried out once the timelock's delay has passed (the governor's `execute`)."""

    kind: ClassVar[JobKind] = JobKind.EXECUTE_PROPOSAL

    def call(self, services: Services):
        return services.contract("CityGovernor").functions.execute(*self._args())


STEP_JOBS: dict[str, type[_ProposalStepJob]] = {"queue": QueueJob, "execute": ExecuteJob}
STEP_KINDS = {step: job.kind for step, job in STEP_JOBS.items()}


