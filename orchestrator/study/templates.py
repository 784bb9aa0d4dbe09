"""The wording banks the generator draws from once a difficulty knob is above 0 (generate.py, ``Difficulty``).

At difficulty 0 a user always asks and is answered in one fixed wording per
register (generate.py's ``_request`` and ``_confirm``), so a reference is a
deterministic function of the request. ``paraphrase`` draws instead from the
banks here (openers, device phrasings, confirmations, the device order);
``noise`` garbles user messages (typos, dropped words, filler);
``context_only`` asks for the usual settings without naming any.
"""

from __future__ import annotations

import random

FORMAL_OPENERS = ("Would you be so kind as to set", "Please could you arrange", "I would be grateful if you set",
                  "Kindly adjust", "May I ask you to set", "Could you see to", "Please put", "I should like")
CASUAL_OPENERS = ("Can you do", "Gimme", "Set up", "Throw on", "Make it", "Let's have", "Switch to", "Need")

# Per device, the ways a setting is said; {name} fields are the setting's values.
DEVICE_PHRASES = {
    "tv": ("the TV on {channel} at volume {volume}", "{channel} on the TV, volume {volume}",
           "the telly to {channel} with the sound at {volume}", "TV: {channel}, volume {volume}",
           "the television tuned to {channel}, loudness {volume}"),
    "ac": ("the AC to {mode} at {temperature} degrees, fan speed {fan_speed}",
           "the air conditioning on {mode}, {temperature} degrees, fan {fan_speed}",
           "{temperature} degrees on the AC in {mode} mode with the fan at {fan_speed}",
           "AC: {mode}, {temperature} degrees, fan {fan_speed}",
           "the climate at {temperature} degrees ({mode}, fan level {fan_speed})"),
    "lights": ("the lights {color} at {brightness}% brightness, {mode}",
               "{color} lighting at {brightness} percent, {mode}",
               "the lamps to {brightness}% in {color}, {mode} mode", "lights: {color}, {brightness}%, {mode}",
               "the lighting {mode} and {color}, {brightness}% bright"),
    "speaker": ("the speaker at volume {volume} with {equalizer}", "{equalizer} on the speaker, volume {volume}",
                "the sound system at {volume} using {equalizer}", "speaker: volume {volume}, {equalizer}",
                "music volume {volume} with the {equalizer} setting"),
}
SECURITY_PHRASES = {True: ("the security system armed", "the alarm on", "the house alarm armed", "security: armed"),
                    False: ("the security system disarmed", "the alarm off", "the house alarm disarmed",
                            "security: disarmed")}

FORMAL_CONFIRMS = ("Certainly. I have set {done}.", "Of course. {done} is now in place.", "Very well: {done}.",
                   "It is done; {done}.", "As you wish. I have adjusted {done}.", "Right away. Now set: {done}.")
CASUAL_CONFIRMS = ("Done: {done}.", "Sure, {done}.", "Okay, {done} it is.", "You got it: {done}.",
                   "All set, {done}.", "Yep, {done} now.")
FORMAL_CLOSERS = ("Is there anything else I may do for you this evening?", "Do let me know if you need anything "
                  "further.", "Please tell me if you would like any change.", "May I help with anything else?")
CASUAL_CLOSERS = ("Anything else?", "Need anything more?", "Holler if you want changes.", "What else?")

# Requests that name no setting: the reply must recall the user's routine from the session's conditions. No
# template may hold a setting's value (tv channels, ac modes, light colours, equalizers, numbers), so the
# outdoor temperature ("warm") is never said here.
FORMAL_CONTEXT = ("Good {time_of_day}. Would you set things up as I usually have them, {phrase}.",
                  "Please prepare the house as usual for this {weather} {time_of_day}, {phrase}.",
                  "Hello. The usual arrangement for a {day_of_week} {time_of_day}, please, {phrase}.",
                  "I would like my customary {time_of_day} settings, {phrase}.")
CASUAL_CONTEXT = ("The usual, {phrase}.", "Do my {time_of_day} thing, {phrase}.", "Like always, set it up, {phrase}.",
                  "You know what I want on a {weather} {time_of_day}, {phrase}.",
                  "Same as every {day_of_week}, {phrase}.")

FILLERS = ("um,", "uh", "so", "hmm,", "okay so", "well,", "like")


def device_phrase(device: str, settings: dict, rng: random.Random) -> str:
    if device == "security":
        return rng.choice(SECURITY_PHRASES[bool(settings["armed"])])
    return rng.choice(DEVICE_PHRASES[device]).format(**settings)


def _settings_phrase(actions: dict, rng: random.Random) -> str:
    parts = [device_phrase(d, s, rng) for d, s in actions.items() if s is not None]
    rng.shuffle(parts)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def paraphrase_request(actions: dict, formal: bool, phrase: str, rng: random.Random) -> str:
    opener = rng.choice(FORMAL_OPENERS if formal else CASUAL_OPENERS)
    return f"{opener} {_settings_phrase(actions, rng)}, {phrase}."


def paraphrase_confirm(actions: dict, formal: bool, verbose: bool, rng: random.Random) -> str:
    done = _settings_phrase(actions, rng)
    reply = rng.choice(FORMAL_CONFIRMS if formal else CASUAL_CONFIRMS).format(done=done)
    reply = reply[0].upper() + reply[1:]
    return reply + (" " + rng.choice(FORMAL_CLOSERS if formal else CASUAL_CLOSERS) if verbose else "")


def context_request(meta, formal: bool, phrase: str, rng: random.Random) -> str:
    """A request for the usual settings that names none of them (only the session's conditions)."""
    template = rng.choice(FORMAL_CONTEXT if formal else CASUAL_CONTEXT)
    return template.format(time_of_day=meta.time_of_day, weather=meta.weather, day_of_week=meta.day_of_week,
                           phrase=phrase)


def garble(text: str, rng: random.Random) -> str:
    """Typos (two letters swapped), dropped words and a filler up front; never an empty message."""
    words = []
    for word in text.split():
        roll = rng.random()
        if roll < 0.06 and len(text.split()) > 3:
            continue  # dropped
        if roll < 0.16 and len(word) > 3:
            k = rng.randrange(len(word) - 1)
            word = word[:k] + word[k + 1] + word[k] + word[k + 2:]
        words.append(word)
    if rng.random() < 0.5:
        words.insert(0, rng.choice(FILLERS))
    return " ".join(words) or text
