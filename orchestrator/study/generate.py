"""A seeded generator of a small corpus in the EdgeWisePersona format, for tests and offline runs.

Each user gets a persona with a style (verbose or terse, formal or casual,
upbeat or grumpy, a phrase of their own), two to four routines, and sessions in
time order: most are driven by a routine (the meta is its triggers, the user
asks for its actions, ``applied_routines`` names it), the rest are spontaneous
requests under random conditions. The assistant answers in the register the
user's persona calls for, so a per-user adapter has something to learn that a
global one averages away, and users can be told apart from how they ask.

At difficulty 0 (the default of ``generate_corpus``) every wording is fixed per
register, so a reference is a deterministic function of the request and the
adapters score near the ceiling. ``Difficulty`` (a study config's
``data.difficulty``) makes the corpus harder; each knob draws from its own
seeded stream, so a knob at 0 leaves the corpus exactly as before and the knobs
do not disturb each other's draws.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from attune.orchestrator.study import templates
from attune.orchestrator.study.data import Message, Routine, Session, Triggers, User, user_id

VALUES = {
    "time_of_day": ("morning", "afternoon", "evening", "night"),
    "day_of_week": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "sun_phase": ("before_sunrise", "daylight", "after_sunset"),
    "weather": ("sunny", "cloudy", "rainy", "snowy", "windy"),
    "outdoor_temp": ("cold", "mild", "warm", "hot"),
}
OCCUPATIONS = ("retired teacher", "night-shift nurse", "software developer", "graduate student", "chef",
               "truck driver", "architect", "musician", "accountant", "gardener", "pilot", "librarian")
HOBBIES = ("jazz records", "football", "cooking shows", "gardening", "video games", "old films", "yoga",
           "podcasts", "birdwatching", "baking", "crossword puzzles", "cycling")
PHRASES = ("as usual", "like always", "if you would", "no rush", "right away", "for the evening",
           "the way I like it", "cheers", "thanks a bunch", "when you can", "quick one", "you know the drill")
DEVICES = ("tv", "ac", "lights", "speaker", "security")
# Of the routine-driven sessions, the share ``noise`` = 1 turns spontaneous.
SPONTANEOUS_AT_FULL_NOISE = 0.5


class Difficulty(BaseModel):
    """How hard the generated corpus is; each knob 0..1, all 0 the fixed-wording corpus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    paraphrase: float = Field(0.0, ge=0, le=1, description=(
        "Share of user requests and of assistant confirmations worded from the larger banks of templates.py "
        "(openers, device phrasings, confirmations, closers, the device order) instead of the user's fixed "
        "wording, so a reference is no longer a function of the request."))
    noise: float = Field(0.0, ge=0, le=1, description=(
        "Share of user messages garbled (typos, dropped words, a filler up front); and noise / 2 of the "
        "routine-driven sessions turn spontaneous (random conditions and one random device setting)."))
    drift: float = Field(0.0, ge=0, le=1, description=(
        "Share of routine actions (routine x device) that get new settings from the middle session of the user "
        "on, so the test sessions (the last ones) ask for values train rarely saw; routines.jsonl keeps the "
        "routines as they were first."))
    context_only: float = Field(0.0, ge=0, le=1, description=(
        "Share of routine-driven sessions whose first request names no setting ('the usual, cheers'): the "
        "reply must recall the routine from the session's conditions. The same share of users (after the "
        "first) copy an earlier user's style, so they differ from them only in their routines."))

    def zero(self) -> bool:
        return not (self.paraphrase or self.noise or self.drift or self.context_only)


@dataclass(frozen=True)
class Style:
    verbose: bool
    formal: bool
    upbeat: bool
    phrase: str

    def describe(self) -> str:
        return (f"{'talkative and long-winded' if self.verbose else 'brief and to the point'}, "
                f"{'formal and polite' if self.formal else 'casual'}, "
                f"{'cheerful' if self.upbeat else 'often grumpy'}, and likes to say '{self.phrase}'")


