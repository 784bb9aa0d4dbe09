"""Memory quality: does the extractor turn what users say into the right cards, and does retrieval bring the
card whose condition holds, and not its rival?

The cases are ``bench/memory_data/cases.yaml`` (hand-written, see its README) over the preference options of
``attune/preferences/data/schema.yaml``. Everything written from templates is split by template family:
``train`` families may be used for tuning, ``heldout`` families only to measure. Figures, per configuration:

* extraction (the real extractor over the real SmolLM2): precision and recall. A statement of one option is
  recalled when a card it gave is nearest (MiniLM, condition and preference together) to that option among
  all the schema's options; every other card, and every card from a turn that states no preference, is a
  false positive;
* retrieval (the real retrieval service over an embedded Qdrant shard): recall@1/3/5 of the option's card
  among all of a 40-card user's cards, for requests whose condition holds;
* conflicts: requests that switch on two options of one group, the user holding both: correct when the
  expected card ranks above its rival and the rival is not selected;
* supersession: after a revision ("actually, from now on ...") or a retraction ("forget that I asked ..."),
  the share of requests that still select the stale card (stale-card rate), and for revisions the share that
  select the new one;
* the gate: the share of statements, other turns, requests and task problems that the extractor's gate
  sends to the model (no model call);
* latency: each Retrieve (p50, p99), each gate decision and each extraction.

Prints a table per part and writes them into docs/memory.md between the ``memory-quality`` markers.

    .venv/bin/python bench/memory_quality.py [--split heldout] [--parts retrieval,gate] [--limit N] [--docs '']
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.orchestrator.conflicts.templates import TEMPLATES  # noqa: E402
from attune.orchestrator.personalized import remember  # noqa: E402
from attune.preferences.schema import load_schema  # noqa: E402
from attune.services.common.cards import card_id  # noqa: E402
from attune.services.common.logging import setup_logging  # noqa: E402
from attune.services.retrieval.core import RetrievalService  # noqa: E402
from attune.services.retrieval.settings import RetrievalSettings  # noqa: E402
from attune.services.retrieval.store import EdgeCardStore  # noqa: E402
from attune.v1 import common_pb2, extractor_pb2, retrieval_pb2  # noqa: E402
from bench.report import block, machine, markdown_table, replace_block, sections  # noqa: E402

CASES = ROOT / "bench" / "memory_data" / "cases.yaml"
DOCS = ROOT / "docs" / "memory.md"
PARTS = ["retrieval", "gate", "extraction", "supersession"]
GATE = ROOT / "services" / "extractor" / "data" / "gate.json"
CARDS_PER_USER = 40
# The extractor's gate: the cue list it had, and the classifier over MiniLM (services/extractor/gate.py).
EXTRACTION_CONFIGS = {"cue list": "cues", "classifier gate": "classifier"}
# Retrieval configurations compared: today's ranking by the whole card, and the condition-aware ones.
RETRIEVAL_CONFIGS = {
    "card": {"scoring": "card", "conflict_choice": "none"},
    "card + conflict choice": {"scoring": "card", "conflict_choice": "condition"},
    "hybrid": {"scoring": "hybrid", "conflict_choice": "none"},
    "hybrid + conflict choice": {"scoring": "hybrid", "conflict_choice": "condition"},
}


@dataclass(frozen=True)
class Option:
    key: str
    group: str
    condition: str
    preference: str
    family: str
    # The words that switch the option's condition on (the schema's trigger cues).
    cues: tuple[str, ...] = ()


@dataclass
class Case:
    """A text to run and what it should give: ``option`` (stated or requested), ``rival`` (conflicts)."""

    text: str
    option: str = ""
    rival: str = ""
    family: str = ""


@dataclass
class Figures:
    values: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


def options() -> dict[str, Option]:
    schema = load_schema()
    out = {}
    for group_name, group in schema.groups.items():
        for key, option in group.options.items():
            out[key] = Option(key, group_name, option.condition, option.preference, option.variant_of or key,
                              tuple(option.trigger.cues))
    return out


def load_cases(path: Path = CASES) -> dict:
    return yaml.safe_load(path.read_text())


def fill(template: str, **values: str) -> str:
    """The template with its placeholders replaced (str.replace: the texts may hold braces), capitalized."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template[:1].upper() + template[1:]


