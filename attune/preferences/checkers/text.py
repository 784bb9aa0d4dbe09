"""Reading a reply's markdown and prose, shared by the checkers: fenced code blocks, list, table and
heading patterns, and sentences (counted without NLTK data; see the package docstring)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- Reading markdown -------------------------------------------------------------------------------

FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`{}]*)[^\n]*\n(?P<code>.*?)"
                   r"(?:^ {0,3}(?P=fence)[ \t]*$|\Z)", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]+`")
NUMBERED_ITEM = re.compile(r"^\s*\d+[.)]\s+\S", re.M)
STEP_LABEL = re.compile(r"^\s*(?:#{1,6}\s+)?[*_]*step\s+\d+\b", re.I | re.M)  # "**Step 2:** ...", "### Step 2"
BULLET_ITEM = re.compile(r"^\s*[-*+•]\s+\S", re.M)
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$", re.M)
HEADING = re.compile(r"^ {0,3}#{1,6}\s+\S", re.M)
BOLD = re.compile(r"\*\*(?=\S)[^*\n]+?\*\*|__(?=\S)[^_\n]+?__")


@dataclass(frozen=True)
class CodeBlock:
    lang: str  # the fence's info string, lower case; "" when unlabeled
    code: str


def code_blocks(reply: str) -> list[CodeBlock]:
    return [CodeBlock(m["lang"].lower(), m["code"]) for m in FENCE.finditer(reply)]


def prose(reply: str) -> str:
    """The reply without its fenced code blocks; each block leaves a paragraph break."""
    return FENCE.sub("\n\n", reply)


def plain_prose(reply: str) -> str:
    """Prose without inline code either: what the reader sees as text."""
    return INLINE_CODE.sub(" ", prose(reply))


def ends_with_code(reply: str) -> bool:
    blocks = list(FENCE.finditer(reply))
    return bool(blocks) and blocks[-1].end() >= len(reply.rstrip())


# --- Sentences --------------------------------------------------------------------------------------

ABBREVIATION = re.compile(r"\b(e\.g|i\.e|etc|vs|approx|cf|Dr|Mr|Mrs|Ms|St|Fig|No)\.", re.I)
STRUCTURE_LINE = re.compile(r"^\s*(?:[-*+•]\s|\d+[.)]\s|#{1,6}\s|>|\|)")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]*_]*\s+(?=[^a-z\s])")


def sentences(reply: str) -> list[str]:
    """The sentences of the reply's prose. Code blocks are left out and inline code counts as a word;
    a sentence ends at . ! or ? before a space and a non-lower-case letter (so ``numpy.array``, 3.5 and
    "e.g. this" do not end one), and also at the end of a paragraph, list item, heading or table row."""
    text = ABBREVIATION.sub(r"\1", INLINE_CODE.sub("code", prose(reply)))
    return [s.strip() for chunk in _chunks(text) for s in SENTENCE_END.split(chunk) if re.search(r"\w", s)]


def _chunks(text: str) -> list[str]:
    """Paragraphs, with every list item, heading, quote or table row a chunk of its own."""
    chunks, paragraph = [], []
    for line in text.splitlines():
        if line.strip() and not STRUCTURE_LINE.match(line):
            paragraph.append(line.strip())
            continue
        chunks += [" ".join(paragraph), line]
        paragraph = []
    return [*chunks, " ".join(paragraph)]


def closing_sentence(reply: str) -> str:
    """The reply's last sentence without trailing markup; "" when the reply ends with a code block."""
    found = sentences(reply)
    if ends_with_code(reply) or not found:
        return ""
    return found[-1].rstrip(" *_\"')”’")
