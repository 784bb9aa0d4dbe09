"""Model backends, registered by name. Heavy engines are imported only when chosen."""

from __future__ import annotations

import importlib
from pathlib import Path

from attune.services.model.backends.base import Backend
from attune.services.model.settings import ModelSettings

BACKENDS = {
    "transformers": "attune.services.model.backends.transformers_backend:TransformersBackend",
    "vllm": "attune.services.model.backends.vllm_backend:VllmBackend",
    "openai": "attune.services.model.backends.openai_backend:OpenAIBackend",
}


def create_backend(settings: ModelSettings, data_dir: Path) -> Backend:
    """The backend named by ``settings.backend``; an unknown name raises."""
    if settings.backend not in BACKENDS:
        raise ValueError(f"unknown model backend {settings.backend!r}; known: {', '.join(BACKENDS)}")
    module, _, cls = BACKENDS[settings.backend].partition(":")
    return getattr(importlib.import_module(module), cls)(settings, data_dir)
