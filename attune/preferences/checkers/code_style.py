"""Code checkers (``code_naming``, ``code_comments``): identifier styles and comments, read only in the
reply's fenced code blocks."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable

from attune.preferences.checkers.registry import CheckResult, register
from attune.preferences.checkers.text import CodeBlock, code_blocks

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
