"""``attune up``, ``down`` and ``status``: the services as local processes (orchestrator/stack.py)."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from attune.orchestrator.cli.shared import console
from attune.services.common.settings import CommonSettings


def cmd_up(args, common: CommonSettings) -> int:
    from attune.orchestrator.stack import LocalStack

    with console.status("starting services and waiting for health (first start converts the model)..."):
        states = asyncio.run(LocalStack(common.data_dir).up(args.timeout))
    _print_states(states)
    return 0 if all(s.health == "SERVING" for s in states) else 1


def cmd_down(args, common: CommonSettings) -> int:
    from attune.orchestrator.stack import LocalStack

    stopped = LocalStack(common.data_dir).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def cmd_status(args, common: CommonSettings) -> int:
    from attune.orchestrator.stack import LocalStack

    states = asyncio.run(LocalStack(common.data_dir).status())
    _print_states(states)
    return 0 if all(s.health == "SERVING" for s in states) else 1


def _print_states(states) -> None:
    table = Table("service", "address", "pid", "health", "log")
    for s in states:
        color = "green" if s.health == "SERVING" else "red"
        table.add_row(s.spec.name, s.spec.default_target, str(s.pid or "-"), f"[{color}]{s.health}[/]", str(s.log))
    Console().print(table)


def add_parsers(sub) -> None:
    up = sub.add_parser("up", help="start every service as a local process and wait for health")
    up.add_argument("--timeout", type=float, default=600, help="seconds to wait for SERVING")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the services `attune up` started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show the local services and their health").set_defaults(func=cmd_status)
