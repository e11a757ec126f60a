"""Mutation testing of the modules that can silently break files (issue #23), with mutmut 3:
every mutant of [tool.mutmut]'s `only_mutate` modules is run against the tests of
`pytest_add_cli_args_test_selection` (pyproject.toml); the report lists the score and every
mutant that survived, for a new test or a note that it is equivalent.

    pip install mutmut && DCN_WEIGHTS=$PWD/weights python bench/mutation.py --out bench/results/mutation-DATE.md

Not part of CI: it runs the selected tests once per mutant (minutes to hours).
"""
import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--report-only", action="store_true", help="write the report of the mutants run so far")
    args = ap.parse_args()
    env = dict(os.environ, DCN_WEIGHTS=os.environ.get("DCN_WEIGHTS", str(ROOT / "weights")))
    mutmut = [sys.executable, "-m", "mutmut"]
    t = time.perf_counter()
    if not args.report_only:
        subprocess.run(mutmut + ["run", "--max-children", str(args.max_children)], cwd=ROOT, env=env)
    minutes = (time.perf_counter() - t) / 60
    listing = subprocess.run(mutmut + ["results", "--all", "true"], cwd=ROOT, env=env, capture_output=True,
                             text=True).stdout
    status = dict(re.findall(r"^\s*(\S+): (\w[\w ]*)$", listing, re.M))
    counts = Counter(status.values())
    killed = counts.get("killed", 0)
    survived = sorted(name for name, s in status.items() if s == "survived")
    lines = [f"# Mutation testing, {time.strftime('%Y-%m-%d')}", "",
             f"`python bench/mutation.py --out {args.out}` (mutmut 3; modules and tests: `[tool.mutmut]` in "
             f"pyproject.toml)" + (f", {minutes:.0f} minutes." if not args.report_only else "; report of the mutants run so far."), "",
             "| status | mutants |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in sorted(counts.items())]
    run = sum(counts.values()) - counts.get("not checked", 0)
    detected = killed + counts.get("timeout", 0)  # a mutant that makes a test hang is caught too
    lines += ["", f"Detected (killed or timed out): {detected} of the {run} mutants run "
                  f"({100 * detected / max(1, run):.1f} %); not run: {counts.get('not checked', 0)}.",
              "", "## Surviving mutants", ""]
    for name in survived:
        diff = subprocess.run(mutmut + ["show", name], cwd=ROOT, env=env, capture_output=True, text=True).stdout
        lines += [f"### {name}", "", "```diff", diff.strip(), "```", ""]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
