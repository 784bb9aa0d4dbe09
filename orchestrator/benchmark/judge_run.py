"""Open a judge and judge a run folder with a progress bar: the end of ``attune run`` and ``attune judge``.

The judge is the judge service over gRPC (``transport: grpc``), or the judge's
core in this process over a model: the run's own, or the model service that
``--judge-target`` (``models.judge``) names. A judge other than the run's own
writes under ``judged/<judge>/`` and is compared with the run's judge.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attune.orchestrator.benchmark import audit
from attune.orchestrator.benchmark.experiment import Experiment
from attune.orchestrator.benchmark.judging import JudgeResult, JudgeStepSettings, RunJudge, judge_name, judgment_dir
from attune.orchestrator.benchmark.summary import summary_table
from attune.services.common import registry
from attune.services.common.files import atomic_write_json
from attune.services.common.launch import BuildContext, build_core, open_client
from attune.services.common.settings import CommonSettings, load

AUDIT_FILE = "audit.json"


async def open_judge(exp: Experiment, common: CommonSettings, stack: AsyncExitStack, model=None,
                     judge_target: str = "", state_dir: Path | None = None):
    """The judge service's client (gRPC, no judge model named), or its core over the judge model."""
    judge_target = judge_target or exp.models.judge
    if exp.transport == "grpc" and not judge_target:
        client = open_client("judge", common)
        stack.push_async_callback(client.close)
        await client.wait_ready(timeout_s=60)
        return client
    if judge_target:
        model = open_client("model", common, judge_target)
        stack.push_async_callback(model.close)
        await model.wait_ready(timeout_s=60)
    elif model is None:
        from attune.orchestrator.memory import open_in_process

        opened = await open_in_process(common, needs=())
        stack.push_async_callback(opened.close)
        model = opened.model
    desc = registry.get("judge")
    core = await build_core(desc, BuildContext(load(desc.settings_class()), common, state_dir or common.data_dir,
                                               {"model": model}))
    stack.push_async_callback(core.close)
    await core.start()
    return core


class JudgeProgress:
    def __init__(self, progress: Progress):
        self.progress = progress
        self.task = progress.add_task("judging", total=0)

    def start(self, total: int, done: int) -> None:
        self.progress.update(self.task, total=total, completed=done)

    def advance(self) -> None:
        self.progress.update(self.task, advance=1)


async def judge_run(run_dir: Path, exp: Experiment, judge, console: Console, own: bool = True) -> JudgeResult:
    """Judge every session not yet judged, then print the summary (own judge) and the judge's audit."""
    info = await judge.get_info()
    out_dir = judgment_dir(run_dir, "" if own else judge_name(info))
    settings = JudgeStepSettings(over_llm_max=exp.judge.over_llm_max, contrast_pairs=exp.judge.contrast_pairs,
                                 concurrency=exp.judge.concurrency, seed=exp.seed)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        result = await RunJudge(run_dir, judge, settings, out_dir).run(JudgeProgress(progress))
    report = audit.audit(out_dir)
    if not own:
        first, _ = audit.load_judge(run_dir)
        second, _ = audit.load_judge(out_dir)
        report["versus_run_judge"] = audit.between_judges(first, second)
    atomic_write_json(out_dir / AUDIT_FILE, report)
    wide = Console(file=console.file, width=max(console.width, 130))
    if own:
        wide.print(summary_table(run_dir))
    for table in audit.audit_tables(report):
        wide.print(table)
    return result