def statements(cases: dict, opts: dict[str, Option], split: str, per_family: int, rng: random.Random) -> list[Case]:
    """Each template of the split's statement families filled with ``per_family`` random options; the
    held-apart split adds the hand-written statements."""
    out = []
    for family, templates in cases["statement_families"][split].items():
        for template in templates:
            for option in rng.sample(sorted(opts.values(), key=lambda o: o.key), per_family):
                out.append(Case(fill(template, condition=option.condition, preference=option.preference,
                                     problem="What is 17 times 23?"), option.key, family=family))
    if split == "heldout":
        out += [Case(s["text"], s["option"], family="handwritten") for s in cases["handwritten_statements"]]
    return out


def negatives(cases: dict, split: str) -> list[Case]:
    return [Case(text.replace("{problem}", "What is 17 times 23?"), family=family)
            for family, texts in cases["negative_families"][split].items() for text in texts]


def requests(cases: dict, opts: dict[str, Option], split: str) -> list[Case]:
    """Held-apart: the hand-written requests; train: the schema's own cues, as the profile generator asks."""
    if split == "heldout":
        return [Case(text, key) for key, texts in cases["requests"].items() for text in texts]
    return [Case(f"{cue[:1].upper()}{cue[1:]}: what is the derivative of x squared?", key)
            for key, option in opts.items() for cue in option.cues[:2]]


def conflicts(cases: dict, split: str) -> list[Case]:
    """Held-apart: the hand-written conflicts; train: the conflict templates the benchmark itself uses."""
    if split == "heldout":
        return [Case(c["text"], c["expected"], next(t for t in c["triggers"] if t != c["expected"]))
                for c in cases["conflicts"]]
    return [Case(t.text.replace("{problem}", "What is the derivative of x squared?"), t.expected,
                 next(x for x in t.triggers if x != t.expected), family=t.id) for t in TEMPLATES]


def pack_users(needs: list[list[str]], opts: dict[str, Option], rng: random.Random) -> tuple[list[list[Option]],
                                                                                                list[int]]:
    """Users for the cases, few of them (each upsert embeds every card): each case's options (``needs``) go to
    the first user that can hold them all (one option a family, 40 cards); then each user is filled up to 40
    with random options of other families. Returns the users' options and each case's user."""
    users: list[list[str]] = []
    home = []
    for need in needs:
        for n, held in enumerate(users):
            families = {opts[k].family for k in held}
            fresh = [k for k in need if k not in held]
            if all(k in held or opts[k].family not in families for k in need) and \
                    len(held) + len(fresh) <= CARDS_PER_USER:
                held += fresh
                home.append(n)
                break
        else:
            users.append(list(dict.fromkeys(need)))
            home.append(len(users) - 1)
    return [fill_up(held, opts, rng) for held in users], home


def fill_up(held: list[str], opts: dict[str, Option], rng: random.Random) -> list[Option]:
    """``held`` plus random options of other families (one option a family, as profiles hold them), 40 in all."""
    families = {opts[k].family for k in held}
    others = [o for o in sorted(opts.values(), key=lambda o: o.key) if o.family not in families]
    rng.shuffle(others)
    chosen = [opts[k] for k in held]
    for option in others:
        if len(chosen) == CARDS_PER_USER:
            break
        if option.family not in families:
            families.add(option.family)
            chosen.append(option)
    return chosen


def card_of(user_id: str, option: Option) -> common_pb2.PreferenceCard:
    return common_pb2.PreferenceCard(card_id=card_id(user_id, option.condition, option.preference), user_id=user_id,
                                     condition=option.condition, preference=option.preference,
                                     conflict_group=option.group, confidence=1.0)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ---- retrieval ---------------------------------------------------------------------------------------------


async def rank_of(core: RetrievalService, user_id: str, query: str) -> tuple[list[str], set[str], float]:
    """The candidates' card ids best first, the selected ones, and the call's seconds."""
    began = time.perf_counter()
    reply = await core.retrieve(retrieval_pb2.RetrieveRequest(user_id=user_id, query=query, top_k=10, select_k=3))
    seconds = time.perf_counter() - began
    return [c.card.card_id for c in reply.candidates], {c.card.card_id for c in reply.candidates if c.selected}, \
        seconds


async def store_users(core: RetrievalService, prefix: str, users: list[list[Option]]) -> list[str]:
    ids = [f"{prefix}-{n}" for n in range(len(users))]
    for user, held in zip(ids, users, strict=True):
        await core.upsert_cards(retrieval_pb2.UpsertCardsRequest(cards=[card_of(user, o) for o in held]))
    return ids


