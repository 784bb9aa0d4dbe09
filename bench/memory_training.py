"""What the memory-quality run can train on the train split (``--finetune``, ``--train-gate``): a MiniLM
fine-tuned on the train families, and the extractor's preference gate (services/extractor/data/gate.json)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from bench.memory_cases import Option, conflicts, fill, negatives, options, requests, statements, task_problems

# Forms of a preference said with no condition.
BARE = ("{preference}.", "Please {preference}.")


def finetune(cases: dict, out: Path, epochs: int = 2, seed: int = 0) -> Path:
    """all-MiniLM-L6-v2 fine-tuned with sentence-transformers (in-batch negatives) on the train split's pairs:
    each train request, train conflict and train-family statement with the card it should find."""
    import torch
    from sentence_transformers import InputExample, SentenceTransformer
    from sentence_transformers.sentence_transformer import losses
    from torch.utils.data import DataLoader

    from attune.services.common.embeddings import default_model_path

    torch.manual_seed(seed)
    opts, rng = options(), random.Random(seed)
    train = [*requests(cases, opts, "train"), *conflicts(cases, "train"), *statements(cases, opts, "train", 2, rng)]
    pairs = [InputExample(texts=[c.text, f"When {opts[c.option].condition}: {opts[c.option].preference}"])
             for c in train]
    model = SentenceTransformer(str(default_model_path()), device="cpu")
    loader = DataLoader(pairs, shuffle=True, batch_size=32)
    model.fit(train_objectives=[(loader, losses.MultipleNegativesRankingLoss(model))], epochs=epochs,
              warmup_steps=5, show_progress_bar=False)
    model.save(str(out))
    return out


def train_gate(cases: dict, embedder, out: Path, seed: int = 0) -> dict:
    """Fit the gate's logistic regression on the train split: statements of every option in the train
    families (800 drawn) and each option's preference said bare ("Use SI units throughout.", "Please use ...":
    users state preferences without a condition too), against the train negatives, the train requests and half the
    problems of each shipped task sample (turns that ask for work and state no preference), each whole and
    sentence by sentence, as the gate scores them. Writes the weights; returns what it saw."""
    from sklearn.linear_model import LogisticRegression

    from attune.services.extractor.gate import GateWeights, parts

    opts, rng = options(), random.Random(seed)
    stated = rng.sample([c.text for c in statements(cases, opts, "train", len(opts), rng)], 800)
    stated += [fill(form, preference=o.preference) for o in opts.values() for form in BARE]
    unstated = [p for text in gate_negatives(cases, opts, "train") for p in dict.fromkeys(parts(text))]
    vectors = embedder.embed(stated + unstated)
    labels = np.array([1] * len(stated) + [0] * len(unstated))
    fitted = LogisticRegression(C=10, class_weight="balanced", max_iter=5000).fit(vectors, labels)
    trained_on = {"statements": len(stated), "other turns": len(unstated), "seed": seed,
                  "by": "bench/memory_quality.py --train-gate"}
    GateWeights(embedder.id, fitted.coef_[0].astype(np.float32), float(fitted.intercept_[0])).save(out, trained_on)
    return trained_on


def gate_negatives(cases: dict, opts: dict[str, Option], split: str) -> list[str]:
    """Turns that state no preference: the split's negatives and requests, and task problems."""
    return [c.text for c in [*negatives(cases, split), *requests(cases, opts, split)]] + task_problems(split)
