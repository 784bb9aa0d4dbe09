"""The profile data model: conditional preferences with machine-checkable triggers."""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

DOMAINS = ("math", "code", "science", "logic", "medicine", "general")
SOURCES = ("schema", "llm", "multisessioncollab")


class ProfileError(ValueError):
    """A bad profile, profile file or schema; the message names the file, the profile and the field."""

    def __init__(self, problem: str, *, path=None, profile: str | None = None, field: str | None = None):
        self.path, self.profile, self.field, self.problem = path, profile, field, problem
        where = [str(path) if path else "", f"profile {profile}" if profile else "", field or ""]
        super().__init__(": ".join([w for w in where if w] + [problem]))


@lru_cache(maxsize=4096)
def _phrase(phrase: str) -> re.Pattern:
    # Lookarounds instead of \b so that phrases starting or ending in a symbol ("c#", "e.g.") still match.
    return re.compile(rf"(?<!\w){re.escape(phrase.strip())}(?!\w)", re.IGNORECASE)


def mentions(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words, ignoring case (a typographic apostrophe counts as ')."""
    return bool(phrase.strip()) and _phrase(phrase).search(text.replace("\u2019", "'")) is not None


class QueryContext(BaseModel):
    """What is known about one user query."""

    text: str
    domain: str = "general"
    language: str = ""


class Trigger(BaseModel):
    """Machine-checkable condition. Fields that are set must all hold (AND); within a field any value will do (OR)."""

    model_config = ConfigDict(extra="forbid")

    always: bool = False
    domains: list[str] = []
    cues: list[str] = []
    languages: list[str] = []

    def is_empty(self) -> bool:
        return not (self.always or self.domains or self.cues or self.languages)

    def holds(self, query: QueryContext) -> bool:
        if self.always:
            return True
        if self.is_empty():
            return False
        if self.domains and query.domain.lower() not in self.domains:
            return False
        if self.cues and not any(mentions(query.text, cue) for cue in self.cues):
            return False
        return not self.languages or any(
            query.language.lower() == lang.lower() or mentions(query.text, lang) for lang in self.languages)

    def minimal_queries(self) -> list[QueryContext]:
        """The smallest queries that satisfy this trigger: one value of each field it sets, nothing else.

        A field it does not set stays empty; in particular the domain is "" and matches no domain list.
        """
        queries = []
        for domain in self.domains or [""]:
            for cue in self.cues or [""]:
                for lang in self.languages or [""]:
                    text = " ; ".join(part for part in (cue, lang) if part)
                    queries.append(QueryContext(text=text, domain=domain, language=lang))
        return queries


def overlaps(a: Trigger, b: Trigger) -> bool:
    """Whether two triggers are NOT disjoint: one holds on a minimal query of the other.

    So a single cue, domain or language (or the smallest combination one trigger needs) never switches
    on two options of a group; a conflict query needs a second, distinct signal.
    """
    if a.always or b.always:
        return True
    return any(b.holds(q) for q in a.minimal_queries()) or any(a.holds(q) for q in b.minimal_queries())


class Preference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    condition: str
    preference: str
    conflict_group: str
    enforce_if: str
    trigger: Trigger


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str
    persona: str
    preferences: list[Preference]
    source: str = "schema"

    def ids(self) -> list[str]:
        return [p.id for p in self.preferences]

    def groups(self) -> list[str]:
        """Conflict groups in order of first appearance."""
        return list(dict.fromkeys(p.conflict_group for p in self.preferences))


def applicable(profile: Profile, query: QueryContext) -> list[Preference]:
    """Preferences whose trigger holds for ``query``, in profile order."""
    return [p for p in profile.preferences if p.trigger.holds(query)]
