"""``attune study edgewise``: the adapter study as resumable phases writing under one study folder; this module
runs them in order (the study folder: folder.py; replies and their scores: replies.py; trainer jobs:
training.py).

Phases, in order (each skipped when its ``done.json`` exists, so a killed study
resumes at the phase it was in; replies already generated are kept too):

- ``data`` (A, prepare.py): load or generate the corpus, clean it, split each user's
  sessions in time order, validate and describe the split, set aside held-out
  users (the cold-start set), user style features and k-means clusters;
- ``baseline`` (B, baseline.py): the base model with the versioned neutral prompt, scored on
  every user's test replies;
- ``global`` (C, global_adapters.py): LoRA and prefix adapters trained as trainer jobs on all
  training users' train split (early stopping on validation ROUGE-L), scored
  like the baseline, with per-user and macro deltas;
- ``users`` (D, user_adapters.py): per training user, a micro-update of the global adapter (or a
  fresh one) on that user's online slice under a token budget, scored on that
  user's test replies; the size of the update against the lift it brought;
  with ``cluster_adapters``, per style cluster the global LoRA updated on its
  members' online slices, and a tiny per-user delta on top of it;
- ``persona`` (E, persona.py): each test dialogue's first user message ranked against
  per-user embedding centroids of the train split, with MiniLM and with the
  model's own pooled states (base, and each global LoRA adapter);
- ``ablations`` (F, ablations.py): LoRA target modules and prefix lengths (global adapters
  trained alike) and the online budget of a per-user update, each scored on the
  same users' test replies;
- ``analysis`` (F, analysis.py): every arm against the baseline over users,
  plots, a recommendation by an explicit rule, REPORT.md, REPRODUCIBILITY.md,
  and a row per arm in the study's experiments.csv. It runs again whenever asked
  for (it is cheap), so the report follows the phases done so far.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from rich.console import Console

from attune.orchestrator.study import PHASES
from attune.orchestrator.study.ablations import phase_ablations
from attune.orchestrator.study.baseline import phase_baseline
from attune.orchestrator.study.config import StudyConfig
from attune.orchestrator.study.data import StudyDataError
from attune.orchestrator.study.folder import DONE, Study, check_folder
from attune.orchestrator.study.global_adapters import phase_global
from attune.orchestrator.study.persona import phase_persona
from attune.orchestrator.study.prepare import phase_data
from attune.orchestrator.study.user_adapters import phase_users
from attune.services.common.settings import CommonSettings


async def _open_services(study: Study, stack: AsyncExitStack):
    from attune.orchestrator.memory import open_in_process

    services = await open_in_process(study.common, needs=("trainer",), state_dir=study.folder / "state")
    stack.push_async_callback(services.close)
    return services


def phase_analysis(study: Study) -> dict:
    from attune.orchestrator.study.analysis import phase_analysis as analyse

    summaries = {p: json.loads(study.path(p, DONE).read_text()) for p in PHASES if study.done(p)}
    return analyse(study.folder, summaries, study.held_out())


PHASE_RUNNERS: dict[str, Callable] = {"data": phase_data, "baseline": phase_baseline, "global": phase_global,
                                      "users": phase_users, "persona": phase_persona,
                                      "ablations": phase_ablations, "analysis": phase_analysis}
NEEDS_MODEL = frozenset({"baseline", "global", "users", "ablations"})
# phase -> the phases whose outputs it reads
REQUIRES = {"baseline": ("data",), "global": ("data", "baseline"), "users": ("data", "baseline", "global"),
            "persona": ("data",), "ablations": ("data", "global"), "analysis": ("data", "baseline")}
ALWAYS_RUN = frozenset({"analysis"})


async def run_study(config: StudyConfig, folder: Path, common: CommonSettings, phases: tuple[str, ...] = PHASES,
                    console: Console | None = None) -> dict:
    """Run the phases not yet done, in order; return each phase's summary."""
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise StudyDataError(f"unknown phase(s) {', '.join(unknown)}; the phases are {', '.join(PHASES)}")
    check_folder(config, folder)
    study = Study(config, folder, common, console)
    summaries = {}
    async with AsyncExitStack() as stack:
        for phase in [p for p in PHASES if p in phases]:
            summaries[phase] = await run_phase(study, phase, stack)
    return summaries


async def run_phase(study: Study, phase: str, stack: AsyncExitStack) -> dict:
    """A phase's summary: the stored one where it is done (and not always run), else from running it now."""
    if study.done(phase) and phase not in ALWAYS_RUN:
        return json.loads(study.path(phase, DONE).read_text())
    missing = [p for p in REQUIRES.get(phase, ()) if not study.done(p)]
    if missing:
        raise StudyDataError(f"phase {phase} needs phase(s) {', '.join(missing)} first")
    study.console.print(f"[bold]phase {phase}[/]")
    if phase in NEEDS_MODEL and study.services is None:
        study.services = await _open_services(study, stack)
    result = PHASE_RUNNERS[phase](study)
    summary = await result if asyncio.iscoroutine(result) else result
    study.finish(phase, summary)
    return summary
