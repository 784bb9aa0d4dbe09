"""The layers hold (import-linter's contracts in pyproject.toml), and a crossing import breaks them.

Lowest first: the stubs and services/common; attune.preferences (the profile schema and the checkers
the judge and the orchestrator share); the services; the orchestrator; its CLI.
"""

from __future__ import annotations

import shutil

from scripts import lint_imports
from tests.fixtures.wheel import ROOT


def test_every_layer_contract_is_kept(processes):
    done = lint_imports.lint({name: ROOT / name for name in lint_imports.FOLDERS})
    assert done.returncode == 0, done.stdout
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_the_judge_service_importing_the_orchestrator_breaks_the_layers(processes, tmp_path):
    services = tmp_path / "services"
    shutil.copytree(ROOT / "services", services, ignore=shutil.ignore_patterns("__pycache__"))
    (services / "judge" / "crossing.py").write_text("from attune.orchestrator.profiles import load_profiles\n")
    done = lint_imports.lint({**{name: ROOT / name for name in lint_imports.FOLDERS}, "services": services})
    assert done.returncode != 0
    assert "Layers: orchestrator > services > preferences > stubs BROKEN" in done.stdout
    assert "attune.services.judge.crossing -> attune.orchestrator.profiles" in done.stdout


def test_the_orchestrator_importing_the_judge_core_breaks_the_layers(processes, tmp_path):
    orchestrator = tmp_path / "orchestrator"
    shutil.copytree(ROOT / "orchestrator", orchestrator, ignore=shutil.ignore_patterns("__pycache__"))
    (orchestrator / "crossing.py").write_text("from attune.services.judge.core import JudgeService\n")
    done = lint_imports.lint({**{name: ROOT / name for name in lint_imports.FOLDERS}, "orchestrator": orchestrator})
    assert done.returncode != 0
    assert "attune.orchestrator.crossing -> attune.services.judge.core" in done.stdout
