"""vanilla: no memory at all; every session starts from nothing."""

from __future__ import annotations

from attune.orchestrator.methods.base import Method, register_method


@register_method
class Vanilla(Method):
    name = "vanilla"
