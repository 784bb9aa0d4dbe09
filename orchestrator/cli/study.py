"""``attune study edgewise`` and ``attune study generate``: the adapter study's phases (study/pipeline.py) and
its synthetic corpus (docs/study.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from attune.orchestrator.cli.shared import console, fail
from attune.orchestrator.study import PHASES as STUDY_PHASES
from attune.services.common.settings import CommonSettings


def cmd_study(args, common: CommonSettings) -> int:
    """Run the study's phases; print each phase's summary."""
    from attune.orchestrator.study.config import load_config
    from attune.orchestrator.study.data import StudyDataError
    from attune.orchestrator.study.pipeline import run_study
    from attune.services.common.logging import setup_logging

    setup_logging("attune-study", "info", json=False)  # the cleaning counts and phase events, not every call
    try:
        config = load_config(args.config)
        phases = tuple(args.phases.split(",")) if args.phases else STUDY_PHASES
        folder = Path(args.out or f"studies/{config.name}")
        summaries = asyncio.run(run_study(config, folder, common, phases, console))
    except StudyDataError as err:
        return fail(err)
    for phase, summary in summaries.items():
        console.print(f"[bold]{phase}[/]: {json.dumps(summary)}")
    print(folder)
    return 0


def cmd_study_generate(args, common: CommonSettings) -> int:
    from attune.orchestrator.study.data import write_folder
    from attune.orchestrator.study.generate import Difficulty, generate_corpus

    try:
        difficulty = Difficulty(paraphrase=args.paraphrase, noise=args.noise, drift=args.drift,
                                context_only=args.context_only)
        users = generate_corpus(args.users, args.sessions, args.seed, difficulty)
    except ValueError as err:  # a knob outside 0..1 too (pydantic's ValidationError)
        return fail(err)
    print(write_folder(users, args.out))
    return 0


def add_parsers(sub) -> None:
    study = sub.add_parser("study", help="the adapter study on EdgeWisePersona-format data (docs/study.md)")
    ssub = study.add_subparsers(dest="study_command", required=True)
    edgewise = ssub.add_parser("edgewise", help="run the study's phases not yet done (resumes a killed study)")
    edgewise.add_argument("--config", default="study",
                          help="study YAML, or the name of a shipped one (default: study, the synthetic corpus)")
    edgewise.add_argument("--out", help="study folder (default studies/<name>)")
    edgewise.add_argument("--phases", help=f"comma-separated subset of {','.join(STUDY_PHASES)} (default: all)")
    edgewise.set_defaults(func=cmd_study)
    corpus = ssub.add_parser("generate", help="write a seeded synthetic corpus in the EdgeWisePersona format")
    corpus.add_argument("--out", required=True, help="folder for characters/routines/sessions.jsonl")
    corpus.add_argument("--users", type=int, default=12)
    corpus.add_argument("--sessions", type=int, default=20, help="sessions per user")
    corpus.add_argument("--seed", type=int, default=0)
    # The corpus's difficulty (docs/study.md, Data); all 0 is the fixed-wording corpus, study.yaml's default is
    # --paraphrase 0.4 --noise 0.2 --drift 0.3 --context-only 0.3.
    for knob, what in (("paraphrase", "share of requests and replies worded from the larger banks"),
                       ("noise", "share of user messages garbled (and noise/2 of routine sessions spontaneous)"),
                       ("drift", "share of routine actions with new settings from the middle session on"),
                       ("context-only", "share of routine sessions asked for as 'the usual', naming no setting")):
        corpus.add_argument(f"--{knob}", type=float, default=0.0, help=f"0..1: {what} (default 0)")
    corpus.set_defaults(func=cmd_study_generate)
