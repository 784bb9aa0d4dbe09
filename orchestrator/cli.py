"""The ``attune`` command: run the local stack, chat with the model, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from attune.orchestrator.study import PHASES as STUDY_PHASES
from attune.services.common import registry
from attune.services.common.errors import AttuneError
from attune.services.common.files import shipped_files
from attune.services.common.settings import CommonSettings, SettingsError, load

console = Console(stderr=True)


def model_target() -> str:
    return registry.target("model")


# ---- stack -----------------------------------------------------------------

def cmd_up(args, common: CommonSettings) -> int:
    from attune.orchestrator.stack import LocalStack

    with console.status("starting services and waiting for health (first start converts the model)..."):
        states = asyncio.run(LocalStack(common.data_dir).up(args.timeout))
    _print_states(states)
    return 0 if all(s.health == "SERVING" for s in states) else 1


def cmd_down(args, common: CommonSettings) -> int:
    from attune.orchestrator.stack import LocalStack

    stopped = LocalStack(common.data_dir).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def cmd_status(args, common: CommonSettings) -> int:
    from attune.orchestrator.stack import LocalStack

    states = asyncio.run(LocalStack(common.data_dir).status())
    _print_states(states)
    return 0 if all(s.health == "SERVING" for s in states) else 1


def _print_states(states) -> None:
    table = Table("service", "address", "pid", "health", "log")
    for s in states:
        color = "green" if s.health == "SERVING" else "red"
        table.add_row(s.spec.name, s.spec.default_target, str(s.pid or "-"), f"[{color}]{s.health}[/]", str(s.log))
    Console().print(table)


# ---- chat ------------------------------------------------------------------

async def _open_model(args, common: CommonSettings):
    """Services holding the model: a client of the running service, or (``--in-process``) the core itself."""
    from attune.orchestrator.memory import Services, open_in_process
    from attune.services.common.launch import open_client

    if args.in_process:
        with console.status("loading the model in process..."):
            return await open_in_process(common, needs=())
    opened = Services(open_client("model", common, args.target))
    opened.stack.push_async_callback(opened.model.close)
    try:
        await opened.model.wait_ready(timeout_s=args.connect_timeout)
    except BaseException:
        await opened.close()
        raise
    return opened


async def _chat(args, common: CommonSettings) -> int:
    from attune.services.model.client import chat_request

    opened = await _open_model(args, common)
    model = opened.model
    history: list[tuple[str, str]] = [("system", args.system)] if args.system else []
    inputs = iter([args.message]) if args.message else iter(_prompt, None)
    try:
        for text in inputs:
            history.append(("user", text))
            request = chat_request(history, max_tokens=args.max_tokens, temperature=args.temperature,
                                   seed=args.seed, caller_role="agent", method="vanilla")
            reply = ""
            async for chunk in model.chat_stream(request):
                reply += chunk.delta
                print(chunk.delta, end="", flush=True)
                usage = chunk.usage
            print(flush=True)
            console.print(f"[dim]{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens[/]")
            history.append(("assistant", reply))
        return 0
    finally:
        await opened.close()


def _prompt() -> str | None:
    try:
        text = input("you> ").strip()
    except EOFError:
        return None
    return text if text not in ("", "/quit", "/exit") else None


def cmd_chat(args, common: CommonSettings) -> int:
    return asyncio.run(_personalized_chat(args, common) if args.personalized else _chat(args, common))


async def _personalized_chat(args, common: CommonSettings) -> int:
    """A session with memory: preferences stated now shape replies in later sessions too."""
    from attune.orchestrator.memory import open_clients, open_in_process
    from attune.orchestrator.personalized import PersonalizedConfig, PersonalizedLLM

    if args.in_process:
        with console.status("loading the model, embedder and stores in process..."):
            memory = await open_in_process(common)
    else:
        memory = await open_clients(common, wait_s=args.connect_timeout)
    try:
        assistant = PersonalizedLLM(memory.model, memory.extractor, memory.retrieval, memory.uservec,
                                    config=PersonalizedConfig(max_tokens=args.max_tokens,
                                                              temperature=args.temperature, seed=args.seed))
        await assistant.reset_session(args.user)
        for text in iter([args.message]) if args.message else iter(_prompt, None):
            reply = await assistant.chat(args.user, text)
            print(reply.text, flush=True)
            for card in reply.extracted:
                console.print(f"[dim]remembered: {card.preference} ({card.condition})[/]")
            for card in reply.selected:
                console.print(f"[dim]used: {card.preference} ({card.condition})[/]")
            console.print(f"[dim]{reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} "
                          "completion tokens[/]")
        return 0
    finally:
        await memory.close()


# ---- demo ------------------------------------------------------------------

def cmd_demo(args, common: CommonSettings) -> int:
    from attune.orchestrator.demo import run_demo

    return asyncio.run(run_demo(Path(args.output_dir), common, console))


# ---- benchmark -------------------------------------------------------------

EXPERIMENT_HELP = ("experiment YAML file, or a shipped experiment's name ("
                   + ", ".join(sorted(shipped_files("attune.orchestrator", "experiments", ".yaml"))) + ")")
RUN_FLAGS = ("n_profiles", "n_sessions", "max_turns", "conflict_share", "seed", "concurrency", "profiles",
             "transport", "name")


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
        console.print(f"[red]error:[/] {err}")
        return 2
    # JSON lines at the configured level, or only warnings beside the progress display.
    setup_logging("attune-run", common.log_level if args.json_logs else "warning", json=args.json_logs)
    output_dir = Path(args.output_dir or f"runs/{exp.name}")
    try:
        shard = shard_from_args(args)
        result = asyncio.run(run_experiment(exp, output_dir, common, json_logs=args.json_logs, console=console,
                                            judge=not args.no_judge, shard=shard))
    except (ExperimentError, LogCorrupt, LogWriteError) as err:
        console.print(f"[red]error:[/] {err}")
        return 2
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
        console.print(f"[red]error:[/] {err}")
        return 2
    result = plan(exp, measured, args.turns)
    table = Table("role", "tokens", "share", title=f"plan: {args.experiment} ({result.source})")
    for role, tokens in sorted(result.tokens.items(), key=lambda kv: -kv[1]):
        table.add_row(role, f"{tokens:,.0f}", f"{tokens / result.total_tokens:.0%}")
    table.add_row("[bold]total[/]", f"[bold]{result.total_tokens:,.0f}[/]", "100%")
    Console().print(table)
    Console().print(f"{result.sessions:,} sessions ({exp.n_profiles} profiles x {exp.n_sessions} sessions x "
                    f"{len(exp.methods)} methods), {result.turns_per_session:.1f} agent turns each; at "
                    f"{args.tokens_per_second:,.0f} tokens/s: {result.hours(args.tokens_per_second):,.1f} hours")
    return 0


def cmd_judge(args, common: CommonSettings) -> int:
    """Judge a finished (or half-finished) run; with --judge-target, a second judge beside the run's own."""
    from contextlib import AsyncExitStack

    from attune.orchestrator.benchmark.experiment import ExperimentError
    from attune.orchestrator.benchmark.judge_run import judge_run, open_judge
    from attune.orchestrator.benchmark.judging import load_run_experiment
    from attune.orchestrator.benchmark.records import LogCorrupt
    from attune.services.common.logging import setup_logging

    setup_logging("attune-judge", "warning", json=False)
    run_dir = Path(args.run)

    async def judge() -> int:
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

    try:
        return asyncio.run(judge())
    except (ExperimentError, LogCorrupt, FileNotFoundError) as err:
        console.print(f"[red]error:[/] {err}")
        return 2


