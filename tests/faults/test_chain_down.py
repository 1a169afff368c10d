"""Fault (b): anvil stops (saving its state) while members vote, the worker relays and the indexer follows the head,
then comes back on the same port with the same chain. The API answers 503 meanwhile, the worker retries, the
indexer process rides it out and catches up."""

from __future__ import annotations

import time

from tests.faults.scenario import Scenario, check_all, wait_until

DOWN_S = 12.0


def test_chain_stops_while_indexing_and_relaying(rig):
    scenario = Scenario(rig, "anvil stopped")
    with scenario.reporting():
        scenario.prepare(members=40, proposals=2, claims=4)
        scenario.start_load()
        wait_until(lambda: scenario.accepted_count() >= 15 and scenario.statuses()["confirmed"] >= 5,
                   timeout=60, what="the load under way")
        scenario.figures["in_flight_at_stop"] = sum(n for s, n in scenario.statuses().items() if s != "confirmed")
        rig.stop_chain()
        time.sleep(DOWN_S)
        rig.start_chain()
        restored = time.monotonic()
        scenario.figures.update(chain_down_s=DOWN_S, load_s=round(scenario.wait_load(), 1))
        rig.wait_jobs_final(set(scenario.accepted), timeout=200)
        scenario.figures["jobs_final_after_s"] = round(time.monotonic() - restored, 1)
        rig.wait_indexed()
        scenario.figures["indexer_caught_up_after_s"] = round(time.monotonic() - restored, 1)
        scenario.figures["unavailable"] = scenario.unavailable_details()[:3]
        assert scenario.count(status=503) > 0, "no request met the outage"
        scenario.check_answers()
        check_all(scenario)
