"""Personalization methods, registered by name: see base.py for the interface."""

from attune.orchestrator.methods import (  # noqa: F401  (register)
    bounds,
    cards,
    contextual,
    lora_user,
    reflection,
    reflection_grpo,
    vanilla,
)
from attune.orchestrator.methods.base import (
    METHODS,
    AgentReply,
    Context,
    Ledger,
    Method,
    MethodSettings,
    Recall,
    Services,
    UnknownMethod,
    method_class,
    register_method,
)

__all__ = ["METHODS", "AgentReply", "Context", "Ledger", "Method", "MethodSettings", "Recall", "Services",
           "UnknownMethod", "method_class", "register_method"]
