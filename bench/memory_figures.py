"""The memory-quality figures of each part, measured on the real services: retrieval (recall@k, conflict
accuracy), extraction (precision, recall), supersession (stale-card rate) and the extractor's gate (the share of
each kind of turn it sends to the model), each with the latencies it timed."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np
from rich.progress import Progress

from attune.orchestrator.personalized import remember
from attune.services.retrieval.core import RetrievalService
from attune.v1 import common_pb2, extractor_pb2, retrieval_pb2
from bench.memory_cases import (
    Case,
    Option,
    card_of,
    fill_up,
    negatives,
    pack_users,
    requests,
    retractions,
    revisions,
    statements,
    task_problems,
)


@dataclass
class Figures:
    values: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


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


# ---- the extractor's preference gate ------------------------------------------------------------------------


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
