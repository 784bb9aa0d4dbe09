"""Supervised fine-tuning of a PEFT adapter on replies: what the ``lora`` and ``prefix`` kinds share.

Each data row is one reply to learn: ``{"messages": [{"role", "content"}, ...],
"completion": "the reply"}``. The prompt is the messages through the
tokenizer's chat template with the generation prompt (as the model service
applies it); the loss is on the completion's tokens only.

With ``eval_data`` (rows of the same shape), every ``eval_every`` steps the
adapter answers up to ``eval_rows`` of them greedily and is scored by ROUGE-L
F1 against the completions; the best-scoring weights are kept and training
stops after ``patience`` evaluations without a gain (early stopping). The
adapter folder gets ``training.json``: steps run, losses, the evaluations, the
best score, the tokens trained on, the L2 norm of the trained weights and of
their change during the job (``delta_norm``: with ``init_adapter``, how far a
per-user update moved the global adapter). ``token_budget`` stops a job once
that many tokens have been trained on (micro-updates under a budget).

The loop is a plain PyTorch one over ``get_peft_model``: on this CPU TRL's
SFTTrainer spent about a minute per step in its chunked log-probability
kernel, where this loop takes seconds.
"""

from __future__ import annotations

import json
import math
import random
import resource
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from attune.services.trainer.jobs import files
from attune.v1 import trainer_pb2

# Files of a saved adapter: PEFT's two and the training summary; PEFT's model card is dropped.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "training.json")


