"""``attune demo``, ``run``, ``plan``, ``judge`` and ``report``: benchmark experiments run here, in process or
over gRPC to the services, their sessions judged and reported (orchestrator/benchmark, orchestrator/report)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from attune.orchestrator.cli.shared import console, fail
from attune.services.common.files import shipped_files
from attune.services.common.settings import CommonSettings

EXPERIMENT_HELP = ("experiment YAML file, or a shipped experiment's name ("
                   + ", ".join(sorted(shipped_files("attune.orchestrator", "experiments", ".yaml"))) + ")")
RUN_FLAGS = ("n_profiles", "n_sessions", "max_turns", "conflict_share", "seed", "concurrency", "profiles",
             "transport", "name")


def cmd_demo(args, common: CommonSettings) -> int:
    from attune.orchestrator.demo import run_demo

    return asyncio.run(run_demo(Path(args.output_dir), common, console))


def experiment_from_args(args):
    """The experiment file (if given) with the flags on top, or the flags alone; validated."""
    from attune.orchestrator.benchmark.experiment import load_experiment, parse_experiment

    overrides = {key: getattr(args, key) for key in RUN_FLAGS if getattr(args, key) is not None}
    for key in ("methods", "datasets"):
        if getattr(args, key):
            overrides[key] = [v.strip() for v in getattr(args, key).split(",") if v.strip()]
    if args.max_reply_tokens is not None:
        overrides["method_settings"] = {"max_reply_tokens": args.max_reply_tokens}
    if args.experiment:
        return load_experiment(args.experiment, overrides)
    return parse_experiment(overrides, "command line")


def cmd_run(args, common: CommonSettings) -> int:
    from attune.orchestrator.benchmark.experiment import ExperimentError
    from attune.orchestrator.benchmark.records import LogCorrupt, LogWriteError
    from attune.orchestrator.benchmark.run import run_experiment
    from attune.services.common.logging import setup_logging

    try:
        exp = experiment_from_args(args)
    except ExperimentError as err:
        return fail(err)
    # JSON lines at the configured level, or only warnings beside the progress display.
    setup_logging("attune-run", common.log_level if args.json_logs else "warning", json=args.json_logs)
    output_dir = Path(args.output_dir or f"runs/{exp.name}")
    try:
        shard = shard_from_args(args)
        result = asyncio.run(run_experiment(exp, output_dir, common, json_logs=args.json_logs, console=console,
                                            judge=not args.no_judge, shard=shard))
    except (ExperimentError, LogCorrupt, LogWriteError) as err:
        return fail(err)
    return _print_run(result, output_dir)


def _print_run(result, output_dir: Path) -> int:
    """What the run did, where its logs are, what failed; the exit status: 1 where anything failed."""
    console.print(f"{result.finished} sessions run, {result.resumed} already done, "
                  f"{len(result.failures)} failed; log: [bold]{output_dir / 'sessions.jsonl'}[/]")
    for failure in result.failures:
        console.print(f"[red]failed:[/] {failure}")
    if result.failures:
        console.print("run the same command again to retry them (finished sessions are kept)")
    judged = result.judge
    if judged is not None:
        console.print(f"judged {judged.judged} sessions ({judged.resumed} already), {judged.planted} planted cases; "
                      f"verdicts: [bold]{output_dir / 'judgments.jsonl'}[/]")
        for failure in judged.failures:
            console.print(f"[red]not judged:[/] {failure}")
    return 1 if result.failures or (judged is not None and judged.failures) else 0


def shard_from_args(args):
    """``--shards N`` with ``--shard-index I`` (default: $JOB_COMPLETION_INDEX, set by an Indexed Job)."""
    from attune.orchestrator.benchmark.experiment import ExperimentError
    from attune.orchestrator.benchmark.shards import Shard

    if not args.shards:
        return None
    index = args.shard_index if args.shard_index is not None else os.environ.get("JOB_COMPLETION_INDEX")
    if index is None or not str(index).isdigit():
        raise ExperimentError("--shards needs --shard-index (or JOB_COMPLETION_INDEX, as an Indexed Job sets it)")
    return Shard(int(index), args.shards)


def cmd_plan(args, common: CommonSettings) -> int:
    """Sessions, tokens by role and time of an experiment, before running it."""
    from attune.orchestrator.benchmark.experiment import ExperimentError, load_experiment
    from attune.orchestrator.benchmark.plan import measured_tokens, plan

    try:
        exp = load_experiment(args.experiment)
        measured = measured_tokens(Path(args.measured)) if args.measured else None
    except (ExperimentError, FileNotFoundError) as err:
        return fail(err)
    result = plan(exp, measured, args.turns)
    table = Table("role", "tokens", "share", title=f"plan: {args.experiment} ({result.source})")
    for role, tokens in sorted(result.tokens.items(), key=lambda kv: -kv[1]):
        table.add_row(role, f"{tokens:,.0f}", f"{tokens / result.total_tokens:.0%}")
    table.add_row("[bold]total[/]", f"[bold]{result.total_tokens:,.0f}[/]", "100%")
    Console().print(table)
    Console().print(f"{result.sessions:,} sessions ({exp.n_profiles} profiles x {exp.n_sessions} sessions x "
                    f"{len(exp.methods)} methods), {result.turns_per_session:.1f} agent turns each; at "
                    f"{args.tokens_per_second:,.0f} tokens/s: {_duration(result.hours(args.tokens_per_second))}")
    if args.measured:
        return _print_power(exp, Path(args.measured), args.effect)
    return 0


def _print_power(exp, pilot_dir: Path, effect: float | None) -> int:
    """The power table of ``exp`` from the pilot run's spread (report/power.py)."""
    from attune.orchestrator.benchmark.summary import SUMMARY
    from attune.orchestrator.report import ReportError
    from attune.orchestrator.report.analysis import method_pairs
    from attune.orchestrator.report.collect import read_run
    from attune.orchestrator.report.power import POWER, power_table
    from attune.orchestrator.report.sections import fmt

    try:
        pilot = read_run(pilot_dir, tuple(SUMMARY))
    except (ReportError, FileNotFoundError) as err:
        return fail(err)
    comparisons = len(method_pairs(exp.methods))
    rows = power_table(pilot, exp.n_profiles, exp.n_sessions, comparisons, effect)
    console = Console()
    console.print(f"Power from {pilot_dir} for {exp.n_profiles} users x {exp.n_sessions} sessions: the sign test at "
                  f"{POWER:.0%} power, Holm over {comparisons} comparisons per metric (report/power.py). MDE: the "
                  f"smallest difference the run finds (none under 6 users); user sd: of a user's mean difference "
                  f"over {exp.n_sessions} sessions; oracle gap: the pilot's oracle minus vanilla.", soft_wrap=True)
    table = Table("metric", "pilot users", "user sd", "MDE", "oracle gap", "users for it",
                  *([f"users for {effect:g}"] if effect is not None else []))
    for row in rows:
        if row.spread is None:
            table.add_row(row.metric, "0", "-", "-", "-", "-", *(["-"] if effect is not None else []))
            continue
        cells = [row.metric, str(row.spread.users), fmt(row.metric, row.spread.user_sd(exp.n_sessions)),
                 fmt(row.metric, row.mde) if row.mde is not None else "none",
                 fmt(row.metric, row.observed, signed=True), _count(row.users_for_observed)]
        table.add_row(*cells, *([_count(row.users_for_effect)] if effect is not None else []))
    console.print(table)
    return 0


