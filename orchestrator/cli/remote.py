"""``attune submit``, ``watch``, ``cancel``, ``runs`` and ``get-report``: runs on a remote orchestrator service
(orchestrator/remote.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from attune.orchestrator.cli.run import EXPERIMENT_HELP
from attune.orchestrator.cli.shared import console, fail
from attune.services.common.settings import CommonSettings


def cmd_submit(args, common: CommonSettings) -> int:
    from attune.orchestrator import remote
    from attune.orchestrator.benchmark.experiment import ExperimentError, experiment_file

    try:
        path = experiment_file(args.experiment)
    except ExperimentError as err:
        return fail(err)
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


def add_parsers(sub) -> None:
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
