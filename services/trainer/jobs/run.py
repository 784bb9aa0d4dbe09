"""Run one training job: ``python -m attune.services.trainer.jobs.run --spec job.json --out DIR``.

The trainer service starts one such process per job, in its own process group
(so cancelling kills the whole tree), and reads its progress from stdout (see
progress.py). The adapter is written to ``--out``; the service publishes it.
Exit status 0 means the adapter is complete.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from google.protobuf import json_format

from attune.services.trainer.jobs import KINDS
from attune.v1 import trainer_pb2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help="TrainJobSpec as JSON")
    parser.add_argument("--out", type=Path, required=True, help="folder to save the adapter in")
    parser.add_argument("--data-dir", type=Path, default=Path(".attune"), help="ATTUNE_DATA_DIR (embedded model)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from attune.services.trainer.jobs.progress import take_stdout

    progress = take_stdout()
    try:
        spec = json_format.Parse(args.spec.read_text(), trainer_pb2.TrainJobSpec())
        kind = KINDS[spec.kind]
        params = kind.Params.model_validate_json(spec.params_json or "{}")
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        args.out.mkdir(parents=True, exist_ok=True)
        kind.train(spec, params, args.out, args.data_dir, progress)
    except Exception as err:  # noqa: BLE001 - any failure ends the job with its message
        traceback.print_exc()
        progress.error(f"{type(err).__name__}: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