def _count(users: int | None) -> str:
    return "-" if users is None else f"{users:,}"


def cmd_judge(args, common: CommonSettings) -> int:
    """Judge a finished (or half-finished) run; with --judge-target, a second judge beside the run's own."""
    from attune.orchestrator.benchmark.experiment import ExperimentError
    from attune.orchestrator.benchmark.records import LogCorrupt
    from attune.services.common.logging import setup_logging

    setup_logging("attune-judge", "warning", json=False)
    try:
        return asyncio.run(_judge(args, common))
    except (ExperimentError, LogCorrupt, FileNotFoundError) as err:
        return fail(err)


async def _judge(args, common: CommonSettings) -> int:
    from contextlib import AsyncExitStack

    from attune.orchestrator.benchmark.judge_run import judge_run, open_judge
    from attune.orchestrator.benchmark.judging import load_run_experiment

    run_dir = Path(args.run)
    exp = load_run_experiment(run_dir)
    if args.transport:
        exp = exp.model_copy(update={"transport": args.transport})
    async with AsyncExitStack() as stack:
        core = await open_judge(exp, common, stack, judge_target=args.judge_target)
        result = await judge_run(run_dir, exp, core, console, own=not args.judge_target)
    console.print(f"judged {result.judged} sessions ({result.resumed} already), {result.planted} planted cases")
    for failure in result.failures:
        console.print(f"[red]not judged:[/] {failure}")
    return 1 if result.failures else 0


