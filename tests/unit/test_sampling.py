"""A retry samples with a seed of its own; the first try decodes as configured."""

from __future__ import annotations

from attune.services.common.sampling import SEED_STEP, attempt_sampling


def test_the_first_try_decodes_as_configured():
    assert attempt_sampling(0, 0.0, 42, 0.7) == (0.0, 42)
    assert attempt_sampling(0, 1.2, 42, 0.7) == (1.2, 42)


def test_each_retry_samples_with_its_own_seed():
    tries = [attempt_sampling(n, 0.0, 42, 0.7) for n in range(4)]
    assert [t for t, _ in tries[1:]] == [0.7, 0.7, 0.7]
    assert len({s for _, s in tries}) == 4 and tries[2][1] == 42 + 2 * SEED_STEP
    assert attempt_sampling(1, 1.2, 42, 0.7)[0] == 1.2
