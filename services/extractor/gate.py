"""Does a user turn state a preference? The gate before the extractor's model call.

A logistic regression over the turn's all-MiniLM-L6-v2 embedding, trained on the train families of
``bench/memory_data`` (statements of every schema option in seven styles) against turns that state none
(follow-ups, thanks, tasks, the benchmark's own requests, task problems). It replaces a list of cue phrases,
which missed most ways people state preferences ("non-negotiable for me: ...", "it's how I'm used to
working: ...") and fired on ordinary words ("why do electrons never ..."); docs/memory.md has both measured.
The weights are ``data/gate.json`` (385 numbers), written by ``bench/memory_quality.py --train-gate``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

WEIGHTS = "gate.json"


@dataclass(frozen=True)
class GateWeights:
    embedder_id: str
    coef: np.ndarray
    intercept: float

    @classmethod
    def load(cls, path: Path | None = None) -> GateWeights:
        text = path.read_text() if path else resources.files("attune.services.extractor").joinpath(
            "data", WEIGHTS).read_text()
        data = json.loads(text)
        return cls(data["embedder_id"], np.asarray(data["coef"], np.float32), float(data["intercept"]))

    def save(self, path: Path, trained_on: dict) -> None:
        path.write_text(json.dumps({"embedder_id": self.embedder_id, "trained_on": trained_on,
                                    "intercept": round(self.intercept, 6),
                                    "coef": [round(float(c), 6) for c in self.coef]}, indent=None) + "\n")


class PreferenceGate:
    """The probability that turns state a preference, from their embeddings (``embedder`` must be the one the
    weights were trained with: the service refuses another at start)."""

    def __init__(self, embedder, weights: GateWeights | None = None, owns_embedder: bool = False):
        self.weights = weights or GateWeights.load()
        if embedder.id != self.weights.embedder_id or embedder.dim != self.weights.coef.shape[0]:
            raise ValueError(f"the preference gate was trained on {self.weights.embedder_id} "
                             f"({self.weights.coef.shape[0]} dimensions), the embedder is {embedder.id} "
                             f"({embedder.dim}): set ATTUNE_EXTRACTOR_GATE=cues or retrain the gate")
        self.embedder = embedder
        self.owns_embedder = owns_embedder

    async def probabilities(self, turns: list[str]) -> np.ndarray:
        vectors = await self.embedder.aembed(turns)
        return 1 / (1 + np.exp(-(vectors @ self.weights.coef + self.weights.intercept)))

    def close(self) -> None:
        if self.owns_embedder:
            self.embedder.close()