def cmd_report(args, common: CommonSettings) -> int:
    """Write report.md and report.html for one run, or several side by side; print their paths."""
    from attune.orchestrator.benchmark.records import LogCorrupt
    from attune.orchestrator.report import ReportError, write_report

    try:
        written = write_report([Path(r) for r in args.runs], Path(args.out) if args.out else None,
                               Path(args.reference) if args.reference else None, args.resamples, args.seed)
    except (ReportError, LogCorrupt, FileNotFoundError) as err:
        return fail(err)
    console.print(written.headline)
    for path in (written.markdown, written.html):
        print(path)
    return 0


def add_parsers(sub) -> None:
    demo = sub.add_parser("demo", help="the main job: a small benchmark of every method (needs `attune up`)")
    demo.add_argument("--output-dir", default="runs/demo")
    demo.set_defaults(func=cmd_demo)
    _add_run_parser(sub)
    _add_plan_parser(sub)
    _add_judge_parser(sub)
    _add_report_parser(sub)


def _add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="run a multi-session benchmark experiment (resumes an interrupted run)")
    run.add_argument("experiment", nargs="?", help=f"{EXPERIMENT_HELP}; flags override its keys")
    run.add_argument("--name")
    run.add_argument("--methods", help="comma-separated, e.g. vanilla,rag,rag_vector")
    run.add_argument("--datasets", help="comma-separated, e.g. math-500,humaneval")
    run.add_argument("--n-profiles", type=int)
    run.add_argument("--n-sessions", type=int)
    run.add_argument("--max-turns", type=int)
    run.add_argument("--conflict-share", type=float)
    run.add_argument("--seed", type=int)
    run.add_argument("--concurrency", type=int, help="users run at once")
    run.add_argument("--profiles", help="profile file (attune JSONL or MultiSessionCollab JSON)")
    run.add_argument("--transport", choices=["in_process", "grpc"])
    run.add_argument("--max-reply-tokens", type=int)
    run.add_argument("--output-dir", help="where sessions.jsonl goes (default runs/<name>)")
    run.add_argument("--json-logs", action="store_true", help="log JSON lines instead of the progress display")
    run.add_argument("--no-judge", action="store_true", help="skip the judge step (run `attune judge` later)")
    run.add_argument("--shards", type=int, default=0, help="split the profiles over this many shards and run one "
                                                           "(docs/deployment.md: sharded runs)")
    run.add_argument("--shard-index", type=int, help="which shard, 0-based (default: $JOB_COMPLETION_INDEX)")
    run.set_defaults(func=cmd_run)


def _add_plan_parser(sub) -> None:
    plan = sub.add_parser("plan", help="sessions, tokens by role and time of an experiment, before running it")
    plan.add_argument("experiment", help=EXPERIMENT_HELP)
    plan.add_argument("--tokens-per-second", type=float, default=2000.0,
                      help="the model service's throughput, all roles together (default 2000)")
    plan.add_argument("--from", dest="measured", help="a finished, judged pilot run: its tokens per turn, and "
                                                      "its spread for the power table")
    plan.add_argument("--turns", type=float, help="agent turns per session (default: about half of max_turns)")
    plan.add_argument("--effect", type=float, help="with --from: also the users needed to find this difference "
                                                   "(in each metric's unit: a share is 0 to 1)")
    plan.set_defaults(func=cmd_plan)


def _add_judge_parser(sub) -> None:
    judge = sub.add_parser("judge", help="judge a run's sessions (resumable); report the judge's audit")
    judge.add_argument("run", help="the run folder (runs/<name>)")
    judge.add_argument("--judge-target", default="",
                       help="a model service (HOST:PORT) to judge with as a second judge, compared with the run's")
    judge.add_argument("--transport", choices=["in_process", "grpc"],
                       help="the judge service over gRPC, or the judge in this process (default: the run's)")
    judge.set_defaults(func=cmd_judge)


def _add_report_parser(sub) -> None:
    report = sub.add_parser("report", help="write report.md and report.html: intervals, paired tests, plots")
    report.add_argument("runs", nargs="+", help="run folders; the first is reported, the others compared with it")
    report.add_argument("--reference", help="a published table to compare with (CSV: method,metric,value,source)")
    report.add_argument("--out", help="folder for the report (default: the first run folder)")
    report.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    report.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default 0)")
    report.set_defaults(func=cmd_report)


def _duration(hours: float) -> str:
    """Hours, or minutes under an hour (a small experiment is not "0.0 hours")."""
    return f"{hours:,.1f} hours" if hours >= 1 else f"{hours * 60:.0f} minutes"
