"""Prompt tokens with a Hugging Face tokenizer, as the backends that hold one count them."""

from __future__ import annotations

from attune.services.model.backends.base import Job


def prompt_text(tokenizer, job: Job) -> str:
    """What the model reads: a raw prompt as it is, messages through the tokenizer's chat template."""
    if job.prompt is not None:
        return job.prompt
    messages = [{"role": role, "content": content} for role, content in job.messages]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def count_prompt_tokens(tokenizer, job: Job) -> int:
    """Tokens of ``prompt_text``; no special tokens are added, the chat template holds its own."""
    return len(tokenizer(prompt_text(tokenizer, job), add_special_tokens=False)["input_ids"])
