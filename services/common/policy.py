"""The card-selection policy and its REINFORCE update (pure numpy).

Shared by the retrieval service (which scores and selects cards) and the
user-vector service (which learns from rewards), so both use one definition:

    s_m    = s0_m + (beta_L * z_long + beta_S * z_short) . v_m
    pi     = softmax(s / tau)
    g      = (r - baseline) / tau * (v_chosen - E_pi[v])
    z_long  += eta_L * g
    z_short  = (1 - decay) * z_short + eta_S * g
    baseline = (1 - ema) * baseline + ema * r

``v_m`` is the card's item vector: its sentence embedding mapped to the
user-vector dimension by a fixed, seeded random projection. Unlike a PCA fitted
on the current cards, a fixed projection never changes meaning when cards are
added, so stored user vectors stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECTION_SEED = 20260311


@dataclass(frozen=True)
class PolicyConfig:
    """Defaults are the published configuration of the method (VARS)."""

    dim: int = 256
    beta_long: float = 0.1
    beta_short: float = 0.3
    tau: float = 1.0
    eta_long: float = 1e-3
    eta_short: float = 5e-3
    baseline_ema: float = 0.05
    short_decay: float = 0.1


_DEFAULTS = PolicyConfig()


class PolicySettings(BaseSettings):
    """The one configuration of the policy, read by retrieval and uservec alike (prefix ATTUNE_POLICY_).

    Both services must agree on it (the dimension above all), so it has one prefix, documented once
    in docs/memory.md.
    """

    model_config = SettingsConfigDict(env_prefix="ATTUNE_POLICY_", extra="ignore")

    dim: int = Field(_DEFAULTS.dim, ge=1, le=65536)
    beta_long: float = Field(_DEFAULTS.beta_long, allow_inf_nan=False)
    beta_short: float = Field(_DEFAULTS.beta_short, allow_inf_nan=False)
    tau: float = Field(_DEFAULTS.tau, gt=0, allow_inf_nan=False)
    eta_long: float = Field(_DEFAULTS.eta_long, ge=0, allow_inf_nan=False)
    eta_short: float = Field(_DEFAULTS.eta_short, ge=0, allow_inf_nan=False)
    baseline_ema: float = Field(_DEFAULTS.baseline_ema, ge=0, le=1)
    short_decay: float = Field(_DEFAULTS.short_decay, ge=0, le=1)

    def config(self) -> PolicyConfig:
        return PolicyConfig(**self.model_dump())


def policy_from_env() -> PolicyConfig:
    """The policy ATTUNE_POLICY_* configures; a bad value raises SettingsError naming the variable."""
    from attune.services.common.settings import load

    return load(PolicySettings).config()


@lru_cache(maxsize=8)
def _projection(in_dim: int, out_dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((in_dim, out_dim)) / np.sqrt(out_dim)).astype(np.float32)


def item_vectors(embeddings: np.ndarray, dim: int, seed: int = PROJECTION_SEED) -> np.ndarray:
    """Item vectors [N, dim] of sentence embeddings [N, d]."""
    embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
    return embeddings @ _projection(embeddings.shape[1], dim, seed)


def policy(base_scores: np.ndarray, items: np.ndarray, z_long: np.ndarray, z_short: np.ndarray,
           config: PolicyConfig) -> tuple[np.ndarray, np.ndarray]:
    """(personalized scores, softmax probabilities) of the candidates."""
    if len(base_scores) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    z_eff = config.beta_long * z_long + config.beta_short * z_short
    scores = np.asarray(base_scores, dtype=np.float64) + items @ z_eff
    scaled = scores / config.tau
    weights = np.exp(scaled - scaled.max())
    return scores.astype(np.float32), (weights / weights.sum()).astype(np.float32)


def reinforce(z_long: np.ndarray, z_short: np.ndarray, baseline: float, reward: float, items: np.ndarray,
              probabilities: np.ndarray, chosen: list[int], config: PolicyConfig
              ) -> tuple[np.ndarray, np.ndarray, float]:
    """One REINFORCE step; returns new (z_long, z_short, baseline). Inputs are not modified.

    With no chosen card there is no action to credit: only the baseline moves.
    """
    new_baseline = (1 - config.baseline_ema) * baseline + config.baseline_ema * reward
    if not chosen or len(items) == 0:
        return z_long.copy(), z_short.copy(), new_baseline
    v_chosen = items[sorted(set(chosen))].mean(axis=0)
    v_expected = probabilities @ items
    grad = (reward - baseline) / config.tau * (v_chosen - v_expected)
    return (z_long + config.eta_long * grad,
            (1 - config.short_decay) * z_short + config.eta_short * grad,
            new_baseline)
