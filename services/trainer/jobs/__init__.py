"""Training job kinds, each run in its own process by ``python -m attune.services.trainer.jobs.run``.

A kind is a module with ``Params`` (a pydantic model of its ``params_json``),
``DEFAULT_LEARNING_RATE``, ``check_data(path)`` (raises ValueError naming the
bad row), optionally ``check_params(params)`` (a named file that must exist),
and ``train(spec, params, out, data_dir, progress)``. All but ``train`` are
light: the service imports them to validate a job at submit; ``train`` imports
the training libraries itself.
"""

from __future__ import annotations

from types import ModuleType

from attune.services.trainer.jobs import grpo_notes, lora, prefix

KINDS: dict[str, ModuleType] = {"grpo_notes": grpo_notes, "lora": lora, "prefix": prefix}
