"""Seen under fault (b): after the chain came back, members got `409 a different ballot with nonce N ... was already
accepted` for ballots signed from fresh typed data. `ballots.next_nonce` read the voter's nonce from the chain,
then the ballots still in flight from the database: a ballot that landed between the two reads was in neither, so
the typed data carried a nonce already used. It now reads the database first. Here the relayer (the worker's own
code, in process) relays the ballot exactly between the two reads."""

from __future__ import annotations

from backend.services import chain_checks
from backend.services.relay import Relayer
from tests.dao import FOR
from tests.faults.scenario import Scenario


def test_typed_data_nonce_when_a_ballot_lands_between_the_reads(rig, monkeypatch):
    scenario = Scenario(rig, "nonce race")
    scenario.prepare(members=1, proposals=2, claims=0)
    voter, (first, second) = scenario.members[0], scenario.proposals
    rig.stack.stop_worker(kill=True)  # the ballot stays pending until the gap (the rig fixture restarts the worker)
    scenario.vote(voter, first, FOR)
    (job_id,) = scenario.accepted
    original = chain_checks.call
    landed = []

    def call(services, fn):
        result = original(services, fn)
        if fn.fn_name == "nonces" and not landed:  # the chain has been read: now the ballot lands
            assert Relayer(rig.stack.services).process(job_id) == "confirmed"
            landed.append(job_id)
        return result

    monkeypatch.setattr(chain_checks, "call", call)
    typed = rig.stack.api.get("/ballots/typed-data", params={"proposal_id": str(second), "support": FOR,
                                                             "voter": voter.address})
    assert landed and rig.dao.governor.functions.nonces(voter.address).call() == 1
    assert typed.json()["message"]["nonce"] == "1"
