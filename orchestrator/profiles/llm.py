"""Profiles chosen by a model: it picks the persona's building blocks and one option per conflict group.

A tiny model cannot invent 40 well-formed conditional preferences, and its free text is unreliable
(SmolLM2-135M wrote gibberish personas or rambled until max_tokens in our tries), so the request is
JSON-schema constrained to enums only: the persona's trait, role and goal from the schema's building
blocks, then one option id per group. The persona line is composed from the chosen blocks, and the
remaining preferences are drawn around the model's picks with the seeded schema generator, so every
option family appears at most once and every profile passes check_profile.
"""

from __future__ import annotations

import json
import random

import json_repair

from attune.orchestrator.profiles.generate import draw_preferences, persona_line, profile_rng
from attune.preferences.check import check_profile
from attune.preferences.model import Profile
from attune.preferences.schema import Schema
from attune.services.common.logging import get_logger
from attune.services.model.client import chat_request

log = get_logger(__name__)

SYSTEM = ("You design simulated users for a benchmark of personalized assistants. "
          "Answer with one compact JSON object and nothing else.")
PERSONA_FIELDS = ("trait", "role", "goal")
TEMPERATURE = 0.6


def choice_schema(schema: Schema) -> dict:
    """JSON schema of the model's answer: persona blocks first (so the choices can follow the persona),
    then one option id per group. Enums only: bounded free strings make constrained decoding slow."""
    blocks = schema.persona
    properties = {"trait": {"enum": blocks.traits}, "role": {"enum": blocks.roles}, "goal": {"enum": blocks.goals}}
    properties |= {name: {"enum": list(group.options)} for name, group in schema.groups.items()}
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


def choice_prompt(schema: Schema, rng: random.Random) -> str:
    """The persona blocks and the options by group, with the answer's shape.

    Lists are shuffled by ``rng``: a small model leans towards the first item listed, so the order
    is what varies from one user to the next.
    """
    blocks = schema.persona
    lines = ["Invent one user. Pick a trait, a role and a goal, then for each group choose the option id "
             "this user cares about most.", ""]
    lines += [f"{name}: {', '.join(_shuffled(values, rng))}"
              for name, values in zip(PERSONA_FIELDS, (blocks.traits, blocks.roles, blocks.goals), strict=True)]
    for name, group in schema.groups.items():
        lines += ["", f"{name}:"]
        lines += [f"- {key}: {group.options[key].preference}" for key in _shuffled(list(group.options), rng)]
    lines += ["", 'Answer like {"trait": "...", "role": "...", "goal": "...", "format_structure": "<option id>", ...}']
    return "\n".join(lines)


def _shuffled(values: list[str], rng: random.Random) -> list[str]:
    return rng.sample(values, len(values))


def max_tokens_for(schema: Schema) -> int:
    """About 18 tokens per field (key, value, quotes, whitespace); the persona blocks run longer."""
    return 60 + 18 * (len(schema.groups) + len(PERSONA_FIELDS))


def parse_choices(text: str, schema: Schema, *, lenient: bool = False) -> tuple[str, dict[str, str]]:
    """(persona line, group -> option) from the model's JSON; invalid entries are left out, and the
    persona is "" unless all three blocks are valid.

    Strict parsing for normal attempts; ``lenient`` repairs truncated JSON to salvage what is there.
    """
    try:
        raw = json_repair.loads(text) if lenient else json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return "", {}
    if not isinstance(raw, dict):
        return "", {}
    blocks = schema.persona
    picked = [raw.get(field) for field in PERSONA_FIELDS]
    valid = all(value in options for value, options in zip(picked, (blocks.traits, blocks.roles, blocks.goals),
                                                            strict=True))
    persona = blocks.line(*picked) if valid else ""
    chosen = {g: raw[g] for g, group in schema.groups.items()
              if isinstance(raw.get(g), str) and raw[g] in group.options}
    return persona, chosen


