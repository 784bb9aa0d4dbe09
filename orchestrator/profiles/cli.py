"""`attune profiles generate`: draw profiles from a schema (or let the model choose), check and save them."""

from __future__ import annotations

from collections import Counter
from statistics import mean

from rich.console import Console
from rich.table import Table

from attune.orchestrator.profiles.generate import generate_from_schema
from attune.orchestrator.profiles.io import save_profiles
from attune.orchestrator.profiles.llm import generate_with_llm
from attune.preferences.check import check_profile
from attune.preferences.model import Profile, ProfileError
from attune.preferences.schema import load_schema

console = Console(stderr=True)


async def generate_command(n: int, seed: int, schema_path: str | None, out: str, use_llm: bool, model=None) -> int:
    """Generate ``n`` profiles, save them to ``out`` (JSONL) and print a summary.

    Returns 0 when every profile passes quality control, 1 when some fail (they are still saved, so
    they can be inspected), 2 on a bad schema or arguments.
    """
    try:
        if n < 1:
            raise ProfileError("--n must be at least 1")
        if use_llm and model is None:
            raise ProfileError("--llm needs a model service")
        schema = load_schema(schema_path)
        if use_llm:
            with console.status(f"asking the model for {n} profiles..."):
                profiles = await generate_with_llm(model, schema, n, seed)
        else:
            profiles = generate_from_schema(schema, n, seed)
    except ProfileError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    failing = {p.user_id: problems for p in profiles if (problems := check_profile(p))}
    save_profiles(profiles, out)
    console.print(summary_table(profiles, failing))
    for user_id, problems in failing.items():
        console.print(f"[red]{user_id}:[/] {'; '.join(problems)}")
    console.print(f"wrote {len(profiles)} profiles to {out}")
    return 1 if failing else 0


def summary_table(profiles: list[Profile], failing: dict[str, list[str]]) -> Table:
    """Per conflict group: how many profiles hold it and preferences per profile; then totals and QC."""
    holders = Counter(g for p in profiles for g in p.groups())
    counts = Counter(pref.conflict_group for p in profiles for pref in p.preferences)
    table = Table(title=f"{len(profiles)} profiles ({', '.join(sorted({p.source for p in profiles}))})")
    table.add_column("conflict group")
    table.add_column("profiles holding it", justify="right")
    table.add_column("preferences per profile", justify="right")
    for group in sorted(holders):
        table.add_row(group, str(holders[group]), f"{counts[group] / len(profiles):.2f}")
    sizes = [len(p.preferences) for p in profiles]
    table.add_section()
    table.add_row("all groups", str(len(profiles)), f"{mean(sizes):.1f} (min {min(sizes)}, max {max(sizes)})")
    qc = "[green]all pass[/]" if not failing else f"[red]{len(failing)} fail[/]"
    table.add_row("quality control", qc, "")
    return table
