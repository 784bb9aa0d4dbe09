"""Notation checkers (``notation``): LaTeX or plain formulas, logic symbols or words."""

from __future__ import annotations

import re

from attune.preferences.checkers.registry import CheckResult, register
from attune.preferences.checkers.text import code_blocks, plain_prose

LATEX_LANGS = {"latex", "tex", "math", "katex"}
MATH_SPAN = re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<![\\$\w])\$(?=\S)[^$\n]+?(?<=\S)\$(?![\d$])", re.S)
LATEX_COMMAND = re.compile(
    r"\\(?:[dt]?frac|sqrt|cdot|times|div|pm|le|leq|ge|geq|neq|approx|infty|i*int|sum|prod|lim|log|ln|sin|cos|tan|"
    r"exp|partial|nabla|alpha|beta|gamma|delta|Delta|epsilon|theta|lambda|mu|sigma|Sigma|pi|omega|Omega|rho|phi|"
    r"vec|hat|bar|mathbf|mathrm|mathbb|mathcal|text|left|right|begin|end|binom|land|lor|neg|to|rightarrow|"
    r"Rightarrow|implies|iff)\b")
PLAIN_FORMULA = re.compile(
    r"[\w)\]]\^[-\w({]"                                        # x^2, (a+b)^2, e^-x
    r"|\b(?:sqrt|cbrt)\s*\("                                   # sqrt(x)
    r"|[√∛∑∫∏]"                                                # √x
    r"|[\w)][²³⁴⁵⁶⁷⁸⁹⁰¹ⁿ]"                                     # x²
    r"|(?<![\w\\.])(?:[A-Za-z]|\d+(?:\.\d+)?)\s*(?:=|<=|>=|!=|≤|≥|≠)\s*[-+]?[\w(√]"  # x = 3, 2 + 3 = 5
    r"|\d\s*[*×·÷]\s*[\d(]")                                   # 3 * 4


def _latex_source(reply: str) -> str:
    """Where LaTeX would be markup: the prose, and blocks labeled latex/tex/math (code is just code)."""
    return "\n".join([plain_prose(reply), *(b.code for b in code_blocks(reply) if b.lang in LATEX_LANGS)])


def latex_markup(reply: str) -> list[str]:
    source = _latex_source(reply)
    return [m[0] for m in MATH_SPAN.finditer(source)] + LATEX_COMMAND.findall(source)


def plain_formulas(reply: str) -> list[str]:
    """Formulas in plain text (x^2, sqrt(x), x = 3) in the prose outside LaTeX."""
    return [m[0] for m in PLAIN_FORMULA.finditer(MATH_SPAN.sub(" ", plain_prose(reply)))]


@register("notation.latex_math", "notation.latex_science", "notation.latex_paper")
def latex_formulas(reply: str) -> CheckResult:
    """Formulas in LaTeX: the reply has LaTeX and no formula in plain text. Units are not checked."""
    plain = plain_formulas(reply)
    if plain:
        return CheckResult(False, f"formulas in plain text: {', '.join(plain[:3])}")
    if not latex_markup(reply):
        return CheckResult(False, "no LaTeX")
    return CheckResult(True, "formulas in LaTeX")


@register("notation.plain_math", "notation.plain_phone")
def no_latex(reply: str) -> CheckResult:
    markup = latex_markup(reply)
    if markup:
        return CheckResult(False, f"LaTeX markup: {', '.join(markup[:3])}")
    return CheckResult(True, "no LaTeX markup")


LOGIC_SYMBOL = re.compile(r"[∧∨¬→↔⇒⇔⊕∀∃]|<?->|<?=>|\\(?:land|lor|neg|lnot|to|rightarrow|Rightarrow|implies|iff|"
                          r"leftrightarrow|Leftrightarrow|forall|exists|wedge|vee)\b")


def _logic_symbols(reply: str) -> list[str]:
    return LOGIC_SYMBOL.findall(plain_prose(reply))


@register("notation.symbols_logic")
def logic_symbols(reply: str) -> CheckResult:
    found = _logic_symbols(reply)
    return CheckResult(bool(found), f"{len(found)} logic symbols")


@register("notation.words_logic")
def logic_words(reply: str) -> CheckResult:
    found = _logic_symbols(reply)
    if found:
        return CheckResult(False, f"logic symbols: {' '.join(sorted(set(found)))}")
    return CheckResult(True, "no logic symbols")
