"""Changes of mind: which known cards a user turn supersedes or retracts.

A **retraction** ("forget what I said about LaTeX", "please stop giving me
examples") removes the known cards it names and needs no model call. The named
text is the quoted text that follows the cue in its sentence, else the rest of
the cue's clause; a card is named by the share of the named text's words found
in its condition and preference (``overlap``), the best card(s) at or above the
floor. A bare "scratch that" or "forget what I said" names the cards whose
evidence is the user's previous turn. "stop X" is a retraction only when X names
a known card that asks *for* something (not one that says "don't"); otherwise
it stays a preference statement for the model to read.

A **supersession** replaces a known card by a new card of the same conflict
group with another preference ("another": below the merge similarity, which
would make it the same card). It needs either

* the same *specific* condition (normalized alike, or condition words
  similar at least ``condition_similarity``): "when writing Python: use
  snake_case" replaces "when writing Python: use camelCase"; or
* a **revision** cue in the turn ("actually", "from now on", "instead", ...)
  and a turn that names the old card: its specific condition restated, or its
  preference's distinctive words mentioned (``overlap`` at least the floor).
  The new card's condition must be "always", the old one's, or restated.

And whatever the groups, a turn that yields a new card supersedes the known
cards it says it replaces: "instead of X", "rather than X", "no more X", "no
longer X", "not X anymore", X naming a card as a retraction does (``replaced``).

Two "always" cards of one group never supersede each other without a revision
cue: "always" is what the small model picks for most cards. A revision must
name the old card because the small model's conflict groups are coarse (it
files most cards under one group), so group and condition alone would let
"actually, use LaTeX" replace every "always" card the user has; for the same
reason the group is not asked of a card the turn replaces by name (SmolLM2
filed "numbered lists for steps" and its "bullet points instead" revision
under two groups).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from attune.services.common.cards import grounding, normalize, similarity, unconditional
from attune.v1 import common_pb2

REVISION = re.compile(
    r"\b(actually|from now on|going forward|instead|changed? my mind|change of plan|let's change|no longer|"
    r"rather than|switch(?:ed)? to|replace|any ?more)\b", re.IGNORECASE)

_POLITE = r"(?:\b(?:please|you can|can you|just)\s+)?"
_VERB = _POLITE + r"\b(?:forget|ignore|disregard|drop|remove|delete|cancel)\s+(?:about\s+)?"
_ABOUT = r"(?:\s+(?:for|about|regarding|on))?"
# Explicit retraction cues; the named text follows each (see ``_named``).
RETRACTIONS = [re.compile(p, re.IGNORECASE) for p in (
    _VERB + r"(?:what|that)\s+i\s+(?:just\s+)?(?:asked(?:\s+you)?|said|told\s+you|wanted|requested|mentioned)" + _ABOUT,
    _VERB + r"(?:my|the)\s+(?:(?:earlier|previous|last|old|first)\s+)?(?:request|preference|instruction|rule)s?"
    + _ABOUT,
    _POLITE + r"\bforget\s+about",
    _POLITE + r"\bscratch\s+what\s+i\s+(?:just\s+)?said" + _ABOUT,
    _POLITE + r"\bscratch\s+that(?=\s*(?:[,.;:!?-]|$))",
    _POLITE + r"\bnever\s*mind\s+(?:about|what\s+i\s+(?:just\s+)?said(?:\s+about)?)",
)]
# "stop X" as an imperative (at a clause start, or after "please", "you can", ...), not "how do I stop a loop".
STOP = re.compile(
    r"(?:^|(?<=[,.;:!?-])\s*|\b(?:please|you can|can you|just)\s+)stop\s+"
    r"(?:(?:doing|giving|using|adding|writing|putting|including|making|showing|following|applying)\s+)?"
    r"(?:me\s+|my\s+(?:rule\s+)?)?", re.IGNORECASE)
# "use bullets instead of X": X names the card the turn's new card replaces.
REPLACED = [re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:instead of|rather than|no more)\s+",
    r"\bno longer\s+(?:(?:want|need|use|like|do)\s+)?",
)]
_NOT_ANYMORE = re.compile(r"\bnot\s+([^,.;:!?]{3,200}?)\s+any ?more\b", re.IGNORECASE)
NEGATIVE = re.compile(r"\b(don't|do not|never|no|not|avoid|stop|without)\b", re.IGNORECASE)

_QUOTED = re.compile(r"(?<!\w)(?:'(.+?)'|\"(.+?)\"|‘(.+?)’|“(.+?)”)(?!\w)")
_SENTENCE = re.compile(r".*?(?:[.;!?](?=\s|$)|$)", re.DOTALL)
_CLAUSE = re.compile(r"[^,.;:!?]*")
# Words that say nothing about which card is meant: preference cues, fillers, "answers".
_GENERIC = frozenset(
    "always never don not please prefer like love want need would rather use using keep make sure give giving "
    "from now future actually instead stop answer answers reply replies response responses you your that this "
    "those these them thing things rule rules request requests preference preferences said asked told gave set "
    "just earlier previous old".split())
# Groups that are no slot: two cards in them say unrelated things.
SLOTLESS = frozenset({"", "other"})


@dataclass
class Retraction:
    removed: list[str]
    # The turn without its retraction clauses: what is left for the model to read.
    rest: str


def is_revision(turn: str) -> bool:
    return bool(REVISION.search(turn))


def distinctive(text: str) -> str:
    """The words of ``text`` that can tell one card from another."""
    return " ".join(w for w in normalize(text).split() if len(w) > 2 and w not in _GENERIC)


def overlap(named: str, text: str) -> float:
    """Share of the distinctive words of ``named`` found in ``text`` (word forms match by prefix)."""
    words = distinctive(named)
    return grounding(words, text) if words else 0.0


def retract(turn: str, turns: Sequence[common_pb2.Message], known: Sequence[common_pb2.PreferenceCard],
            floor: float) -> Retraction:
    """The known cards the turn retracts, and the turn without its retraction clauses."""
    removed: list[str] = []
    spans: list[tuple[int, int]] = []
    for start, end, named, explicit in _cues(turn):
        if any(start < e and s < end for s, e in spans):
            continue
        cards = _named_cards(named, known, floor, positive_only=not explicit) if named else \
            _previous_turn_cards(turns, known)
        if cards or explicit:
            spans.append((start, end))
            removed += [c.card_id for c in cards if c.card_id not in removed]
    return Retraction(removed, _without(turn, spans))


def _cues(turn: str):
    """(start, end, named text, explicit) of each retraction cue; "stop X" is not explicit."""
    for pattern in RETRACTIONS:
        for m in pattern.finditer(turn):
            named, end = _named(turn, m.end())
            yield m.start(), end, named, True
    for m in STOP.finditer(turn):
        named, end = _named(turn, m.end())
        if distinctive(named):
            yield m.start(), end, named, False


def _named(turn: str, pos: int) -> tuple[str, int]:
    """The text a cue at ``pos`` names, and where it ends: a quote in the sentence, else the clause."""
    sentence = _SENTENCE.match(turn, pos).group()
    quoted = _QUOTED.search(sentence)
    if quoted:
        return next(g for g in quoted.groups() if g), pos + quoted.end()
    clause = _CLAUSE.match(turn, pos).group()
    return (clause.strip() if distinctive(clause) else ""), pos + len(clause)


def _named_cards(named: str, known, floor: float, positive_only: bool) -> list[common_pb2.PreferenceCard]:
    """The known cards that ``named`` matches best, if at least ``floor``; ties all go."""
    scored = [(overlap(named, f"{c.condition} {c.preference}"), c) for c in known
              if not (positive_only and NEGATIVE.search(c.preference))]
    best = max((score for score, _ in scored), default=0.0)
    return [c for score, c in scored if score == best] if best >= floor and best > 0 else []


def _previous_turn_cards(turns, known) -> list[common_pb2.PreferenceCard]:
    """The known cards whose evidence is (part of) the user's previous turn."""
    previous = next((t.content for t in reversed(turns[:-1]) if t.role == "user"), "")
    said = f" {normalize(previous)} "
    return [c for c in known if normalize(c.evidence) and f" {normalize(c.evidence)} " in said]


