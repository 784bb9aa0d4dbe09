"""One study folder: its config, the phases' outputs under it, and what every phase reads from them.

Each phase writes under its own subfolder (``FOLDERS``) and marks itself done
with ``done.json``; what phase A left (the corpus, the splits, the held-out
users) is read once per run and kept on the ``Study``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console

from attune.orchestrator.study import evaluate, splits
from attune.orchestrator.study.config import StudyConfig
from attune.orchestrator.study.data import StudyDataError, User, load_folder
from attune.orchestrator.study.examples import Baseline, examples_for, load_baseline
from attune.services.common.files import atomic_write_json, atomic_write_text
from attune.services.common.settings import CommonSettings

FOLDERS = {"data": "a_data", "baseline": "b_baseline", "global": "c_global", "users": "d_users",
           "persona": "e_persona", "ablations": "f_ablations", "analysis": "f_analysis"}
DONE = "done.json"


class Study:
    """One study folder: its config, its phases' outputs, and the services the phases use."""

    def __init__(self, config: StudyConfig, folder: Path, common: CommonSettings, console: Console | None = None):
        self.config, self.folder, self.common = config, folder, common
        self.console = console or Console(stderr=True)
        self.services = None
        self._users: list[User] | None = None
        self._splits: dict[str, splits.UserSplit] | None = None
        self._embedder = None
        self._usual: dict[str, float] | None = None

    def path(self, phase: str, *parts: str) -> Path:
        return self.folder.joinpath(FOLDERS[phase], *parts)

    def done(self, phase: str) -> bool:
        return self.path(phase, DONE).exists()

    def finish(self, phase: str, summary: dict) -> None:
        atomic_write_json(self.path(phase, DONE), summary)

    # ---- what phase A left (read once per run) ---------------------------------

    def users(self) -> list[User]:
        if self._users is None:
            self._users = load_folder(self.path("data", "corpus"))
        return self._users

    def splits(self) -> dict[str, splits.UserSplit]:
        if self._splits is None:
            raw = json.loads(self.path("data", "splits.json").read_text())
            self._splits = {user: splits.UserSplit(**parts) for user, parts in raw.items()}
        return self._splits

    def usual_lengths(self) -> dict[str, float]:
        """Each user's mean words per assistant reply in train: the target of the verbosity error."""
        if self._usual is None:
            lengths: dict[str, list[int]] = {}
            for example in examples_for(self.users(), {u: s.train for u, s in self.splits().items()},
                                        self.baseline()):
                lengths.setdefault(example.user_id, []).append(evaluate.word_count(example.reference))
            self._usual = {user: float(np.mean(values)) for user, values in lengths.items()}
        return self._usual

    def embedder(self):
        from attune.services.common.embeddings import Embedder

        if self._embedder is None:
            self._embedder = Embedder()
        return self._embedder

    def adapter_dir(self) -> Path:
        """Where the trainer publishes adapters (and the model service finds them)."""
        from attune.services.trainer.settings import TrainerSettings

        return TrainerSettings().resolved_adapter_dir(self.common.data_dir)

    def held_out(self) -> list[str]:
        return json.loads(self.path("data", "held_out.json").read_text())

    def baseline(self) -> Baseline:
        return load_baseline(self.config.baseline)


def check_folder(config: StudyConfig, folder: Path) -> None:
    """Write the config beside the results; a different one already there is refused. A key the stored config
    lacks at any depth (written before that setting existed) must hold its default."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    current = config.model_dump(mode="json")
    if path.exists():
        stored = _with_defaults(yaml.safe_load(path.read_text()) or {},
                                StudyConfig(name=config.name).model_dump(mode="json"))
        changed = sorted(k for k, v in current.items() if stored[k] != v)
        if changed:
            raise StudyDataError(f"{folder} holds a study with another config (differs in: {', '.join(changed)}); "
                                 f"use another --out")
        return
    atomic_write_text(path, yaml.safe_dump(current, sort_keys=False))


def _with_defaults(stored: dict, defaults: dict) -> dict:
    """``stored`` with the keys it lacks, at any depth (``data.difficulty``), filled from ``defaults``."""
    out = dict(stored)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _with_defaults(out[key], value)
    return out


def training_users(study: Study) -> list[User]:
    held_out = set(study.held_out())
    return [u for u in study.users() if u.user_id not in held_out]


def arm_scores(study: Study, *parts: str) -> dict:
    path = study.path(*parts)
    return json.loads(path.read_text()) if path.exists() else {}