async def retrieval_figures(core: RetrievalService, asked: list[Case], rivals: list[Case], opts: dict[str, Option],
                            seed: int, progress: Progress) -> Figures:
    """Recall@k over users holding the asked option; conflict accuracy over users holding both rivals."""
    rng, figures = random.Random(seed), Figures()
    hits = {1: 0, 3: 0, 5: 0}
    task = progress.add_task(f"retrieval ({core.settings.scoring}, {core.settings.conflict_choice})",
                             total=len(asked) + len(rivals))
    users, home = pack_users([[c.option] for c in asked], opts, rng)
    ids = await store_users(core, "recall", users)
    for case, n in zip(asked, home, strict=True):
        ranked, _, seconds = await rank_of(core, ids[n], case.text)
        figures.latencies.append(seconds)
        gold = card_of(ids[n], opts[case.option]).card_id
        for k in hits:
            hits[k] += gold in ranked[:k]
        progress.advance(task)
    users, home = pack_users([[c.option, c.rival] for c in rivals], opts, rng)
    ids = await store_users(core, "conflict", users)
    correct = 0
    for case, n in zip(rivals, home, strict=True):
        ranked, selected, seconds = await rank_of(core, ids[n], case.text)
        figures.latencies.append(seconds)
        gold, rival = card_of(ids[n], opts[case.option]).card_id, card_of(ids[n], opts[case.rival]).card_id
        correct += gold in ranked and (rival not in ranked or ranked.index(gold) < ranked.index(rival)) \
            and rival not in selected
        progress.advance(task)
    figures.values = {f"recall@{k}": hits[k] / max(len(asked), 1) for k in hits}
    figures.values["conflict accuracy"] = correct / max(len(rivals), 1)
    return figures


# ---- extraction --------------------------------------------------------------------------------------------


class OptionMatcher:
    """The schema option a card says: nearest by MiniLM over condition and preference together."""

    def __init__(self, embedder, opts: dict[str, Option]):
        self.embedder, self.keys = embedder, list(opts)
        self.vectors = embedder.embed([f"{o.condition}: {o.preference}" for o in opts.values()])

    def option(self, card: common_pb2.PreferenceCard) -> str:
        vector = self.embedder.embed_one(f"{card.condition}: {card.preference}")
        return self.keys[int(np.argmax(self.vectors @ vector))]


def turn(user_id: str, text: str, known=()) -> extractor_pb2.ExtractRequest:
    return extractor_pb2.ExtractRequest(user_id=user_id, turns=[common_pb2.Message(role="user", content=text)],
                                        known_cards=list(known))


async def extraction_figures(extractor, matcher: OptionMatcher, stated: list[Case], unstated: list[Case],
                             progress: Progress) -> Figures:
    figures = Figures()
    true_cards = false_cards = recalled = 0
    task = progress.add_task("extraction", total=len(stated) + len(unstated))
    for n, case in enumerate([*stated, *unstated]):
        began = time.perf_counter()
        reply = await extractor.extract(turn(f"extract-{n}", case.text))
        figures.latencies.append(time.perf_counter() - began)
        right = [c for c in reply.cards if case.option and matcher.option(c) == case.option]
        true_cards += len(right)
        false_cards += len(reply.cards) - len(right)
        recalled += bool(right)
        progress.advance(task)
    figures.values = {"precision": true_cards / max(true_cards + false_cards, 1),
                      "recall": recalled / max(len(stated), 1), "statements": len(stated), "other turns": len(unstated)}
    return figures


# ---- supersession ------------------------------------------------------------------------------------------


def revisions(cases: dict, opts: dict[str, Option], split: str) -> list[tuple[str, str, str]]:
    """(text, old option, new option) for each update template and each pair of variants (same condition)."""
    pairs = [(o.family, o.key) for o in opts.values() if o.family != o.key]
    out = []
    for templates in cases["update_families"][split].values():
        for template in templates:
            for old, new in pairs:
                out.append((fill(template, condition=opts[old].condition, old_preference=opts[old].preference,
                                 new_preference=opts[new].preference), old, new))
    return out


