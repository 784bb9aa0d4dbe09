"""Conflict-aware ranking and selection (pure logic of ``choose_by_condition``)."""

import numpy as np

from attune.services.retrieval.conflicts import choose_by_condition

# Candidates by score: 0 (tables), 1 (numbered steps), 2 (no group), 3 (bullets), rivals 0, 1 and 3 in one group.
GROUPS = ["format", "format", "", "format"]


def test_the_card_whose_condition_fits_leads_its_group_and_its_rivals_stay_out():
    conditions = np.array([0.2, 0.7, 0.1, 0.3])
    ranked, chosen = choose_by_condition([0, 1, 2, 3], GROUPS, conditions, select_k=3, hold=0.6)
    assert ranked == [1, 3, 2, 0], "the group's places (0, 1, 3) refilled by condition: 1, 3, 0"
    assert chosen == {1, 2}, "one card of the group, and the card without a group"


def test_rivals_are_selected_together_when_both_conditions_hold():
    conditions = np.array([0.65, 0.7, 0.1, 0.3])
    ranked, chosen = choose_by_condition([0, 1, 2, 3], GROUPS, conditions, select_k=3, hold=0.6)
    assert ranked == [1, 0, 2, 3]
    assert chosen == {1, 0, 2}


def test_cards_without_a_group_rank_by_score_alone():
    ranked, chosen = choose_by_condition([2, 0, 1], ["", "", ""], np.array([0.9, 0.1, 0.5]), select_k=2, hold=0.6)
    assert ranked == [2, 0, 1] and chosen == {2, 0}


def test_an_unconditional_card_holds_for_every_request():
    conditions = np.array([0.7, 0.1, 0.1, 0.3])  # card 1 says "always": its condition is not like any request
    always = [False, True, False, False]
    ranked, chosen = choose_by_condition([0, 1, 2, 3], GROUPS, conditions, select_k=3, hold=0.6, always=always)
    assert ranked == [0, 3, 2, 1]
    assert chosen == {0, 2, 1}, "card 0's condition holds and card 1 always does: both reach the context"
    _, chosen = choose_by_condition([0, 1, 2, 3], GROUPS, conditions, select_k=3, hold=0.6)
    assert chosen == {0, 2}, "without the flag card 1 is a rival whose condition does not hold"