def cmd_report(args, common: CommonSettings) -> int:
    """Write report.md and report.html for one run, or several side by side; print their paths."""
    from attune.orchestrator.benchmark.records import LogCorrupt
    from attune.orchestrator.report import ReportError, write_report

    try:
        paths = write_report([Path(r) for r in args.runs], Path(args.out) if args.out else None,
                             Path(args.reference) if args.reference else None, args.resamples, args.seed)
    except (ReportError, LogCorrupt, FileNotFoundError) as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    for path in paths:
        print(path)
    return 0


def cmd_profiles_generate(args, common: CommonSettings) -> int:
    from attune.orchestrator.profiles.cli import generate_command

    async def generate() -> int:
        model = None
        if args.llm:
            from attune.services.common.launch import open_client

            model = open_client("model", common, args.target)
            await model.wait_ready(timeout_s=60)
        try:
            return await generate_command(args.n, args.seed, args.from_schema, args.out, args.llm, model=model)
        finally:
            if model is not None:
                await model.close()

    return asyncio.run(generate())


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
        console.print(f"[red]error:[/] {err}")
        return 2
    for phase, summary in summaries.items():
        console.print(f"[bold]{phase}[/]: {json.dumps(summary)}")
    print(folder)
    return 0


def cmd_study_generate(args, common: CommonSettings) -> int:
    from attune.orchestrator.study.data import write_folder
    from attune.orchestrator.study.generate import generate_corpus

    try:
        users = generate_corpus(args.users, args.sessions, args.seed)
    except ValueError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    print(write_folder(users, args.out))
    return 0