def drop_offending(profile: Profile) -> Profile:
    """Keep preferences in order, skipping any that adds a quality-control problem to those kept."""
    kept = []
    for pref in profile.preferences:
        trial = profile.model_copy(update={"preferences": [*kept, pref]})
        if not check_profile(trial):
            kept.append(pref)
    return profile.model_copy(update={"preferences": kept})


class _Generator:
    def __init__(self, model, schema: Schema, seed: int, per_profile: int, max_attempts: int):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.model, self.schema, self.seed = model, schema, seed
        self.per_profile, self.max_attempts = per_profile, max_attempts
        self.json_schema = json.dumps(choice_schema(schema))
        self.failures = 0
        self.repaired = 0
        self.dropped = 0

    async def ask(self, index: int, attempt: int) -> str:
        prompt = choice_prompt(self.schema, profile_rng("llm-prompt", self.seed, index, attempt))
        request = chat_request([("system", SYSTEM), ("user", prompt)], max_tokens=max_tokens_for(self.schema),
                               temperature=TEMPERATURE, seed=self.seed * 1_000_003 + index * 101 + attempt,
                               caller_role="other", method="", json_schema=self.json_schema)
        return (await self.model.chat(request)).text

    def build(self, index: int, attempt: int, persona: str, chosen: dict[str, str]) -> Profile:
        rng = profile_rng("llm", self.seed, index, attempt)
        persona = persona or persona_line(self.schema, rng)
        return Profile(user_id=f"llm-{self.seed}-{index:03d}", persona=persona,
                       preferences=draw_preferences(self.schema, self.per_profile, rng, chosen), source="llm")

    async def profile(self, index: int) -> Profile:
        best = ("", {})
        for attempt in range(self.max_attempts):
            text = await self.ask(index, attempt)
            persona, chosen = parse_choices(text, self.schema)
            problems = self._problems(persona, chosen)
            if not problems:
                candidate = self.build(index, attempt, persona, chosen)
                problems = check_profile(candidate)
                if not problems:
                    return candidate
            self.failures += 1
            log.warning("llm_profile_rejected", index=index, attempt=attempt, problems=problems[:3])
            salvage = parse_choices(text, self.schema, lenient=True)
            best = max(best, salvage, key=lambda pc: (len(pc[1]), bool(pc[0])))
        self.repaired += 1
        built = self.build(index, self.max_attempts, *best)
        kept = drop_offending(built)
        self.dropped += len(built.preferences) - len(kept.preferences)
        return kept

    def _problems(self, persona: str, chosen: dict[str, str]) -> list[str]:
        problems = [] if persona else ["no valid trait, role and goal for the persona"]
        missing = [g for g in self.schema.groups if g not in chosen]
        return problems + ([f"no valid choice for {', '.join(missing)}"] if missing else [])


async def generate_with_llm(model, schema: Schema, n: int, seed: int, per_profile: int = 40,
                            max_attempts: int = 3, stats: dict[str, int] | None = None) -> list[Profile]:
    """``n`` profiles whose persona and per-group choices come from ``model`` (source "llm").

    An answer that does not parse, lacks a group or fails check_profile is retried with a new seed;
    after ``max_attempts`` the most complete answer is repaired: what parses is kept, a missing persona
    and missing choices are drawn by the seeded generator, and offending preferences are dropped.
    ``stats``, when given, receives the counts: ``failed_attempts`` (answers rejected), ``repaired``
    (profiles built by repair) and ``dropped`` (preferences repair dropped).
    """
    generator = _Generator(model, schema, seed, per_profile, max_attempts)
    profiles = [await generator.profile(i) for i in range(n)]
    counts = {"failed_attempts": generator.failures, "repaired": generator.repaired, "dropped": generator.dropped}
    log.info("llm_profiles", n=n, **counts)
    if stats is not None:
        stats.update(counts)
    return profiles
