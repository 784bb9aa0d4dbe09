"""Print what keeps the shipped contrast pairs (attune/preferences/data/contrast/) from being a fair audit."""

import sys

from attune.preferences.contrast import load_pairs, pair_problems

if __name__ == "__main__":
    only = sys.argv[1:]
    problems = [p for p in pair_problems(load_pairs()) if not only or p.split(".")[0] in only]
    print("\n".join(problems) or "no problems")
    sys.exit(1 if problems else 0)
