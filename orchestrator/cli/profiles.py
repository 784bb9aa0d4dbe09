"""``attune profiles generate``: user profiles for the benchmark, from the schema (seeded) or chosen by the
model service (orchestrator/profiles)."""

from __future__ import annotations

import asyncio

from attune.orchestrator.cli.shared import model_target
from attune.services.common.settings import CommonSettings


def cmd_profiles_generate(args, common: CommonSettings) -> int:
    from attune.orchestrator.profiles.cli import generate_command

    async def generate() -> int:
        model = None
        if args.llm:
            from attune.services.common.launch import open_client

            model = open_client("model", common, args.target)
            await model.wait_ready(timeout_s=60)
        try:
            return await generate_command(args.n, args.seed, args.from_schema, args.out, args.llm, model=model)
        finally:
            if model is not None:
                await model.close()

    return asyncio.run(generate())


def add_parsers(sub) -> None:
    profiles = sub.add_parser("profiles", help="user profiles for the benchmark")
    psub = profiles.add_subparsers(dest="profiles_command", required=True)
    gen = psub.add_parser("generate", help="generate profiles from the schema (seeded) or with the model service")
    gen.add_argument("--n", type=int, default=100)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--from-schema", default=None, help="schema YAML (default: the shipped schema)")
    gen.add_argument("--out", required=True, help="output JSONL")
    gen.add_argument("--llm", action="store_true", help="let the model service choose the preferences")
    gen.add_argument("--target", default=model_target())
    gen.set_defaults(func=cmd_profiles_generate)
