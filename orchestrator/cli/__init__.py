"""The ``attune`` command: the top-level parser and ``main``; each command group lives in its own module with
its parser beside it.

- stack.py: ``up``, ``down``, ``status`` (the services as local processes);
- chat.py: ``chat`` (the model service from the terminal, with or without memory);
- run.py: ``demo``, ``run``, ``plan``, ``judge``, ``report`` (benchmark experiments);
- study.py: ``study edgewise``, ``study generate`` (the adapter study);
- profiles.py: ``profiles generate`` (user profiles for the benchmark);
- remote.py: ``submit``, ``watch``, ``cancel``, ``runs``, ``get-report`` (a remote orchestrator).
"""

from __future__ import annotations

import argparse

from attune.orchestrator.cli import chat, profiles, remote, run, stack, study
from attune.orchestrator.cli.shared import fail
from attune.services.common.errors import AttuneError
from attune.services.common.settings import CommonSettings, SettingsError, load

# In the order ``attune --help`` lists them.
GROUPS = (stack, chat, run, study, profiles, remote)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attune", description="Measure and serve LLM personalization.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        common = load(CommonSettings)
        return args.func(args, common)
    except (SettingsError, AttuneError, OSError) as err:
        return fail(err)
    except KeyboardInterrupt:
        return 130
