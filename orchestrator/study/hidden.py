"""Sentence embeddings from the language model itself: mean-pooled last hidden states, unit length.

Phase E ranks users by these as well as by MiniLM, once for the base model and
once per global LoRA adapter: whether adapting the model to the users' replies
also makes its representation of what they say tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

BATCH = 16


class ModelEmbedder:
    """The model (optionally through a PEFT adapter folder) as an embedder with ``embed(texts)``."""

    def __init__(self, data_dir: Path, adapter: str = "", max_length: int = 128):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from attune.services.model.weights import resolve_model_dir

        folder, _ = resolve_model_dir("", data_dir, "float32")
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter)
        self.model = model.eval()
        self.max_length = max_length

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(list(texts[start:start + BATCH]), return_tensors="pt", padding=True,
                                       truncation=True, max_length=self.max_length)
                hidden = self.model(**batch, output_hidden_states=True).hidden_states[-1]
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.config.hidden_size), np.float32)
