"""Does a user turn state a preference? The gate before the extractor's model call.

A logistic regression over the turn's all-MiniLM-L6-v2 embedding, trained on the train families of
``bench/memory_data`` (statements of every schema option in seven styles) against turns that state none
(follow-ups, thanks, tasks, the benchmark's own requests, task problems). It replaces a list of cue phrases,
which missed most ways people state preferences ("non-negotiable for me: ...", "it's how I'm used to
working: ...") and fired on ordinary words ("why do electrons never ..."); docs/memory.md has both measured.
The weights are ``data/gate.json`` (385 numbers), written by ``bench/memory_quality.py --train-gate``.

A turn is scored whole and sentence by sentence, and its probability is the highest: a simulated user's turn
is often a task with one preference sentence in it ("Why does this work? Please don't list the reasons as
bullets: <problem>"), whose whole embedding is the task's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

WEIGHTS = "gate.json"
# Sentence ends, a colon before more text, and line breaks; a turn's first MAX_PARTS parts are scored.
_PARTS = re.compile(r"(?<=[.!?:;])\s+|\n+")
MAX_PARTS = 12


def parts(turn: str) -> list[str]:
    """The turn, then its sentences (more than one word each) when it has more than one."""
    pieces = [p.strip() for p in _PARTS.split(turn.strip()) if len(p.split()) > 1]
    return [turn, *pieces[:MAX_PARTS]] if len(pieces) > 1 else [turn]


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
        """Each turn's probability: the highest of the turn's and its sentences' (``parts``)."""
        return np.array([max(p for _, p in scored) for scored in await self.scored_parts(turns)], np.float32)

    async def scored_parts(self, turns: list[str]) -> list[list[tuple[str, float]]]:
        """Each turn's parts (the turn, then its sentences) with their probabilities, in one encoder batch."""
        split = [parts(t) for t in turns]
        vectors = await self.embedder.aembed([p for pieces in split for p in pieces])
        scores = (1 / (1 + np.exp(-(vectors @ self.weights.coef + self.weights.intercept)))).tolist()
        out, start = [], 0
        for pieces in split:
            out.append(list(zip(pieces, scores[start:start + len(pieces)], strict=True)))
            start += len(pieces)
        return out

    def close(self) -> None:
        if self.owns_embedder:
            self.embedder.close()
