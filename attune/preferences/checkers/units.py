"""Unit checkers (``units``): US customary, metric, or miles paired with kilometres."""

from __future__ import annotations

import re

from attune.preferences.checkers.registry import CheckResult, register
from attune.preferences.checkers.text import plain_prose

NUMBER = r"(?:\d+(?:[.,]\d+)*(?:\s*[-–]\s*\d+(?:[.,]\d+)*)?|\d*\s*[½⅓⅔¼¾⅛]|\d+/\d+)"


def _quantity(units: str) -> re.Pattern:
    return re.compile(rf"{NUMBER}(?:\s*|-)(?:{units})(?!\w)")


METRIC = _quantity(r"mg|mcg|[µμ]g|g|grams?|kg|kilograms?|[mM][lL]|millilit(?:er|re)s?|L|lit(?:er|re)s?|°\s?C|"
                   r"degrees? C(?:elsius)?|cm|mm|centimet(?:er|re)s?|millimet(?:er|re)s?")
US = _quantity(r"cups?|tbsp|Tbsp|tablespoons?|tsp|teaspoons?|fl\.? oz|oz|ounces?|lbs?|pounds?|°\s?F|"
               r"degrees? F(?:ahrenheit)?|quarts?|qt|pints?|gallons?|gal|inch(?:es)?|ft|feet|foot|sticks?")
MILES = _quantity(r"mi|miles?|mph")
KILOMETRES = _quantity(r"km/h|kph|km|kilomet(?:er|re)s?")
NEAR = 30  # characters at most between a quantity and its conversion
CONVERSION_GAP = re.compile(r"(?:[\s(\[/,=≈~|:–-]|or|about|roughly|approximately|approx\.|around|nearly|almost|"
                            r"which is|that is|i\.e\.|equals?|just (?:over|under))*", re.I)


def unpaired(text: str, quantity: re.Pattern, other: re.Pattern) -> list[str]:
    """Quantities given in one system only: no quantity of the other system next to them."""
    others = [m.span() for m in other.finditer(text)]
    return [m[0] for m in quantity.finditer(text) if not any(_paired(text, m.span(), span) for span in others)]


def _paired(text: str, one: tuple[int, int], other: tuple[int, int]) -> bool:
    """Two quantities are one value in two systems when only punctuation and a word such as "or about"
    part them: "355 miles (571 km)", "5 km, or roughly 3.1 miles"; not "a 44 lb child takes 300 mg"."""
    gap = text[one[1]:other[0]] if other[0] >= one[1] else text[other[1]:one[0]]
    return len(gap) <= NEAR and bool(CONVERSION_GAP.fullmatch(gap))


def _units(found: list[str], wanted: str) -> CheckResult:
    if found:
        return CheckResult(False, f"quantities without {wanted}: {', '.join(found[:3])}")
    return CheckResult(True, f"every quantity has {wanted}")


@register("units.us_cooking")
def us_customary(reply: str) -> CheckResult:
    return _units(unpaired(plain_prose(reply), METRIC, US), "US customary units")


@register("units.metric_medicine")
def metric(reply: str) -> CheckResult:
    return _units(unpaired(plain_prose(reply), US, METRIC), "metric units")


@register("units.dual_travel")
def miles_and_kilometres(reply: str) -> CheckResult:
    text = plain_prose(reply)
    return _units(unpaired(text, MILES, KILOMETRES) + unpaired(text, KILOMETRES, MILES), "both miles and km")