def _without(turn: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return turn
    kept, last = [], 0
    for start, end in sorted(spans):
        kept.append(turn[last:start])
        last = end
    kept.append(turn[last:])
    rest = " ".join(" ".join(kept).split()).strip(" ,;:-.!?()[]'\"")
    return rest if re.search(r"\w", rest) else ""


def replaced(turn: str, known: Sequence[common_pb2.PreferenceCard], floor: float) -> list[str]:
    """The known cards the turn says it replaces ("... instead of numbered lists", "not X anymore")."""
    named = [_named(turn, m.end())[0] for pattern in REPLACED for m in pattern.finditer(turn)]
    named += [m.group(1) for m in _NOT_ANYMORE.finditer(turn)]
    ids: list[str] = []
    for text in named:
        ids += [c.card_id for c in _named_cards(text, known, floor, positive_only=False) if c.card_id not in ids]
    return ids


def supersedes(new: dict, old: common_pb2.PreferenceCard, turn: str, *, revision: bool,
               condition_similarity: float, floor: float) -> bool:
    """Whether ``new`` (a card dict that is not a duplicate of ``old``) replaces ``old``; see the module doc."""
    if new["conflict_group"] in SLOTLESS or new["conflict_group"] != old.conflict_group:
        return False
    same = same_condition(new["condition"], old.condition, condition_similarity)
    if not revision:
        return same and not unconditional(new["condition"])
    restated = not unconditional(old.condition) and overlap(old.condition, turn) >= floor
    compatible = same or restated or unconditional(new["condition"])
    return compatible and (restated or overlap(old.preference, turn) >= floor)


def same_condition(a: str, b: str, floor: float) -> bool:
    """Normalized alike, or content words at least ``floor`` similar; "always" is the same only as "always"."""
    if unconditional(a) or unconditional(b):
        return unconditional(a) and unconditional(b)
    return normalize(a) == normalize(b) or similarity(a, "", b, "") >= floor