# ---- a remote orchestrator -------------------------------------------------

def cmd_submit(args, common: CommonSettings) -> int:
    from attune.orchestrator import remote
    from attune.orchestrator.benchmark.experiment import ExperimentError, experiment_file

    try:
        path = experiment_file(args.experiment)
    except ExperimentError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    return asyncio.run(remote.submit(common, args.to, path, args.run_id, args.detach, console, args.shards))


def cmd_watch(args, common: CommonSettings) -> int:
    from attune.orchestrator import remote

    return asyncio.run(remote.watch(common, args.to, args.run, console))


def cmd_cancel(args, common: CommonSettings) -> int:
    from attune.orchestrator import remote

    return asyncio.run(remote.cancel(common, args.to, args.run, console))


def cmd_runs(args, common: CommonSettings) -> int:
    from attune.orchestrator import remote

    return asyncio.run(remote.list_runs(common, args.to, Console()))


def cmd_get_report(args, common: CommonSettings) -> int:
    from attune.orchestrator import remote

    out = Path(args.out) if args.out else None
    return asyncio.run(remote.fetch_report(common, args.to, args.run, args.format, out, console))


def add_remote_parsers(sub) -> None:
    to = {"default": "", "help": "the orchestrator service (default: $ATTUNE_ORCHESTRATOR_TARGET or 127.0.0.1:50057)"}
    submit = sub.add_parser("submit", help="run an experiment on a remote orchestrator and follow its progress")
    submit.add_argument("experiment", help=EXPERIMENT_HELP)
    submit.add_argument("--to", **to)
    submit.add_argument("--run-id", default="", help="the run's id there (default: the experiment's name); an id "
                                                     "that exists resumes that run")
    submit.add_argument("--shards", type=int, default=0, help="split the run over this many shards where the "
                        "orchestrator's launcher can (processes, kubernetes); default: its ATTUNE_ORCHESTRATOR_SHARDS")
    submit.add_argument("--detach", action="store_true", help="start it and return; `attune watch RUN` follows it")
    submit.set_defaults(func=cmd_submit)
    for name, func, text in (("watch", cmd_watch, "follow a remote run's progress until it ends"),
                             ("cancel", cmd_cancel, "stop a remote run (finished sessions stay; submit resumes)")):
        command = sub.add_parser(name, help=text)
        command.add_argument("run")
        command.add_argument("--to", **to)
        command.set_defaults(func=func)
    runs = sub.add_parser("runs", help="list the runs of a remote orchestrator")
    runs.add_argument("--to", **to)
    runs.set_defaults(func=cmd_runs)
    report = sub.add_parser("get-report", help="download a remote run's report")
    report.add_argument("run")
    report.add_argument("--to", **to)
    report.add_argument("--format", choices=["markdown", "html"], default="html")
    report.add_argument("--out", help="file to write (default: <run>-report.html or .md)")
    report.set_defaults(func=cmd_get_report)