class SftParams(BaseModel):
    """``params_json`` keys both adapter kinds take."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(4, ge=1, le=256)
    max_length: int = Field(256, ge=16, le=8192)
    eval_data: str = ""
    eval_every: int = Field(10, ge=1)
    eval_rows: int = Field(16, ge=1, le=10_000)
    eval_max_tokens: int = Field(48, ge=1, le=1024)
    patience: int = Field(2, ge=1)
    # An adapter folder to start from (a per-user update of the global adapter); its kind must match the job's.
    init_adapter: str = ""
    # Stop once this many tokens (prompt and reply) have been trained on; 0: no budget.
    token_budget: int = Field(0, ge=0)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(pattern="^(system|user|assistant)$")
    content: str


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(min_length=1)
    completion: str = Field(min_length=1)


def load_rows(path: Path) -> list[Row]:
    return files.load_rows(path, Row)


def check_data(path: Path) -> int:
    return len(load_rows(path))


def check_params(params: SftParams) -> None:
    """Named files must exist and parse (checked at submit, not after training)."""
    if params.init_adapter and not (Path(params.init_adapter) / "adapter_config.json").is_file():
        raise ValueError(f"init_adapter {params.init_adapter} is not an adapter folder (no adapter_config.json)")
    if params.eval_data:
        path = Path(params.eval_data)
        if not path.is_file():
            raise ValueError(f"eval_data {params.eval_data} is not a file")
        try:
            load_rows(path)
        except ValueError as err:
            raise ValueError(f"eval_data {params.eval_data}: {err}") from None


def prompt_text(tokenizer, messages: list[ChatMessage]) -> str:
    return tokenizer.apply_chat_template([m.model_dump() for m in messages], tokenize=False,
                                         add_generation_prompt=True)


def encode(tokenizer, row: Row, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels): the prompt's labels are -100; the reply ends with the end-of-turn token.

    A row too long keeps the end of its prompt and the start of its reply."""
    prompt = tokenizer(prompt_text(tokenizer, row.messages), add_special_tokens=False)["input_ids"]
    reply = tokenizer(row.completion + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    reply = reply[:max_length // 2] if len(prompt) + len(reply) > max_length else reply
    prompt = prompt[-(max_length - len(reply)):]
    return prompt + reply, [-100] * len(prompt) + reply


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id)
    labels = torch.full((len(batch), width), -100)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (row_ids, row_labels) in enumerate(batch):  # right padding: the prefix sits before every row
        ids[i, :len(row_ids)] = torch.tensor(row_ids)
        labels[i, :len(row_labels)] = torch.tensor(row_labels)
        mask[i, :len(row_ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def rouge_l(predictions: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1 (rouge-score, stemmed), the study's score."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references, strict=True)]
    return sum(scores) / len(scores) if scores else 0.0


def generate(model, tokenizer, rows: list[Row], max_tokens: int, batch_size: int = 8) -> list[str]:
    """Greedy replies to the rows' prompts, left-padded in batches."""
    import torch

    tokenizer.padding_side = "left"
    replies = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            texts = [prompt_text(tokenizer, r.messages) for r in rows[start:start + batch_size]]
            inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            replies += tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    model.train()
    return [r.strip() for r in replies]


def start_model(base, peft_config, init_adapter: str):
    """The base with a fresh adapter, or with ``init_adapter`` loaded trainable (which must be of the same kind)."""
    from peft import PeftModel, get_peft_model

    if not init_adapter:
        return get_peft_model(base, peft_config)
    model = PeftModel.from_pretrained(base, init_adapter, is_trainable=True)
    if model.peft_config["default"].peft_type != peft_config.peft_type:
        raise ValueError(f"init_adapter {init_adapter} is {model.peft_config['default'].peft_type}, "
                         f"this job trains {peft_config.peft_type}")
    return model


def delta_norm(model, start: dict) -> float:
    """L2 norm of the change of the trainable weights during this job (the size of the update)."""
    return math.sqrt(sum(float((p.detach() - start[n]).pow(2).sum()) for n, p in model.named_parameters()
                         if n in start))


def trained_norm(model) -> float:
    """L2 norm of the adapter's trainable weights."""
    return math.sqrt(sum(float(p.detach().pow(2).sum()) for p in model.parameters() if p.requires_grad))


def train_adapter(spec: trainer_pb2.TrainJobSpec, params: SftParams, peft_config, default_lr: float, out: Path,
                  data_dir: Path, progress) -> dict:
    """Train ``peft_config`` on the spec's rows; keep the best evaluated weights; save into ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from attune.services.model.weights import resolve_model_dir

    began = time.perf_counter()
    torch.manual_seed(spec.seed)
    folder, _ = resolve_model_dir(spec.base_model, data_dir, "float32")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = start_model(AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), peft_config,
                        params.init_adapter)
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    examples = [encode(tokenizer, row, params.max_length) for row in load_rows(Path(spec.data_path))]
    held_out = load_rows(Path(params.eval_data))[:params.eval_rows] if params.eval_data else []
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=spec.learning_rate or default_lr)
    order, rng = [], random.Random(spec.seed)
    losses, evaluations, best, best_state, stale, tokens = [], [], -1.0, None, 0, 0
    model.train()
    for step in range(1, spec.max_steps + 1):
        if params.token_budget and tokens >= params.token_budget:
            break
        if len(order) < params.batch_size:  # a new epoch, shuffled
            order += rng.sample(range(len(examples)), len(examples))
        batch, order = [examples[i] for i in order[:params.batch_size]], order[params.batch_size:]
        tokens += sum(len(ids) for ids, _ in batch)
        loss = model(**collate(batch, tokenizer.pad_token_id)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(round(float(loss), 4))
        progress.step(step, float(loss), tokens=tokens)
        if held_out and (step % params.eval_every == 0 or step == spec.max_steps):
            score = rouge_l(generate(model, tokenizer, held_out, params.eval_max_tokens),
                            [r.completion for r in held_out])
            evaluations.append({"step": step, "rouge_l": round(score, 4)})
            if score > best:
                best, stale = score, 0
                best_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            else:
                stale += 1
                if stale >= params.patience:
                    break
    if best_state is not None:  # the trainable weights as trained (a prefix's MLP, not its saved projection)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in best_state:
                    param.copy_(best_state[name])
    summary = {"kind": spec.kind, "scope": spec.scope or "global", "scope_id": spec.scope_id, "steps": len(losses),
               "losses": losses, "evaluations": evaluations, "best_rouge_l": round(best, 4) if held_out else None,
               "examples": len(examples), "tokens": tokens, "init_adapter": params.init_adapter,
               "trained_norm": round(trained_norm(model), 6), "delta_norm": round(delta_norm(model, start), 6),
               "seconds": round(time.perf_counter() - began, 2),
               "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    save_adapter(model, out, summary)
    return summary


def save_adapter(model, out: Path, summary: dict) -> None:
    """Save only the adapter weights and config, and the training summary."""
    files.save_adapter(model, out, ADAPTER_FILES)
    (out / "training.json").write_text(json.dumps(summary, indent=1))