def _settings(device: str, rng: random.Random) -> dict:
    return {
        "tv": lambda: {"channel": rng.choice(("news", "sports", "movies", "music", "documentaries")),
                       "volume": rng.randrange(5, 40, 5)},
        "ac": lambda: {"temperature": rng.randint(18, 26), "mode": rng.choice(("heat", "cool", "fan")),
                       "fan_speed": rng.randint(1, 3)},
        "lights": lambda: {"brightness": rng.randrange(10, 101, 10), "color": rng.choice(("warm", "cool", "neutral")),
                           "mode": rng.choice(("static", "dim"))},
        "speaker": lambda: {"volume": rng.randrange(5, 50, 5),
                            "equalizer": rng.choice(("balanced", "bass boost", "treble boost"))},
        "security": lambda: {"armed": rng.random() < 0.7},
    }[device]()


def _phrase_settings(device: str, settings: dict) -> str:
    if device == "tv":
        return f"the TV on {settings['channel']} at volume {settings['volume']}"
    if device == "ac":
        return f"the AC to {settings['mode']} at {settings['temperature']} degrees, fan speed {settings['fan_speed']}"
    if device == "lights":
        return f"the lights {settings['color']} at {settings['brightness']}% brightness, {settings['mode']}"
    if device == "speaker":
        return f"the speaker at volume {settings['volume']} with {settings['equalizer']}"
    return "the security system " + ("armed" if settings["armed"] else "disarmed")


def _request(actions: dict, meta: Triggers, style: Style, rng: random.Random) -> str:
    wanted = " and ".join(_phrase_settings(d, s) for d, s in actions.items() if s is not None)
    opener = (rng.choice((f"Good {meta.time_of_day}. Would you kindly set", "Hello. Could you please set",
                          f"Good {meta.time_of_day}. I would like you to set")) if style.formal else
              rng.choice(("Hey, set", "Yo, put", "Ok, set", "Quick, set")))
    return f"{opener} {wanted}, {style.phrase}." + _tail(meta, style)


def _tail(meta: Triggers, style: Style) -> str:
    """What a verbose or grumpy user adds after the request."""
    if style.verbose:
        return (f" It is {meta.weather} and {meta.outdoor_temp} outside this {meta.day_of_week}, so "
                + ("that would make it lovely in here." if style.upbeat else "I am not in the mood for fiddling."))
    return "" if style.upbeat else " Ugh."


def _confirm(actions: dict, style: Style) -> str:
    done = "; ".join(_phrase_settings(d, s) for d, s in actions.items() if s is not None)
    if style.formal:
        reply = f"Certainly. I have set {done}."
        return reply + (" Is there anything else I may do for you this evening?" if style.verbose else "")
    return f"Done: {done}." + (" Anything else?" if style.verbose else "")


def _routine(rng: random.Random) -> Routine:
    triggers = Triggers(**{k: rng.choice(v) for k, v in VALUES.items()})
    devices = rng.sample(("tv", "ac", "lights", "speaker", "security"), rng.randint(1, 3))
    return Routine(triggers=triggers, actions={d: _settings(d, rng) for d in devices})


def _session(index: int, routines: list[Routine], style: Style, rng: random.Random, hard: Hard) -> Session:
    context = False
    if rng.random() < 0.7:
        which = rng.randrange(len(routines))
        if hard.spontaneous():
            meta, actions, applied = hard.spontaneous_request()
        else:
            routine, applied = hard.routine(which, index, routines), [which]
            meta, actions = routine.triggers, dict(routine.actions)
            context = hard.context_only()
    else:
        meta = Triggers(**{k: rng.choice(v) for k, v in VALUES.items()})
        device = rng.choice(DEVICES)
        actions, applied = {device: _settings(device, rng)}, []
    request = _request(actions, meta, style, rng)
    messages = [Message(role="user", text=hard.request(request, actions, meta, style, context)),
                Message(role="assistant", text=hard.confirm(_confirm(actions, style), actions, style))]
    if rng.random() < 0.5:
        device = rng.choice(("tv", "ac", "lights", "speaker"))
        extra = {device: _settings(device, rng)}
        request = _request(extra, meta, style, rng)
        messages += [Message(role="user", text=hard.request(request, extra, meta, style, False)),
                     Message(role="assistant", text=hard.confirm(_confirm(extra, style), extra, style))]
    summary = f"The user asked for {len(actions)} device setting(s) on a {meta.weather} {meta.time_of_day}."
    return Session(session_id=index, meta=meta, messages=messages, applied_routines=applied,
                   session_summarization=summary)


