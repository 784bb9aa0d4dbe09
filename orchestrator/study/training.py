"""Adapters trained as trainer jobs: their names, where they are published, and one arm's training (or the
adapter an earlier, interrupted run already published)."""

from __future__ import annotations

import json
from pathlib import Path

from attune.orchestrator.study.config import AdapterArm
from attune.orchestrator.study.data import StudyDataError
from attune.orchestrator.study.folder import Study

TRAIN_TIMEOUT_S = 6 * 3600


def adapter_name(study: Study, arm: AdapterArm, scope: str) -> str:
    return f"{study.config.name}-{arm.kind}-{scope}"


def global_adapter(study: Study, kind: str) -> str:
    return str(study.adapter_dir() / adapter_name(study, AdapterArm(kind=kind), "global"))


async def train_arm(study: Study, arm: AdapterArm, name: str, rows: Path, held_out: Path | None,
                    scope: str = "global", scope_id: str = "") -> dict:
    """Train one adapter as a trainer job (or find it trained by an earlier, interrupted run)."""
    from attune.services.trainer.client import wait_for_job
    from attune.v1 import trainer_pb2

    published = study.adapter_dir() / name
    if not (published / "training.json").exists():
        params = {"eval_data": str(held_out), "eval_rows": study.config.eval_rows} if held_out else {}
        params |= arm.params
        job = await study.services.trainer.submit_job(trainer_pb2.TrainJobSpec(
            kind=arm.kind, scope=scope, scope_id=scope_id, data_path=str(rows), adapter_name=name,
            max_steps=arm.max_steps, learning_rate=arm.learning_rate, seed=study.config.seed,
            params_json=json.dumps(params)))
        study.console.print(f"training {name} ({arm.kind}, {arm.max_steps} steps at most), job {job.job_id}")
        done = await wait_for_job(study.services.trainer, job.job_id, TRAIN_TIMEOUT_S)
        if done.state != "succeeded":
            raise StudyDataError(f"training {name} {done.state}: {done.error}")
    return json.loads((published / "training.json").read_text())
