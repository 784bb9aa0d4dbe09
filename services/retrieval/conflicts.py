"""Conflict-aware ranking and selection: Retrieve's last stage (``conflict_choice=condition``).

Of the cards of one conflict group, the one whose condition is most like the request goes first, and the
select_k best are selected with at most one card of a group, unless the conditions of both hold for the
request.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def choose_by_condition(order: list[int], groups: Sequence[str], conditions: np.ndarray, select_k: int,
                        hold: float, always: Sequence[bool] | None = None) -> tuple[list[int], set[int]]:
    """Conflict-aware ranking and selection.

    ``order`` is the candidates' ranking by score. The cards of one conflict group keep the places the group
    has in it, filled anew by condition similarity, so the card whose condition best fits the request leads
    its group. Then the first ``select_k`` are selected, skipping a card whose group already has a selected
    card unless both cards' conditions hold (similarity at least ``hold``, or ``always`` for an unconditional
    card): two rival preferences reach the context together only when the request really asks for both. A
    card without a group has no rival.
    """
    always = always or [False] * len(groups)

    def holds(i: int) -> bool:
        return always[i] or conditions[i] >= hold

    places: dict[str, list[int]] = {}
    for place, i in enumerate(order):
        if groups[i]:
            places.setdefault(groups[i], []).append(place)
    ranked = list(order)
    for group_places in places.values():
        members = sorted((order[p] for p in group_places), key=lambda i: -float(conditions[i]))
        for place, i in zip(group_places, members, strict=True):
            ranked[place] = i
    chosen: list[int] = []
    leader: dict[str, int] = {}
    for i in ranked:
        if len(chosen) == select_k:
            break
        group = groups[i]
        if group in leader and not (holds(i) and holds(leader[group])):
            continue
        if group:
            leader.setdefault(group, i)
        chosen.append(i)
    return ranked, set(chosen)