class Hard:
    """One user's difficulty: each knob's decisions and wordings from its own seeded stream, none drawn at 0."""

    def __init__(self, difficulty: Difficulty, seed: int, user: int, routines: list[Routine], n_sessions: int):
        self.d = difficulty
        self.rng = {knob: random.Random(f"{seed}:{user}:{knob}") for knob in Difficulty.model_fields}
        self.drift_from = n_sessions // 2
        self.late = [self._drifted(r) for r in routines] if difficulty.drift else routines

    def _drifted(self, routine: Routine) -> Routine:
        rng = self.rng["drift"]
        actions = {d: (_settings(d, rng) if s is not None and rng.random() < self.d.drift else s)
                   for d, s in routine.actions.items()}
        return Routine(triggers=routine.triggers, actions=actions)

    def routine(self, which: int, index: int, routines: list[Routine]) -> Routine:
        return self.late[which] if index >= self.drift_from else routines[which]

    def spontaneous(self) -> bool:
        return bool(self.d.noise) and self.rng["noise"].random() < self.d.noise * SPONTANEOUS_AT_FULL_NOISE

    def spontaneous_request(self) -> tuple[Triggers, dict, list[int]]:
        rng = self.rng["noise"]
        meta = Triggers(**{k: rng.choice(v) for k, v in VALUES.items()})
        device = rng.choice(DEVICES)
        return meta, {device: _settings(device, rng)}, []

    def context_only(self) -> bool:
        return bool(self.d.context_only) and self.rng["context_only"].random() < self.d.context_only

    def request(self, text: str, actions: dict, meta: Triggers, style: Style, context: bool) -> str:
        if context:
            text = templates.context_request(meta, style.formal, style.phrase, self.rng["context_only"])
        elif self.d.paraphrase and self.rng["paraphrase"].random() < self.d.paraphrase:
            text = templates.paraphrase_request(actions, style.formal, style.phrase,
                                                self.rng["paraphrase"]) + _tail(meta, style)
        if self.d.noise and self.rng["noise"].random() < self.d.noise:
            text = templates.garble(text, self.rng["noise"])
        return text

    def confirm(self, text: str, actions: dict, style: Style) -> str:
        if self.d.paraphrase and self.rng["paraphrase"].random() < self.d.paraphrase:
            return templates.paraphrase_confirm(actions, style.formal, style.verbose, self.rng["paraphrase"])
        return text


def generate_corpus(n_users: int = 12, n_sessions: int = 20, seed: int = 0,
                    difficulty: Difficulty | None = None) -> list[User]:
    """``n_users`` users with ``n_sessions`` sessions each, the same for the same seed and difficulty."""
    if n_users < 1 or n_sessions < 5:
        raise ValueError("generate at least 1 user and 5 sessions per user (a split needs 3 + 1 + 1)")
    difficulty = difficulty or Difficulty()
    users, styles = [], []
    for i in range(n_users):
        rng = random.Random(f"{seed}:{i}")
        style = Style(rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.5, rng.choice(PHRASES))
        if difficulty.context_only and i:
            shared = random.Random(f"{seed}:{i}:styles")
            if shared.random() < difficulty.context_only:
                style = styles[shared.randrange(i)]
        styles.append(style)
        character = (f"A {rng.choice(OCCUPATIONS)} who enjoys {rng.choice(HOBBIES)}. When talking to the home "
                     f"assistant they are {style.describe()}.")
        routines = [_routine(rng) for _ in range(rng.randint(2, 4))]
        hard = Hard(difficulty, seed, i, routines, n_sessions)
        sessions = [_session(k, routines, style, rng, hard) for k in range(n_sessions)]
        users.append(User(user_id=user_id(i), character=character, routines=routines, sessions=sessions))
    return users
