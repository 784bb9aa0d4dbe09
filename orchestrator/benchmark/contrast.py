"""The contrast-pair audit: the judge on two replies per preference that differ only in what it asks for.

For each pair (attune/preferences/contrast.py) the judge is asked, by the same ComplianceRequest as a run's
replies, whether the reply that follows the preference follows it (``contrast_follows``: a "no" is a false
reject) and whether the reply that breaks it does (``contrast_breaks``: a "yes" is a false accept). The
checker decides where it exists, as for a real reply, so the verdicts split into checker-decided and
LLM-decided; audit.contrast_rates reports the two apart. A judge that always says yes falsely accepts
every LLM-decided break, one that always says no falsely rejects every LLM-decided follow.
"""

from __future__ import annotations

import random
from functools import cache

from attune.preferences.contrast import ContrastPair, load_pairs
from attune.preferences.schema import load_schema
from attune.v1 import common_pb2, judge_pb2

FOLLOWS, BREAKS = "contrast_follows", "contrast_breaks"
CONTRAST_KINDS = (FOLLOWS, BREAKS)


def chosen_pairs(limit: int | None, seed: int) -> list[ContrastPair]:
    """Every shipped pair in schema order, or a seeded sample of ``limit`` of them."""
    pairs = sorted(load_pairs().values(), key=lambda p: p.preference_id)
    if limit is None or limit >= len(pairs):
        return pairs
    return sorted(random.Random(f"{seed}:contrast").sample(pairs, limit), key=lambda p: p.preference_id)


@cache
def _schema():
    return load_schema()


def card(preference) -> common_pb2.PreferenceCard:
    """A profile preference as the judge sees it: its id is the card id (checkers are keyed by it).
    The judge step builds its cards here too."""
    return common_pb2.PreferenceCard(card_id=preference.id, condition=preference.condition,
                                     preference=preference.preference, conflict_group=preference.conflict_group)


def preference_card(preference_id: str) -> common_pb2.PreferenceCard:
    """The schema's preference as a profile states it, as the judge sees a real one."""
    group, option = preference_id.split(".", 1)
    return card(_schema().preference(group, option))


async def judge_pair(judge, pair: ContrastPair, kind: str, context: common_pb2.RequestContext):
    """The judge's verdict on one reply of a pair: the PreferenceVerdict of its one card."""
    reply = pair.follows if kind == FOLLOWS else pair.breaks
    verdict = await judge.judge_compliance(judge_pb2.ComplianceRequest(
        context=context, query=pair.query, reply=reply, preferences=[preference_card(pair.preference_id)]))
    return verdict.verdicts[0]
