"""ExtractorService: the user's latest turn -> preference cards, through the model service.

A gate (``gate.py``: a classifier over MiniLM, or the old cue list) decides
whether the turn states a preference at all; turns without one skip the model
call unless ``read_every_turn`` is set. The model answers JSON constrained by a
schema. In the default ``grounded`` mode the schema makes the model *choose*
the preference and its condition among the clauses of the user's own turn, which
a 135M model can do and cannot hallucinate past; the preference's choices are
the clauses of the sentences the classifier found stating one (a task turn's
problem text is no candidate), else of the whole turn; ``free`` mode lets a larger
model paraphrase. Either way a card must be grounded in the turn, and cards
that say the same thing as a known card of the user, or as each other, are
merged into one.

Users change their minds (``updates``): a turn that retracts a preference
("forget that I asked for tables") removes the known cards it names before
anything else, and a pure retraction needs no model call; a new card that
replaces a known one (same conflict group and condition, a revision cue such as
"actually" naming the old card, or "instead of <the old preference>")
supersedes it. Both come back in ``removed_card_ids`` for the caller to delete.
A card's evidence is the whole user turn it came from, cut to
``max_evidence_chars``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence

from attune.services.common.cards import card_id, grounding, similarity
from attune.services.common.errors import InvalidArgument, Unavailable
from attune.services.common.logging import get_logger, request_context
from attune.services.common.validation import check_id
from attune.services.extractor.gate import PreferenceGate
from attune.services.extractor.parsing import parse_cards
from attune.services.extractor.settings import ExtractorSettings
from attune.services.extractor.updates import is_revision, replaced, retract, supersedes
from attune.services.model.client import chat_request
from attune.v1 import common_pb2, extractor_pb2

log = get_logger(__name__)

CUES = re.compile(
    r"\b(i (really |strongly |would )?(prefer|like|love|want|need|hate|dislike|expect)|i'd (rather|like|prefer)|"
    r"please (always|never|don't|do not|use|keep|give|be|write|avoid|stop)|always|never|don't|do not|"
    r"from now on|in the future|make sure|keep (it|them|answers)|no more|stop)\b", re.IGNORECASE)

SYSTEM = """You extract a user's preferences about how an assistant should answer.
Read the user's message and list each preference it states, in the user's own words:
- condition: when it applies ("always", or e.g. "when writing Python code")
- preference: what the user wants, as an instruction to the assistant
- conflict_group: a short snake_case topic such as verbosity_level, format_structure, code_naming, math_detail, tone
- confidence: 0.25, 0.5, 0.75 or 1.0
Answer with JSON only."""


GROUPS = ("verbosity_level", "format_structure", "code_naming", "code_style", "math_detail", "guidance_style",
          "explanation_depth", "examples", "tone", "language", "other")
_CLAUSE_SPLIT = re.compile(r"(?<=[.!?;])\s+|,\s+(?:and|but)\s+|\s+but\s+")
_CONDITION = re.compile(r"\b(?:when|whenever|if|for|in)\b[^,.;!?]{3,80}", re.IGNORECASE)


def clauses(turn: str) -> list[str]:
    """The turn cut into clauses; those with a preference cue first."""
    parts = [p.strip(" ,:") for p in _CLAUSE_SPLIT.split(turn) if len(p.strip(" ,:")) > 3]
    cued = [p for p in parts if CUES.search(p)]
    return cued or parts or [turn.strip()]


def conditions(turn: str) -> list[str]:
    found = [m.group(0).strip() for m in _CONDITION.finditer(turn)]
    return ["always", *dict.fromkeys(found)]


def card_schema(turn: str, grounded: bool, min_items: int, max_items: int, sentences: Sequence[str] = ()) -> str:
    """JSON schema of the answer. Grounded: preference and condition are chosen from the turn's own words, the
    preference among the clauses of ``sentences`` (those stating one) when given."""
    if grounded:
        chosen = [c for sentence in sentences for c in clauses(sentence)] or clauses(turn)
        preference, condition = {"enum": list(dict.fromkeys(chosen))}, {"enum": conditions(turn)}
    else:
        preference = condition = {"type": "string", "minLength": 1, "maxLength": 160}
    card = {"type": "object", "additionalProperties": False,
            "required": ["condition", "preference", "conflict_group", "confidence"],
            "properties": {"condition": condition, "preference": preference,
                           "conflict_group": {"enum": list(GROUPS)},
                           "confidence": {"enum": [0.25, 0.5, 0.75, 1.0]}}}
    return json.dumps({"type": "object", "additionalProperties": False, "required": ["preferences"],
                       "properties": {"preferences": {"type": "array", "items": card, "minItems": min_items,
                                                      "maxItems": max_items}}})


class ExtractorService:
    """Extracts preference cards; ``model`` is a ModelService or a ModelClient."""

    def __init__(self, settings: ExtractorSettings, model, gate: PreferenceGate | None = None):
        if settings.gate == "classifier" and gate is None:
            raise ValueError("ATTUNE_EXTRACTOR_GATE=classifier needs the preference gate (an embedder)")
        self.settings = settings
        self.model = model
        self.gate = gate
        self.ready = False

    async def start(self) -> None:
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        if self.gate is not None:
            self.gate.close()

    async def extract(self, request: extractor_pb2.ExtractRequest) -> extractor_pb2.ExtractResponse:
        if not self.ready:
            raise Unavailable("extractor is not started")
        turn = self._validate(request)
        with request_context(request.context):
            retraction = retract(turn, request.turns, request.known_cards, self.settings.change_min_overlap)
            rest = retraction.rest
            stated, sentences = await self._stating(rest)
            if not rest or not (stated or self.settings.read_every_turn):
                if retraction.removed:
                    log.info("retracted", removed=len(retraction.removed))
                return extractor_pb2.ExtractResponse(removed_card_ids=retraction.removed)
            reply = await self.model.chat(self._request(request, rest, stated, sentences))
            found, rejected = parse_cards(reply.text)
            found = self._grounded(found, rest, rejected)
            known = [c for c in request.known_cards if c.card_id not in retraction.removed]
            cards, superseded = self._merge(request, known, found, turn)
            removed = [*retraction.removed, *superseded]
            for reason in rejected:
                log.info("extraction_repaired_or_rejected", reason=reason)
            log.info("extracted", cards=len(cards), removed=len(removed), cue=stated,
                     completion_tokens=reply.usage.completion_tokens)
            return extractor_pb2.ExtractResponse(cards=cards, rejected=rejected, usage=reply.usage,
                                                 removed_card_ids=removed)

    async def states_preference(self, text: str) -> bool:
        """Whether the gate sends the turn to the model: the classifier, or the cue list."""
        return (await self._stating(text))[0]

    async def _stating(self, text: str) -> tuple[bool, list[str]]:
        """Whether the gate sends the turn to the model, and the turn's sentences that the classifier found
        stating a preference (none: the turn as a whole, or the cue list)."""
        if not text:
            return False, []
        if self.settings.gate == "cues":
            return bool(CUES.search(text)), []
        scored = (await self.gate.scored_parts([text]))[0]
        threshold = self.settings.gate_threshold
        return max(p for _, p in scored) >= threshold, [part for part, p in scored[1:] if p >= threshold]

    def _validate(self, request) -> str:
        check_id("user_id", request.user_id)
        if not request.turns:
            raise InvalidArgument("turns", "must not be empty")
        last = request.turns[-1]
        if last.role != "user":
            raise InvalidArgument("turns", f"the last turn must be the user's, not {last.role!r}")
        text = last.content.strip()
        if not text:
            raise InvalidArgument("turns[-1].content", "must not be empty")
        if len(text) > self.settings.max_turn_chars:
            raise InvalidArgument("turns[-1].content", f"{len(text)} characters; the limit is "
                                  f"{self.settings.max_turn_chars}")
        return text

    def _request(self, request, turn: str, stated: bool, sentences: list[str]):
        context = request.turns[-1 - self.settings.context_turns:-1] if self.settings.context_turns else []
        shown = "\n".join(f"{t.role}: {t.content[:500]}" for t in context)
        prompt = (f"Conversation so far:\n{shown}\n\n" if shown else "") + f'User: "{turn}"'
        chat = chat_request([("system", SYSTEM), ("user", prompt)], max_tokens=self.settings.max_tokens,
                            caller_role="extractor",
                            json_schema=card_schema(turn, self.settings.mode == "grounded", 1 if stated else 0,
                                                    self.settings.max_cards, sentences))
        chat.context.CopyFrom(request.context)
        chat.context.caller_role = "extractor"
        chat.context.user_id = request.user_id
        return chat

    def _grounded(self, found: list[dict], turn: str, rejected: list[str]) -> list[dict]:
        """Drop cards the turn does not support: most of the preference's words must be in the turn.

        Small models copy examples or invent preferences; a card has to be
        grounded in what the user said.
        """
        kept = []
        for fields in found:
            if grounding(fields["preference"], turn) >= self.settings.min_grounding:
                kept.append(fields)
            else:
                rejected.append(f"not grounded in the user's turn: {fields['preference']!r}")
        return kept

    def _merge(self, request, known: list[common_pb2.PreferenceCard], found: list[dict],
               turn: str) -> tuple[list[common_pb2.PreferenceCard], list[str]]:
        """New cards, each merged into a known or an earlier card that says the same thing; and the ids of the
        known cards they supersede."""
        out: list[common_pb2.PreferenceCard] = []
        superseded = replaced(turn, known, self.settings.change_min_overlap) if found else []
        evidence = turn[:self.settings.max_evidence_chars]
        revision = is_revision(turn)
        for fields in found:
            same = next((c for c in [*out, *known] if self._same(c, fields)), None)
            card = self._card(request, fields, evidence, same)
            if same is not None and same in out:
                out[out.index(same)] = card
            else:
                out.append(card)
            superseded += [k.card_id for k in known if k.card_id not in superseded and not self._same(k, fields)
                           and supersedes(fields, k, turn, revision=revision,
                                          condition_similarity=self.settings.condition_similarity,
                                          floor=self.settings.change_min_overlap)]
        kept = {c.card_id for c in out}
        return out, [i for i in superseded if i not in kept]

    def _same(self, card: common_pb2.PreferenceCard, fields: dict) -> bool:
        return similarity(card.condition, card.preference, fields["condition"],
                          fields["preference"]) >= self.settings.merge_similarity

    def _card(self, request, fields: dict, evidence: str, same) -> common_pb2.PreferenceCard:
        """``same`` (a card that says the same thing) with the higher confidence, or a new card."""
        if same is not None:
            merged = common_pb2.PreferenceCard()
            merged.CopyFrom(same)
            merged.confidence = max(same.confidence, fields["confidence"])
            merged.evidence = evidence
            return merged
        return common_pb2.PreferenceCard(
            card_id=card_id(request.user_id, fields["condition"], fields["preference"]),
            user_id=request.user_id, condition=fields["condition"], preference=fields["preference"],
            conflict_group=fields["conflict_group"], evidence=evidence, confidence=fields["confidence"],
            created_at_ms=int(time.time() * 1000), session_id=request.context.session_id)


async def build(context) -> ExtractorService:
    """The registry's factory: the extractor reads through its ``model`` peer; the classifier gate embeds
    with the packaged MiniLM (loaded in a worker thread)."""
    gate = None
    if context.settings.gate == "classifier":
        from attune.services.common.embeddings import Embedder

        gate = PreferenceGate(await asyncio.to_thread(Embedder, threads=1), owns_embedder=True)
    return ExtractorService(context.settings, context.peers["model"], gate)
