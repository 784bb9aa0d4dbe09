"""Program checkers for the verifiable preferences: each against replies that follow and break it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from attune.orchestrator.profiles import load_schema
from attune.preferences import checkers
from attune.preferences.checkers import CHECKERS, CheckResult, check, checker_for, is_checkable, sentences

NUMBERED = """To set up the environment:

1. Open a terminal in the project folder.
2. Run `python -m venv .venv`.
3. Activate it with `source .venv/bin/activate`.
4. Install the requirements with `pip install -r requirements.txt`.
"""
STEP_LABELS = """**Step 1:** Open a terminal in the project folder.

**Step 2:** Run `python -m venv .venv` and activate it."""
BULLETED = NUMBERED.replace("1. ", "- ").replace("2. ", "- ").replace("3. ", "- ").replace("4. ", "* ")
STEPS_PROSE = ("Open a terminal in the project folder and run `python -m venv .venv`. Then activate it with "
               "`source .venv/bin/activate` and install the requirements with `pip install -r requirements.txt`.")
NUMBERS_IN_CODE = """Your log should look like this:

```text
1. Collecting numpy
2. Installing collected packages
```

If it does, the install worked."""
WHY_PROSE = """The sky is blue because air molecules scatter short wavelengths much more strongly than long ones.
Rayleigh scattering grows with the fourth power of the frequency, so blue light is scattered about five times
more than red.

At sunset the light crosses far more air, so most of the blue is scattered away before it reaches you, and the
reds and oranges are what is left."""
WHY_BULLETS = """The sky is blue because of Rayleigh scattering:

- Air molecules scatter short wavelengths more strongly.
- Blue light is scattered about five times more than red.
- At sunset the blue is scattered away, leaving red."""
TABLE = """Here is how they compare:

| | List | Tuple |
|---|:---:|---|
| Mutable | yes | no |
| Syntax | `[1, 2]` | `(1, 2)` |

Use a tuple for fixed records."""
TABLE_IN_CODE = "```markdown\n| | List | Tuple |\n|---|---|---|\n| Mutable | yes | no |\n```"
COMPARE_PROSE = "A list is mutable and written with brackets, while a tuple is immutable and written with parentheses."

QUICK = "A list is mutable and a tuple is not. Call `np.array(xs)` on either to get an ndarray."
LONG = ("A list is mutable. A tuple is not. Lists use brackets. Tuples use parentheses. "
        "Tuples can be dictionary keys. Lists cannot.")

CODE_FIRST = """```python
def dedupe(items):
    return list(dict.fromkeys(items))
```

This keeps the first occurrence of each item. It runs in linear time."""
CODE_LEAD_IN = "Here is the fix:\n\n```python\nprint(sorted(xs))\n```"
CODE_WRAPPED = """To remove duplicates you need to remember which items you have seen. A dictionary does that well. \
Since Python 3.7 dictionaries keep insertion order.

```python
def dedupe(items):
    return list(dict.fromkeys(items))
```

This keeps the first occurrence of each item. It runs in linear time."""

PY_SNAKE = """In Java you would call this `countWords`, but in Python:

```python
def count_words(text, min_length=1):
    word_counts = {}
    for word in text.split():
        if len(word) >= min_length:
            word_counts[word] = word_counts.get(word, 0) + 1
    print("wordCounts ready")
    return word_counts
```"""
PY_CAMEL = """```python
class WordCounter:
    def __init__(self, minLength=1):
        self.minLength = minLength

    def countWords(self, text):
        wordCounts = {}
        for word in text.split():
            wordCounts[word] = wordCounts.get(word, 0) + 1
        return wordCounts
```"""
PY_MIXED = PY_CAMEL.replace("wordCounts = {}", "word_counts = {}")
JS_CAMEL = """```javascript
// Build the display name.
function getUserName(user) {
  const fullName = `${user.first_name} ${user.last_name}`;
  return fullName.trim();
}
```"""
JS_SNAKE = """```js
function get_user_name(user) {
  const full_name = user.first + " " + user.last;
  return full_name;
}
```"""
TS_CAMEL = """```ts
class UserStore {
  private userCache: Map<string, User> = new Map();
  async loadUser(userId: string, ...rest): Promise<User> {
    if (this.userCache.has(user_id_from_api)) { return this.userCache.get(userId)!; }
    return fetchUser(legacy_id).then((resp) => resp.json());
  }
}
```"""
TS_SNAKE_PARAMS = TS_CAMEL.replace("(resp) => resp", "(raw_resp) => raw_resp")
JAVA_CAMEL = """```java
public class UserAccount {
    private static final int MAX_LOGINS = 3;
    private String userName;

    public String getUserName() {
        return userName;
    }

    public void setUserName(String newName) {
        this.userName = newName;
    }
}
```"""
JAVA_SNAKE = JAVA_CAMEL.replace("getUserName", "get_user_name")
JAVA_BAD_CLASS = JAVA_CAMEL.replace("class UserAccount", "class user_account")
KOTLIN_CAMEL = """```kotlin
data class UserAccount(val userName: String)

fun greet(userName: String) = println("hi, user_name")
```"""
KOTLIN_SNAKE = KOTLIN_CAMEL.replace("fun greet(userName", "fun greet(user_name")
RUST_SNAKE = """```rust
struct LineParser {
    line_count: usize,
}

fn parse_line<'a>(line: &'a str) -> Option<u32> {
    let trimmed = line.trim();
    trimmed.parse().ok()
}
```"""
RUST_CAMEL = RUST_SNAKE.replace("parse_line", "parseLine")
RUST_BAD_TYPE = RUST_SNAKE.replace("struct LineParser", "struct line_parser")
RUST_CAMEL_METHOD = """```rust
impl LineParser {
    fn countLines(&self, text: &str) -> usize { text.lines().count() }
}
```"""
CSHARP_PASCAL = """```csharp
public class UserService
{
    public string FullName { get; set; }
    private int _count;

    public int GetCount()
    {
        var result = Compute(_count);
        return Normalize(result);
    }
}
```"""
CSHARP_CAMEL = CSHARP_PASCAL.replace("public int GetCount()", "public int getCount()")
CSHARP_SNAKE_PROPERTY = CSHARP_PASCAL.replace("FullName", "full_name")
SQL_SNAKE = """```sql
CREATE TABLE user_accounts (
    id SERIAL PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT now()
);
INSERT INTO user_accounts (display_name) VALUES ('JohnDoe');
SELECT display_name FROM user_accounts WHERE id = :userId;
```"""
SQL_CAMEL = """```sql
CREATE TABLE UserAccounts (
    userId SERIAL PRIMARY KEY,
    displayName TEXT
);
```"""

PY_DOCUMENTED = '''```python
def mean(values):
    """The arithmetic mean of a non-empty list."""
    print("# of values:", len(values))
    return sum(values) / len(values)
```'''
PY_COMMENTED = '''```python
def mean(values):
    """The arithmetic mean of a non-empty list."""
    return sum(values) / len(values)  # float division
```'''
PY_UNDOCUMENTED = PY_DOCUMENTED + '''

```python
def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
```'''
JS_URL = '```js\nconst url = "https://example.com/api"; fetch(url);\n```'
JS_DOC = "```js\n/** Sum of two numbers. */\nconst add = (a, b) => a + b;\n```"
SNIPPET = "```python\nsorted(scores.items(), key=lambda kv: kv[1], reverse=True)\n```"
TWO_SENTENCES_FIRST = "Here it is. Run it.\n" + SNIPPET
SNIPPET_COMMENTED = SNIPPET.replace("```python\n", "```python\n# sort by value, highest first\n")
SHELL_UNLABELED = "```\n# install the dependencies first\nnpm install\n```"

LATEX = r"By the quadratic formula, $x = \frac{-b \pm \sqrt{b^2 - 4ac}}{2a}$, so here $x = 2$ or $x = 3$."
PLAIN = "By the quadratic formula, x = (-b ± sqrt(b^2 - 4ac)) / (2a), so here x = 2 or x = 3."
MIXED = LATEX + " Check: 2^2 - 5*2 + 6 = 0."
LATEX_IN_CODE = """Plot it with matplotlib:

