"""The selection policy and REINFORCE step, checked against hand-computed values."""

import numpy as np
import pytest

from attune.services.common.policy import PolicyConfig, item_vectors, policy, reinforce

CONFIG = PolicyConfig(dim=2, beta_long=1.0, beta_short=0.5, tau=0.5, eta_long=0.1, eta_short=0.2,
                      baseline_ema=0.5, short_decay=0.1)
ITEMS = np.array([[1.0, 0.0], [0.0, 1.0]])


def test_scores_add_the_user_term_and_softmax_uses_tau():
    scores, probs = policy(np.array([0.2, 0.1]), ITEMS, np.array([0.4, 0.0]), np.array([0.0, 0.2]), CONFIG)
    assert scores == pytest.approx([0.6, 0.2])
    expected = np.exp(np.array([0.6, 0.2]) / 0.5)
    assert probs == pytest.approx(expected / expected.sum())


def test_reinforce_moves_towards_a_rewarded_choice():
    z_long, z_short = np.zeros(2), np.array([1.0, 1.0])
    probs = np.array([0.5, 0.5])
    new_long, new_short, baseline = reinforce(z_long, z_short, 0.2, 1.0, ITEMS, probs, [0], CONFIG)
    grad = (1.0 - 0.2) / 0.5 * (np.array([1.0, 0.0]) - np.array([0.5, 0.5]))
    assert new_long == pytest.approx(0.1 * grad)
    assert new_short == pytest.approx(0.9 * z_short + 0.2 * grad)
    assert baseline == pytest.approx(0.6)
    assert new_long[0] > 0 > new_long[1]


def test_a_negative_reward_moves_away():
    new_long, _, _ = reinforce(np.zeros(2), np.zeros(2), 0.0, -1.0, ITEMS, np.array([0.5, 0.5]), [0], CONFIG)
    assert new_long[0] < 0 < new_long[1]


def test_no_choice_moves_only_the_baseline():
    z = np.array([0.3, 0.3])
    new_long, new_short, baseline = reinforce(z, z, 0.0, 1.0, ITEMS, np.array([0.5, 0.5]), [], CONFIG)
    assert new_long == pytest.approx(z) and new_short == pytest.approx(z) and baseline == pytest.approx(0.5)


def test_item_vectors_are_a_fixed_projection():
    emb = np.random.default_rng(0).standard_normal((3, 384))
    first, again = item_vectors(emb, 256), item_vectors(emb, 256)
    assert first.shape == (3, 256) and np.array_equal(first, again)
    assert item_vectors(emb[:1], 256) == pytest.approx(first[:1], abs=1e-5)