def add_run_parser(sub) -> None:
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

    plan = sub.add_parser("plan", help="sessions, tokens by role and time of an experiment, before running it")
    plan.add_argument("experiment", help=EXPERIMENT_HELP)
    plan.add_argument("--tokens-per-second", type=float, default=2000.0,
                      help="the model service's throughput, all roles together (default 2000)")
    plan.add_argument("--from", dest="measured", help="a finished run whose tokens per turn to use")
    plan.add_argument("--turns", type=float, help="agent turns per session (default: about half of max_turns)")
    plan.set_defaults(func=cmd_plan)

    judge = sub.add_parser("judge", help="judge a run's sessions (resumable); report the judge's audit")
    judge.add_argument("run", help="the run folder (runs/<name>)")
    judge.add_argument("--judge-target", default="",
                       help="a model service (HOST:PORT) to judge with as a second judge, compared with the run's")
    judge.add_argument("--transport", choices=["in_process", "grpc"],
                       help="the judge service over gRPC, or the judge in this process (default: the run's)")
    judge.set_defaults(func=cmd_judge)

    report = sub.add_parser("report", help="write report.md and report.html: intervals, paired tests, plots")
    report.add_argument("runs", nargs="+", help="run folders; the first is reported, the others compared with it")
    report.add_argument("--reference", help="a published table to compare with (CSV: method,metric,value,source)")
    report.add_argument("--out", help="folder for the report (default: the first run folder)")
    report.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    report.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default 0)")
    report.set_defaults(func=cmd_report)

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
    corpus.set_defaults(func=cmd_study_generate)

    profiles = sub.add_parser("profiles", help="user profiles for the benchmark")
    psub = profiles.add_subparsers(dest="profiles_command", required=True)
    gen = psub.add_parser("generate", help="generate profiles from the schema (seeded) or with the model service")
    gen.add_argument("--n", type=int, default=100)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--from-schema", default=None, help="schema YAML (default: the shipped schema)")
    gen.add_argument("--out", required=True, help="output JSONL")
    gen.add_argument("--llm", action="store_true", help="let the model service choose the preferences")
    gen.add_argument("--target", default=model_target())
    gen.set_defaults(func=cmd_profiles_generate)


# ---- entry point -----------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attune", description="Measure and serve LLM personalization.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start every service as a local process and wait for health")
    up.add_argument("--timeout", type=float, default=600, help="seconds to wait for SERVING")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the services `attune up` started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show the local services and their health").set_defaults(func=cmd_status)

    chat = sub.add_parser("chat", help="talk to the model service from the terminal")
    chat.add_argument("--target", default=model_target(), help="model service address (ATTUNE_MODEL_TARGET)")
    chat.add_argument("--in-process", action="store_true", help="load the model here instead of calling the service")
    chat.add_argument("--personalized", action="store_true",
                      help="remember the user's preferences across sessions (extractor, retrieval, user vector)")
    chat.add_argument("--user", default="me", help="user id for --personalized")
    chat.add_argument("-m", "--message", help="send one message, print the reply and exit")
    chat.add_argument("--system", default="", help="system prompt")
    chat.add_argument("--max-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float, default=0.0)
    chat.add_argument("--seed", type=int, default=0)
    chat.add_argument("--connect-timeout", type=float, default=30)
    chat.set_defaults(func=cmd_chat)

    demo = sub.add_parser("demo", help="the main job: a small benchmark of every method (needs `attune up`)")
    demo.add_argument("--output-dir", default="runs/demo")
    demo.set_defaults(func=cmd_demo)
    add_run_parser(sub)
    add_remote_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        common = load(CommonSettings)
        return args.func(args, common)
    except (SettingsError, AttuneError, OSError) as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