```python
plt.title(r"$\\alpha$ against time")
plt.show()
```

The curve peaks at t = 3."""
LATEX_BLOCK = """Paste this into Overleaf:

```latex
\\begin{equation}
  E = mc^2
\\end{equation}
```"""
SCIENCE_LATEX = r"Newton's second law gives $F = ma$, so $a = F/m = 2\,\mathrm{m/s^2}$."
SCIENCE_PLAIN = "Newton's second law gives F = m*a, so a = 10 / 5 = 2 m/s^2."
MONEY = "The plan costs $5 a month and the pro tier $10, so a year of pro is 120 dollars."

SYMBOLS = "From (A → B) ∧ A we get B, and ¬B → ¬A is the contrapositive."
WORDS = "If A implies B and A holds, then B holds; and if B is false, then A is false."
ARROWS = "So A -> B, and together with A this gives B."
ARROWS_IN_CODE = "Filter it like this:\n\n```js\nconst even = xs.filter(x => x % 2 === 0);\n```"

CHECKING_QUESTION = """A closure remembers the variables of the scope it was created in, even after that scope ends.

**Quick check:** what does `make_counter()()` return the second time you call the same counter?"""
OFFER_QUESTION = "A closure remembers the variables of the scope it was created in. Does that make sense?"
STATEMENT_END = "A closure remembers the variables of the scope it was created in, even after that scope ends."
QUESTION_BEFORE_CODE = """What should happen with duplicates? I'll keep the first one.

```python
def dedupe(items):
    return list(dict.fromkeys(items))
```"""
CODE_THEN_QUESTION = QUESTION_BEFORE_CODE + "\n\nWhy does `dict.fromkeys` keep the first occurrence, not the last?"
MEDICAL = "Ibuprofen eases the pain and the swelling. Take it with food and see a doctor if it lasts a week."
MEDICAL_QUESTION = "Ibuprofen eases the pain. Why does it help? It blocks prostaglandins. Take it with food."
MEDICAL_ASKS = MEDICAL + " Have you noticed any swelling around the joint?"

LONG_EXPLANATION = """## Lists and tuples

Lists are mutable sequences. Tuples are immutable, so they can be dictionary keys.

## When to use which

Use a list for a collection that grows; use a tuple for a fixed record."""
TLDR_INLINE = LONG_EXPLANATION + "\n\n**TL;DR:** tuples for fixed records, lists for everything else."
TLDR_HEADING = LONG_EXPLANATION + "\n\n## TL;DR\nTuples for fixed records, lists for everything else."
TLDR_FIRST = "TL;DR: tuples for fixed records.\n\n" + LONG_EXPLANATION
TAKEAWAYS = """Ibuprofen works by blocking the enzymes that make prostaglandins, which drive pain and swelling.

**Key takeaways:**
- Take 200-400 mg every 6 to 8 hours with food.
- Do not exceed 1,200 mg a day without advice."""
TAKEAWAYS_MIDWAY = TAKEAWAYS + """

## Side effects

