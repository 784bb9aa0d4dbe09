"""What every command module of the CLI shares: the console on stderr, the error line, the model's address."""

from __future__ import annotations

from rich.console import Console

from attune.services.common import registry

console = Console(stderr=True)


def model_target() -> str:
    return registry.target("model")


def fail(err: BaseException) -> int:
    """Print the error and return the exit status of a refused command (2)."""
    console.print(f"[red]error:[/] {err}")
    return 2
