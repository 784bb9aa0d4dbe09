"""A seeded generator of a small corpus in the EdgeWisePersona format, for tests and offline runs.

Each user gets a persona with a style (verbose or terse, formal or casual,
upbeat or grumpy, a phrase of their own), two to four routines, and sessions in
time order: most are driven by a routine (the meta is its triggers, the user
asks for its actions, ``applied_routines`` names it), the rest are spontaneous
requests under random conditions. The assistant answers in the register the
user's persona calls for, so a per-user adapter has something to learn that a
global one averages away, and users can be told apart from how they ask.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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
    text = f"{opener} {wanted}, {style.phrase}."
    if style.verbose:
        text += (f" It is {meta.weather} and {meta.outdoor_temp} outside this {meta.day_of_week}, so "
                 + ("that would make it lovely in here." if style.upbeat else "I am not in the mood for fiddling."))
    elif not style.upbeat:
        text += " Ugh."
    return text


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


def _session(index: int, routines: list[Routine], style: Style, rng: random.Random) -> Session:
    if rng.random() < 0.7:
        which = rng.randrange(len(routines))
        routine, applied = routines[which], [which]
        meta, actions = routine.triggers, dict(routine.actions)
    else:
        meta = Triggers(**{k: rng.choice(v) for k, v in VALUES.items()})
        device = rng.choice(("tv", "ac", "lights", "speaker", "security"))
        actions, applied = {device: _settings(device, rng)}, []
    messages = [Message(role="user", text=_request(actions, meta, style, rng)),
                Message(role="assistant", text=_confirm(actions, style))]
    if rng.random() < 0.5:
        device = rng.choice(("tv", "ac", "lights", "speaker"))
        extra = {device: _settings(device, rng)}
        messages += [Message(role="user", text=_request(extra, meta, style, rng)),
                     Message(role="assistant", text=_confirm(extra, style))]
    summary = f"The user asked for {len(actions)} device setting(s) on a {meta.weather} {meta.time_of_day}."
    return Session(session_id=index, meta=meta, messages=messages, applied_routines=applied,
                   session_summarization=summary)


def generate_corpus(n_users: int = 12, n_sessions: int = 20, seed: int = 0) -> list[User]:
    """``n_users`` users with ``n_sessions`` sessions each, the same for the same seed."""
    if n_users < 1 or n_sessions < 5:
        raise ValueError("generate at least 1 user and 5 sessions per user (a split needs 3 + 1 + 1)")
    users = []
    for i in range(n_users):
        rng = random.Random(f"{seed}:{i}")
        style = Style(rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.5, rng.choice(PHRASES))
        character = (f"A {rng.choice(OCCUPATIONS)} who enjoys {rng.choice(HOBBIES)}. When talking to the home "
                     f"assistant they are {style.describe()}.")
        routines = [_routine(rng) for _ in range(rng.randint(2, 4))]
        sessions = [_session(k, routines, style, rng) for k in range(n_sessions)]
        users.append(User(user_id=user_id(i), character=character, routines=routines, sessions=sessions))
    return users