Ibuprofen can irritate the stomach lining. It can also raise blood pressure in some people."""

COOKING_US = "Preheat the oven to 350°F (175 °C). Whisk 2 cups of flour with 1 tsp of salt and 1 1/2 cups of milk."
COOKING_METRIC = "Preheat the oven to 180°C. Whisk 250 g of flour with 5 g of salt and 300 ml of milk."
MEDICINE_METRIC = "The usual adult dose is 500 mg, up to 4 g a day. A fever is a temperature of 38 °C or higher."
MEDICINE_PAIRED = "A fever is 38 °C (100.4 °F) or higher. For a child of 20 kg the dose is 300 mg."
MEDICINE_WEIGHT = "For a 44 lb child the dose is 300 mg."
MEDICINE_IMPERIAL = "A fever is 100.4°F or higher. For a 44 lb child the dose is 300 mg."
COOKING_PAN = "Bake in a 23 cm pan at 350 °F (180 °C)."
NO_EXAMPLE_NUMBERS = "Whisk the eggs with the sugar until pale, then fold in the flour."
TRIP_TABLE = "| Leg | Distance |\n|---|---|\n| Denver to Moab | 355 mi / 571 km |\n\nKeep to 80 km/h (50 mph)."
TRIP_UNRELATED = "The first 3 miles are paved and the last leg climbs steeply for 2 km."
TRIP_BOTH = "The drive from Denver to Moab is 355 miles (571 km); the last 5-mile (8 km) stretch is slow."
TRIP_KM = "The drive from Denver to Moab is 571 km, about six hours."
TRIP_MILES = "The drive from Denver to Moab is 355 miles, about six hours."

TUTORIAL = """## Install

Run `pip install requests`.

## First request

Call `requests.get(url)` and read `.json()`."""
BASH_HASHES = """Run these:

```bash
# install
pip install requests
# check
python -c "import requests"
```"""
PLAIN_EMAIL = """Hi Dana,

The migration is done and the new server answers on the old address. Please tell me if anything looks off.

