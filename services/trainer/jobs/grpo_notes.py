"""Job kind ``grpo_notes``: a LoRA note-writer trained with GRPO on the note-update task.

Each data row is one session to take notes on: ``{"notes": previous notes,
"transcript": [[role, text], ...], "revealed": [preference texts the user
showed]}``. The prompt is ``note_update_messages(notes, transcript)`` through
the tokenizer's chat template (applied by TRL, as the model service applies
it); each sampled note is scored by ``note_reward(clean_note(note), revealed,
notes)``, so the writer learns to keep what the user revealed, keep its old
notes, and stay short. Only the LoRA adapter is saved.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from attune.services.trainer.jobs import files
from attune.services.trainer.notes import NOTE_MAX_TOKENS, clean_note, note_reward, note_update_messages
from attune.v1 import trainer_pb2

# LoRA wants a larger step than GRPO's full fine-tuning default (1e-6).
DEFAULT_LEARNING_RATE = 5e-5
# Files of a saved adapter the model service needs; PEFT's model card is dropped.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class Params(BaseModel):
    """``params_json`` of a grpo_notes job; the defaults fit a CPU."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(8, ge=1, le=256)
    lora_alpha: int = Field(16, ge=1, le=4096)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    # Completions sampled per prompt (GRPO compares them with each other).
    num_generations: int = Field(2, ge=2, le=64)
    # Distinct prompts per optimizer step.
    prompts_per_step: int = Field(1, ge=1, le=256)
    max_completion_length: int = Field(64, ge=8, le=4 * NOTE_MAX_TOKENS)
    temperature: float = Field(1.0, gt=0, le=5)
    # KL weight against the base model; 0 loads no reference model.
    beta: float = Field(0.0, ge=0, le=10)


class Row(BaseModel):
    model_config = ConfigDict(extra="ignore")

    notes: str = ""
    transcript: list[tuple[Literal["user", "assistant"], str]] = Field(min_length=1)
    revealed: list[str]


def load_rows(path: Path) -> list[Row]:
    return files.load_rows(path, Row)


def check_data(path: Path) -> int:
    """The number of rows, after checking every one."""
    return len(load_rows(path))


def example(row: Row) -> dict:
    """A GRPO dataset example: a conversational prompt and the reward's inputs."""
    messages = note_update_messages(row.notes, [tuple(turn) for turn in row.transcript])
    return {"prompt": [{"role": role, "content": content} for role, content in messages],
            "revealed": row.revealed, "previous": row.notes}


def reward(completions: list, revealed: list[list[str]], previous: list[str], **kwargs) -> list[float]:
    """TRL reward function: note_reward of each cleaned completion."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [note_reward(clean_note(text), wanted, old) for text, wanted, old in zip(texts, revealed, previous,
                                                                                     strict=True)]


def train(spec: trainer_pb2.TrainJobSpec, params: Params, out: Path, data_dir: Path, progress) -> None:
    """Train the note-writer and save its LoRA adapter in ``out``."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    from attune.services.model.weights import resolve_model_dir
    from attune.services.trainer.jobs.progress import ProgressCallback

    folder, _ = resolve_model_dir(spec.base_model, data_dir, "float32")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    dataset = Dataset.from_list([example(row) for row in load_rows(Path(spec.data_path))])
    lora = LoraConfig(r=params.r, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
                      target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    work = Path(tempfile.mkdtemp(prefix="grpo-notes-"))
    try:
        trainer = GRPOTrainer(model=model, reward_funcs=reward, args=grpo_config(spec, params, work),
                              train_dataset=dataset, processing_class=tokenizer, peft_config=lora,
                              callbacks=[ProgressCallback(progress)])
        trainer.train()
        save_adapter(trainer.model, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def grpo_config(spec: trainer_pb2.TrainJobSpec, params: Params, work: Path):
    """TRL 1.16 GRPOConfig: fp32 (on the GPU when there is one), no checkpoints, no reporting, a log every step."""
    import torch
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(work), max_steps=spec.max_steps, learning_rate=spec.learning_rate or DEFAULT_LEARNING_RATE,
        seed=spec.seed, num_generations=params.num_generations,
        per_device_train_batch_size=params.prompts_per_step * params.num_generations,
        gradient_accumulation_steps=1, max_completion_length=params.max_completion_length,
        temperature=params.temperature, beta=params.beta, use_cpu=not torch.cuda.is_available(), bf16=False, fp16=False,
        activation_checkpointing=False, logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_num_workers=0)


def save_adapter(model, out: Path) -> None:
    """Save only the LoRA weights and config (no base weights, no model card)."""
    files.save_adapter(model, out, ADAPTER_FILES)
