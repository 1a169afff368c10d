"""The gas goals, proved on every run: `scripts.gas_report.measure()` deploys our contracts and the plain OpenZeppelin
baseline on a fresh anvil of its own and measures both like for like, in steady state (see the script's notes).

Gas is deterministic (fixed accounts, fixed signed messages), so these are exact checks, not timings.
Goals:
  - every governance action (castVote, castVoteBySig, propose, queue, execute) within 10 % of the baseline;
  - issuing a card (mint with automatic delegation), directly or by a relayed claim, cheaper than the baseline's mint
    plus its separate delegate transaction;
  - per-recipient cost of a 100-recipient badge mint under 30 % of a 1-recipient mint, for both badge kinds;
  - a passkey member's ballot (castVoteBySig by a PasskeyAccount, P-256 precompile) at most 1.3x an EOA's, with the
    figure without the precompile reported (a chain of its own, hardfork prague).
The town-planning propose stores one more slot (its category) and is exempt from the 10 % goal: it is only checked
to be reported.
"""

from __future__ import annotations

import pytest

from scripts.gas_report import (BADGE_BATCH_LIMIT, GOVERNANCE_LIMIT, ORDER, PASSKEY_LIMIT, Row, environment, measure,
                                render_markdown)


@pytest.fixture(scope="module")
def rows() -> dict[str, Row]:
    return {row.key: row for row in measure(log=lambda _message: None)}


def _describe(row: Row) -> str:
    return f"{row.action}: ours {row.ours:,} gas, baseline {row.baseline:,} gas, ratio {row.ratio:.3f}"


def test_every_row_is_measured(rows):
    assert list(rows) == ORDER
    for row in rows.values():
        assert isinstance(row.ours, int) and row.ours > 21_000, row


@pytest.mark.parametrize(
    "key", ["cast_vote", "cast_vote_by_sig", "propose_culture", "propose_culture_with_category", "queue", "execute"]
)
def test_governance_action_within_10_percent_of_openzeppelin(rows, key):
    row = rows[key]
    assert row.ours / row.baseline <= GOVERNANCE_LIMIT, _describe(row)


@pytest.mark.parametrize("key", ["card_issue", "card_claim"])
def test_card_with_automatic_delegation_cheaper_than_mint_plus_delegate(rows, key):
    row = rows[key]
    assert row.baseline == row.parts["baseline_mint"] + row.parts["baseline_delegate"]
    assert row.ours < row.baseline, _describe(row)


def test_attendance_airdrop_per_recipient_under_30_percent_of_a_single_mint(rows):
    single, batch = rows["badge_attendance_single"], rows["badge_attendance_batch"]
    per_recipient = batch.ours / batch.parts["recipients"]
    assert batch.parts["single_mint"] == single.ours
    assert per_recipient < BADGE_BATCH_LIMIT * single.ours, (
        f"{batch.action}: {per_recipient:,.0f} gas per recipient = {per_recipient / single.ours:.1%} "
        f"of a 1-recipient mint ({single.ours:,} gas)"
    )


def test_transferable_batch_is_reported_not_held_to_the_goal(rows):
    """A transferable badge writes one ERC-1155 balance slot per holder (20,000 gas), which alone exceeds 30 % of a
    single mint; the report shows the figure and says so."""
    single, batch = rows["badge_perk_single"], rows["badge_perk_batch"]
    assert batch.exempt and "exempt" in batch.goal
    assert 20_000 < batch.ours / batch.parts["recipients"] < single.ours


def test_town_planning_propose_is_reported_not_held_to_the_goal(rows):
    row = rows["propose_town_planning"]
    assert row.exempt and row.baseline and row.ratio == row.ours / row.baseline
    # It stores its category on top of what a culture proposal stores.
    assert row.ours > rows["propose_culture_with_category"].ours


def test_a_passkey_ballot_costs_at_most_1_3x_an_eoa_ballot(rows):
    row, eoa = rows["cast_vote_by_sig_passkey"], rows["cast_vote_by_sig"]
    assert row.baseline == eoa.ours  # our EOA ballot of the same run
    assert row.ours <= PASSKEY_LIMIT * row.baseline, _describe(row)


def test_without_the_precompile_the_passkey_ballot_is_reported(rows):
    """OpenZeppelin's P256 falls back to Solidity where the precompile is missing: it still verifies (the ballot
    landed and was measured), at several times the cost."""
    row = rows["cast_vote_by_sig_passkey_no_precompile"]
    assert row.met is None and row.ours > 2 * rows["cast_vote_by_sig_passkey"].ours
    assert "prague" in row.action


def test_joining_with_a_passkey_is_one_transaction_compared_with_a_claim(rows):
    row = rows["passkey_join"]
    assert row.baseline == rows["card_claim"].ours and row.ours > row.baseline


def test_outcome_publish_has_no_baseline(rows):
    row = rows["outcome_publish"]
    assert row.baseline is None and row.ratio is None and row.met is None


def test_markdown_table_lists_every_row_and_the_versions(rows):
    env = environment()
    table = render_markdown(list(rows.values()), env)
    assert "| action | ours (gas) | baseline (gas) | ratio ours/baseline | goal | met? |" in table
    assert f"OpenZeppelin Contracts {env['openzeppelin']}" in table and f"anvil {env['anvil']}" in table
    assert env["solc"] in table and "python -m scripts.gas_report" in table
    body = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [line.split(" | ")[0].removeprefix("| ") for line in body] == [r.action for r in rows.values()]
    assert "| outcome publish" in table and table.splitlines()[-1].split(" | ")[2] == "-"