def retractions(cases: dict, opts: dict[str, Option], split: str, per_family: int,
                rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for templates in cases["forget_families"][split].values():
        for template in templates:
            for option in rng.sample(sorted(opts.values(), key=lambda o: o.key), per_family):
                out.append((fill(template, condition=option.condition, preference=option.preference), option.key))
    return out


async def supersession_figures(extractor, core: RetrievalService, matcher: OptionMatcher, cases: dict,
                               opts: dict[str, Option], split: str, limit: int, seed: int,
                               progress: Progress) -> Figures:
    rng, figures = random.Random(seed), Figures()
    updates = revisions(cases, opts, split)
    forgets = retractions(cases, opts, split, 4, rng)
    updates, forgets = rng.sample(updates, min(limit, len(updates))), forgets[:limit]
    stale = new_selected = 0
    task = progress.add_task("supersession", total=len(updates) + len(forgets))
    for n, (text, old, new) in enumerate([*updates, *[(t, o, "") for t, o in forgets]]):
        user = f"update-{n}"
        await core.upsert_cards(retrieval_pb2.UpsertCardsRequest(
            cards=[card_of(user, o) for o in fill_up([old], opts, rng)]))
        await remember(extractor, core, turn(user, text))
        reply = await core.retrieve(retrieval_pb2.RetrieveRequest(user_id=user, query=cases["requests"][old][0],
                                                                  top_k=10, select_k=3))
        selected = [c.card for c in reply.candidates if c.selected]
        stale += card_of(user, opts[old]).card_id in {c.card_id for c in selected}
        new_selected += bool(new) and any(matcher.option(c) == new for c in selected)
        progress.advance(task)
    total = len(updates) + len(forgets)
    figures.values = {"stale-card rate": stale / max(total, 1),
                      "new card selected (revisions)": new_selected / max(len(updates), 1),
                      "revisions": len(updates), "retractions": len(forgets)}
    return figures


# ---- a MiniLM fine-tuned on the train families ----------------------------------------------------------


def finetune(cases: dict, out: Path, epochs: int = 2, seed: int = 0) -> Path:
    """all-MiniLM-L6-v2 fine-tuned with sentence-transformers (in-batch negatives) on the train split's pairs:
    each train request, train conflict and train-family statement with the card it should find."""
    import torch
    from sentence_transformers import InputExample, SentenceTransformer
    from sentence_transformers.sentence_transformer import losses
    from torch.utils.data import DataLoader

    from attune.services.common.embeddings import default_model_path

    torch.manual_seed(seed)
    opts, rng = options(), random.Random(seed)
    train = [*requests(cases, opts, "train"), *conflicts(cases, "train"), *statements(cases, opts, "train", 2, rng)]
    pairs = [InputExample(texts=[c.text, f"When {opts[c.option].condition}: {opts[c.option].preference}"])
             for c in train]
    model = SentenceTransformer(str(default_model_path()), device="cpu")
    loader = DataLoader(pairs, shuffle=True, batch_size=32)
    model.fit(train_objectives=[(loader, losses.MultipleNegativesRankingLoss(model))], epochs=epochs,
              warmup_steps=5, show_progress_bar=False)
    model.save(str(out))
    return out


# ---- the extractor's preference gate ------------------------------------------------------------------------

GATE_DATASETS = ("math-500", "humaneval", "logiqa", "medqa", "mmlu", "theoremqa")
# Forms of a preference said with no condition.
BARE = ("{preference}.", "Please {preference}.")


def train_gate(cases: dict, embedder, out: Path, seed: int = 0) -> dict:
    """Fit the gate's logistic regression on the train split: statements of every option in the train
    families (800 drawn) and each option's preference said bare ("Use SI units throughout.", "Please use ...":
    users state preferences without a condition too), against the train negatives, the train requests and half the
    problems of each shipped task sample (turns that ask for work and state no preference), each whole and
    sentence by sentence, as the gate scores them. Writes the weights; returns what it saw."""
    from sklearn.linear_model import LogisticRegression

    from attune.services.extractor.gate import GateWeights, parts

    opts, rng = options(), random.Random(seed)
    stated = rng.sample([c.text for c in statements(cases, opts, "train", len(opts), rng)], 800)
    stated += [fill(form, preference=o.preference) for o in opts.values() for form in BARE]
    unstated = [p for text in gate_negatives(cases, opts, "train") for p in dict.fromkeys(parts(text))]
    vectors = embedder.embed(stated + unstated)
    labels = np.array([1] * len(stated) + [0] * len(unstated))
    fitted = LogisticRegression(C=10, class_weight="balanced", max_iter=5000).fit(vectors, labels)
    trained_on = {"statements": len(stated), "other turns": len(unstated), "seed": seed,
                  "by": "bench/memory_quality.py --train-gate"}
    GateWeights(embedder.id, fitted.coef_[0].astype(np.float32), float(fitted.intercept_[0])).save(out, trained_on)
    return trained_on


def gate_negatives(cases: dict, opts: dict[str, Option], split: str) -> list[str]:
    """Turns that state no preference: the split's negatives and requests, and task problems."""
    return [c.text for c in [*negatives(cases, split), *requests(cases, opts, split)]] + task_problems(split)


def task_problems(split: str) -> list[str]:
    """The problems of each shipped task sample: train the first half, held-apart the second."""
    from attune.orchestrator.tasks.registry import load_problems

    out = []
    for name in GATE_DATASETS:
        problems = [p.question[:500] for p in load_problems(name)]
        half = len(problems) // 2
        out += problems[:half] if split == "train" else problems[half:]
    return out


async def gate_figures(extractor, cases: dict, opts: dict[str, Option], split: str, rng: random.Random,
                      progress: Progress) -> Figures:
    """The share of each kind of turn the extractor's gate sends to the model (no model call)."""
    figures = Figures()
    kinds = {"statements": [c.text for c in statements(cases, opts, split, 2, rng)],
             "other turns": [c.text for c in negatives(cases, split)],
             "requests": [c.text for c in requests(cases, opts, split)],
             "task problems": task_problems(split)}
    task = progress.add_task(f"gate ({extractor.settings.gate})", total=sum(map(len, kinds.values())))
    for kind, texts in kinds.items():
        sent = 0
        for text in texts:
            began = time.perf_counter()
            sent += await extractor.states_preference(text)
            figures.latencies.append(time.perf_counter() - began)
            progress.advance(task)
        figures.values[f"{kind} sent"] = sent / max(len(texts), 1)
    figures.values["turns"] = sum(map(len, kinds.values()))
    return figures


# ---- the run -----------------------------------------------------------------------------------------------


@dataclass
class Services:
    model: object
    embedder: object
    extractor: object
    folder: Path

    def extractor_with(self, **settings):
        """An extractor over the same model and embedder, with other settings."""
        from attune.services.extractor.core import ExtractorService
        from attune.services.extractor.gate import PreferenceGate
        from attune.services.extractor.settings import ExtractorSettings

        core = ExtractorService(ExtractorSettings(**settings), self.model, PreferenceGate(self.embedder))
        core.ready = True
        return core

    def retrieval(self, name: str, embedder=None, **settings) -> RetrievalService:
        embedder = embedder or self.embedder
        store = EdgeCardStore(self.folder / name.replace(" ", "_").replace("+", "and").replace(",", ""), embedder.id,
                              embedder.dim)
        return RetrievalService(RetrievalSettings(**settings), embedder, store, model=self.model)


async def measure(services: Services, cases: dict, split: str, limit: int, seed: int, parts: set[str],
                  progress: Progress, tuned=None, updates: int = 40) -> dict[str, dict[str, Figures]]:
    """The figures of each part asked for; ``tuned``: a fine-tuned embedder, measured beside the packaged one."""
    opts = options()
    rng = random.Random(seed)
    matcher = OptionMatcher(services.embedder, opts)
    results: dict[str, dict[str, Figures]] = {}
    if "retrieval" in parts:
        asked, rivals = requests(cases, opts, split), conflicts(cases, split)
        configs = [(name, None, settings) for name, settings in RETRIEVAL_CONFIGS.items()]
        if tuned is not None:
            configs += [(f"{name}, MiniLM fine-tuned", tuned, RETRIEVAL_CONFIGS[name])
                        for name in ("card", "hybrid + conflict choice")]
        results["retrieval"] = {}
        for name, embedder, settings in configs:
            core = services.retrieval(name, embedder, **settings)
            try:
                results["retrieval"][name] = await retrieval_figures(core, asked, rivals, opts, seed, progress)
            finally:
                await core.close()
    if "gate" in parts:
        results["gate"] = {name: await gate_figures(services.extractor_with(gate=gate), cases, opts, split,
                                                    random.Random(seed), progress)
                           for name, gate in EXTRACTION_CONFIGS.items()}
    if "extraction" in parts:
        stated = statements(cases, opts, split, 2, rng)
        unstated = negatives(cases, split)
        stated, unstated = rng.sample(stated, min(limit, len(stated))), unstated[:limit]
        results["extraction"] = {}
        for name, gate in EXTRACTION_CONFIGS.items():
            extractor = services.extractor_with(gate=gate)
            results["extraction"][name] = await extraction_figures(extractor, matcher, stated, unstated, progress)
    if "supersession" in parts:
        core = services.retrieval("supersession")
        try:
            results["supersession"] = {"extractor + hybrid": await supersession_figures(
                services.extractor, core, matcher, cases, opts, split, updates, seed, progress)}
        finally:
            await core.close()
    return results


def tables(results: dict[str, dict[str, Figures]]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Per part: the columns and one row per configuration, latency last."""
    out = {}
    for part, configs in results.items():
        names = list(next(iter(configs.values())).values)
        columns = ["configuration", *names, "p50 ms", "p99 ms"]
        rows = [[config, *(_cell(f.values[n]) for n in names), *_latency(f.latencies)] for config, f in configs.items()]
        out[part] = (columns, rows)
    return out


def _latency(seconds: list[float]) -> list[str]:
    """p50 and p99 in ms; "–" where the part times nothing of its own."""
    return [f"{1000 * percentile(seconds, q):.0f}" if seconds else "–" for q in (50, 99)]


def _cell(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.2f}"


def write_docs(path: Path, split: str, results: dict[str, dict[str, Figures]], seconds: float) -> None:
    """Replace the split's tables of the parts measured now; the other parts' tables stay, with their dates."""
    today = datetime.date.today().isoformat()
    found = sections(block(path, f"memory-quality-{split}"), PARTS)
    for part, (columns, rows) in tables(results).items():
        found[part] = [f"**{part}** ({today})", "", *markdown_table(columns, rows), ""]
    lines = [f"Figures of `bench/memory_quality.py` on the {split} cases, each part with the date it was measured; "
             f"the latest run took {seconds / 60:.0f} min on {machine()}.", ""]
    for part in PARTS:
        lines += found.get(part, [])
    replace_block(path, f"memory-quality-{split}", "\n".join(lines))


async def open_services(folder: Path) -> Services:
    from attune.services.common.embeddings import Embedder
    from attune.services.common.settings import CommonSettings, load
    from attune.services.model.core import ModelService
    from attune.services.model.settings import ModelSettings

    model = ModelService(ModelSettings(), load(CommonSettings).data_dir)
    await model.start()
    services = Services(model, Embedder(threads=1), None, folder)
    services.extractor = services.extractor_with()
    return services


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["heldout", "train"], default="heldout")
    parser.add_argument("--limit", type=int, default=10_000, help="at most this many statements and as many other "
                        "turns for extraction (each may call the model); retrieval always runs every case")
    parser.add_argument("--updates", type=int, default=40, help="revisions and retractions, each (every one "
                        "embeds a 40-card user and calls the model)")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finetune", action="store_true", help="also fine-tune MiniLM on the train families "
                        "(minutes) and measure retrieval with it")
    parser.add_argument("--train-gate", action="store_true", help="fit the extractor's preference gate on the "
                        "train split, write services/extractor/data/gate.json, and stop")
    parser.add_argument("--docs", default=str(DOCS), help="the file whose figures block is updated; '' for none")
    args = parser.parse_args()
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}; the parts are {', '.join(PARTS)}")
    setup_logging("bench", "error", json=True)
    console = Console()
    if args.train_gate:
        from attune.services.common.embeddings import Embedder

        embedder = Embedder(threads=1)
        console.print(train_gate(load_cases(), embedder, GATE, args.seed))
        embedder.close()
        return
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="attune-memory-") as folder:
        tuned = None
        if args.finetune:
            from attune.services.common.embeddings import Embedder

            with console.status("fine-tuning MiniLM on the train families"):
                tuned = Embedder(finetune(load_cases(), Path(folder) / "minilm-tuned", seed=args.seed), threads=1)
        services = await open_services(Path(folder))
        try:
            with Progress(console=console, transient=True) as progress:
                results = await measure(services, load_cases(), args.split, args.limit, args.seed,
                                        set(args.parts.split(",")), progress, tuned, args.updates)
        finally:
            await services.extractor.close()
            await services.model.close()
            services.embedder.close()
            if tuned is not None:
                tuned.close()
    for part, (columns, rows) in tables(results).items():
        table = Table(*columns, title=f"{part} ({args.split})")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if args.docs:
        write_docs(Path(args.docs), args.split, results, time.perf_counter() - began)


if __name__ == "__main__":
    asyncio.run(main())