Thanks,
Sam"""
BOLD_TERMS = "**Osmosis** is the movement of water across a **semipermeable membrane** toward the higher solute side."
NO_BOLD = "Osmosis is the movement of water across a semipermeable membrane toward the higher solute side."
KWARGS = "Pass options through `**kwargs**` and read them in the function body."
CODE_ONLY = "Here is the fix:\n\n```python\ndef merge(**options):\n    return {**DEFAULTS, **options}\n```"
CODE_WITH_HEADING = "## Solution\n\n" + CODE_ONLY
CODE_WITH_BOLD = "**Note:** this keeps the defaults.\n\n" + CODE_ONLY

# preference id -> (replies that follow it, replies that break it)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "format_structure.numbered_steps": ([NUMBERED, STEP_LABELS], [BULLETED, STEPS_PROSE, NUMBERS_IN_CODE]),
    "format_structure.bullets_steps": ([BULLETED], [NUMBERED, STEPS_PROSE, STEP_LABELS + "\n- Then run it."]),
    "format_structure.bullets_unordered": ([WHY_BULLETS], [NUMBERED, WHY_PROSE]),
    "format_structure.table_compare": ([TABLE], [COMPARE_PROSE, TABLE_IN_CODE, WHY_BULLETS]),
    "format_structure.prose_why": ([WHY_PROSE, NUMBERS_IN_CODE], [WHY_BULLETS, NUMBERED]),
    "verbosity_level.concise_quick": ([QUICK, STATEMENT_END], [LONG, WHY_BULLETS + "\n- Fourth.", ""]),
    "verbosity_level.concise_code": ([CODE_FIRST, CODE_LEAD_IN], [CODE_WRAPPED, QUICK, TWO_SENTENCES_FIRST]),
    "code_naming.snake_python": ([PY_SNAKE, QUICK], [PY_CAMEL, PY_MIXED]),
    "code_naming.camel_python": ([PY_CAMEL, QUICK], [PY_SNAKE, PY_MIXED]),
    "code_naming.camel_javascript": ([JS_CAMEL, TS_CAMEL, QUICK], [JS_SNAKE, TS_SNAKE_PARAMS]),
    "code_naming.camel_java": ([JAVA_CAMEL, KOTLIN_CAMEL, QUICK], [JAVA_SNAKE, JAVA_BAD_CLASS, KOTLIN_SNAKE]),
    "code_naming.snake_rust": ([RUST_SNAKE, QUICK], [RUST_CAMEL, RUST_BAD_TYPE, RUST_CAMEL_METHOD]),
    "code_naming.pascal_csharp": ([CSHARP_PASCAL, QUICK], [CSHARP_CAMEL, CSHARP_SNAKE_PROPERTY]),
    "code_naming.snake_sql": ([SQL_SNAKE, QUICK], [SQL_CAMEL]),
    "code_comments.no_comments_code": ([PY_DOCUMENTED, JS_URL, JS_DOC, SNIPPET], [PY_COMMENTED, JS_CAMEL,
                                                                                  SHELL_UNLABELED]),
    "code_comments.no_comments_snippet": ([SNIPPET, PY_DOCUMENTED], [SNIPPET_COMMENTED, JS_DOC]),
    "code_comments.docstrings_code": ([PY_DOCUMENTED, SNIPPET], [PY_UNDOCUMENTED, PY_COMMENTED]),
    "notation.latex_math": ([LATEX], [PLAIN, MIXED, "The answer is 4.", LATEX_IN_CODE]),
    "notation.latex_science": ([SCIENCE_LATEX], [SCIENCE_PLAIN]),
    "notation.latex_paper": ([LATEX_BLOCK, LATEX], [PLAIN]),
    "notation.plain_math": ([PLAIN, LATEX_IN_CODE, MONEY], [LATEX, LATEX_BLOCK]),
    "notation.plain_phone": ([PLAIN, MONEY], [LATEX, SCIENCE_LATEX]),
    "notation.symbols_logic": ([SYMBOLS, ARROWS], [WORDS, ARROWS_IN_CODE]),
    "notation.words_logic": ([WORDS, ARROWS_IN_CODE], [SYMBOLS, ARROWS, r"Hence $A \land B$."]),
    "checking_questions.check_learning": ([CHECKING_QUESTION], [STATEMENT_END, OFFER_QUESTION]),
    "checking_questions.check_code": ([CODE_THEN_QUESTION], [QUESTION_BEFORE_CODE, OFFER_QUESTION]),
    "checking_questions.no_questions_medicine": ([MEDICAL, MEDICAL_QUESTION], [MEDICAL_ASKS, OFFER_QUESTION]),
    "summary_at_end.tldr_long": ([TLDR_INLINE, TLDR_HEADING], [LONG_EXPLANATION, TLDR_FIRST, CODE_ONLY]),
    "summary_at_end.takeaways_medicine": ([TAKEAWAYS], [MEDICAL, TAKEAWAYS_MIDWAY]),
    "units.us_cooking": ([COOKING_US, NO_EXAMPLE_NUMBERS], [COOKING_METRIC, COOKING_PAN]),
    "units.metric_medicine": ([MEDICINE_METRIC, MEDICINE_PAIRED], [MEDICINE_IMPERIAL, MEDICINE_WEIGHT]),
    "units.dual_travel": ([TRIP_BOTH, TRIP_TABLE], [TRIP_KM, TRIP_MILES, TRIP_UNRELATED]),
    "markup.headings_long": ([TUTORIAL], [STEPS_PROSE, BASH_HASHES]),
    "markup.no_markdown_plain": ([PLAIN_EMAIL], [TUTORIAL, BOLD_TERMS, BULLETED, NUMBERED, CODE_ONLY, KWARGS]),
    "markup.bold_science": ([BOLD_TERMS], [NO_BOLD, KWARGS]),
    "markup.minimal_markup_code": ([CODE_ONLY, KWARGS], [CODE_WITH_HEADING, CODE_WITH_BOLD]),
}
FOLLOWS = [(pid, reply) for pid, (good, _) in CASES.items() for reply in good]
BREAKS = [(pid, reply) for pid, (_, bad) in CASES.items() for reply in bad]

# Checkers that a reply applying no preference passes: they forbid something. The others need a mark
# (a list, LaTeX, a closing question), which is how the judge tells that a preference was applied.
NEUTRAL = "The answer is 4."
PASS_NEUTRAL = {
    "format_structure.prose_why", "verbosity_level.concise_quick", "notation.plain_math", "notation.plain_phone",
    "notation.words_logic", "checking_questions.no_questions_medicine", "units.us_cooking",
    "units.metric_medicine", "units.dual_travel", "markup.no_markdown_plain", "markup.minimal_markup_code",
    *(pid for pid in CHECKERS if pid.startswith(("code_naming.", "code_comments."))),
}


@pytest.mark.parametrize(("pid", "reply"), FOLLOWS)
def test_follows(pid, reply):
    result = check(pid, reply)
    assert result.passed, result.reason


@pytest.mark.parametrize(("pid", "reply"), BREAKS)
def test_breaks(pid, reply):
    result = check(pid, reply)
    assert not result.passed, result.reason
    assert result.reason


def test_every_checker_has_cases_both_ways():
    assert set(CASES) == set(CHECKERS)
    assert all(good and bad for good, bad in CASES.values())


@pytest.mark.parametrize("pid", sorted(CHECKERS))
def test_neutral_reply_passes_only_what_it_cannot_break(pid):
    assert check(pid, NEUTRAL).passed == (pid in PASS_NEUTRAL)


def test_registered_ids_exist_in_the_schema():
    schema = load_schema()
    ids = {schema.preference(group, key).id for group, g in schema.groups.items() for key in g.options}
    assert CHECKERS and set(CHECKERS) <= ids


@pytest.mark.parametrize("pid", ["tone.casual_general", "answer_order.answer_first_math", "no.such_id", ""])
def test_uncheckable_and_unknown_ids_return_none(pid):
    assert check(pid, NUMBERED) is None
    assert checker_for(pid) is None
    assert not is_checkable(pid)


def test_lookup_of_a_checkable_id():
    assert is_checkable("format_structure.table_compare")
    assert checker_for("format_structure.table_compare")(TABLE) == CheckResult(True, "has a markdown table")


def test_register_refuses_unknown_and_duplicate_ids():
    with pytest.raises(ValueError, match="not_an_option"):
        checkers.register("format_structure.not_an_option")(lambda reply: CheckResult(True, ""))
    with pytest.raises(ValueError, match="already has a checker"):
        checkers.register("format_structure.table_compare")(lambda reply: CheckResult(True, ""))
    assert "format_structure.not_an_option" not in CHECKERS
    assert checker_for("format_structure.table_compare") is checkers.table


def test_check_result_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CheckResult(True, "ok").passed = False


@pytest.mark.parametrize(("text", "count"), [
    ("Save it to config.yaml and call numpy.array on it. Done.", 2),
    ("Use a set, e.g. for lookups. It costs 3.5 ms vs. 40 ms for a list!", 2),
    ("Is it sorted? Yes.\n\n- first item\n- second item", 4),
    ("Intro line\n\n```python\nx = 1. \ny = 2. \n```\n\nOutro line", 2),
    ("", 0),
])
def test_sentences(text, count):
    assert len(sentences(text)) == count


def test_reasons_name_what_broke_the_rule():
    assert "wordCounts" in check("code_naming.snake_python", PY_CAMEL).reason
    assert "display_name" not in check("code_naming.snake_sql", SQL_CAMEL).reason
    assert "UserAccounts" in check("code_naming.snake_sql", SQL_CAMEL).reason
    assert "getCount" in check("code_naming.pascal_csharp", CSHARP_CAMEL).reason
    assert "median" in check("code_comments.docstrings_code", PY_UNDOCUMENTED).reason


def test_import_and_checks_use_no_network():
    """Nothing is downloaded: the module imports and every checker runs with sockets disabled."""
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network used')\n"
        "socket.socket.connect = socket.getaddrinfo = socket.create_connection = refuse\n"
        "from attune.preferences.checkers import CHECKERS\n"
        "for checker in CHECKERS.values():\n"
        "    checker('Preheat to 350°F.\\n\\n```python\\nx = 1  # one\\n```\\n\\n$x^2$?')\n"
        "print(len(CHECKERS))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(CHECKERS))
