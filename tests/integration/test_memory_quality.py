"""The memory-quality harness, small: real MiniLM, real Qdrant shards, the held-apart cases of bench/memory_data.

The long run is ``bench/memory_quality.py`` in ``make bench``; this checks that the harness runs end to end and
that its figures stay above floors with margin (the whole held-apart run gave hybrid + conflict choice a
recall@5 of 0.64 and the whole-card ranking 0.56; 20 conflicts cannot tell them apart, so only a floor)."""

from __future__ import annotations

import random

import pytest
from rich.progress import Progress

from bench import memory_cases
from bench import memory_quality as mq


@pytest.fixture(scope="module")
def cases():
    return mq.load_cases()


def test_the_cases_cover_every_option_and_keep_train_and_heldout_apart(cases):
    opts = mq.options()
    assert set(cases["requests"]) == set(opts) and all(len(t) == 2 for t in cases["requests"].values())
    for kind in ("statement_families", "negative_families", "update_families", "forget_families"):
        train, heldout = cases[kind]["train"], cases[kind]["heldout"]
        assert not set(train) & set(heldout), kind
        assert not {t for ts in train.values() for t in ts} & {t for ts in heldout.values() for t in ts}, kind
    for conflict in cases["conflicts"]:
        assert {opts[t].group for t in conflict["triggers"]} == {conflict["group"]}
        assert conflict["expected"] in conflict["triggers"]


def test_users_hold_one_option_a_family_and_every_case_its_options():
    opts, rng = mq.options(), random.Random(0)
    needs = [["numbered_steps", "table_compare"], ["bullets_steps", "table_compare"], ["snake_python"]]
    users, home = memory_cases.pack_users(needs, opts, rng)
    assert home[0] != home[1], "numbered_steps and bullets_steps are variants: one user holds one of them"
    for need, n in zip(needs, home, strict=True):
        held = [o.key for o in users[n]]
        assert set(need) <= set(held) and len(held) == memory_cases.CARDS_PER_USER
        assert len({opts[k].family for k in held}) == len(held)


async def test_retrieval_figures_on_heldout_cases(cases, embedder, tmp_path):
    opts, rng = mq.options(), random.Random(0)
    asked = rng.sample(mq.requests(cases, opts, "heldout"), 40)
    rivals = mq.conflicts(cases, "heldout")[:20]
    services = mq.Services(None, embedder, None, tmp_path)
    figures = {}
    with Progress(transient=True, disable=True) as progress:
        for name in ("card", "hybrid + conflict choice"):
            core = services.retrieval(name, **mq.RETRIEVAL_CONFIGS[name])
            try:
                figures[name] = await mq.retrieval_figures(core, asked, rivals, opts, 0, progress)
            finally:
                await core.close()
    for name, found in figures.items():
        assert len(found.latencies) == 60, name
        assert found.values["recall@1"] <= found.values["recall@3"] <= found.values["recall@5"], name
        assert 0 <= found.values["conflict accuracy"] <= 1
    assert figures["hybrid + conflict choice"].values["recall@5"] >= 0.4
    assert figures["card"].values["recall@5"] >= 0.3
    table = mq.tables({"retrieval": figures})["retrieval"]
    assert table[0][:2] == ["configuration", "recall@1"] and [r[0] for r in table[1]] == list(figures)


async def test_gate_figures_on_heldout_cases(cases, embedder, tmp_path):
    """The whole held-apart gate run (no model call): the classifier sent 0.95 of statements and 0.06 of task
    problems, the cue list 0.31 of statements and 0.43 of other turns; floors and ceilings with margin."""
    services = mq.Services(None, embedder, None, tmp_path)
    with Progress(transient=True, disable=True) as progress:
        figures = {gate: await mq.gate_figures(services.extractor_with(gate=gate), cases, mq.options(), "heldout",
                                               random.Random(0), progress) for gate in ("classifier", "cues")}
    classifier, cues = figures["classifier"].values, figures["cues"].values
    assert classifier["turns"] == cues["turns"] == len(figures["cues"].latencies) > 300
    assert classifier["statements sent"] >= 0.85 and classifier["task problems sent"] <= 0.2
    assert classifier["other turns sent"] <= 0.3
    assert cues["statements sent"] <= 0.5, "the cue list misses most held-apart ways of stating a preference"
