"""Mutation testing of the modules that can silently break files (issue #23), with mutmut 3:
every mutant of [tool.mutmut]'s `only_mutate` modules is run against the tests of
`pytest_add_cli_args_test_selection` (pyproject.toml) that call the mutated function; the
report gives the score per module and lists every mutant that survived, either explained
as equivalent (EQUIVALENT below: no input can tell it from the original) or left for a
new test.

    pip install mutmut && DCN_WEIGHTS=$PWD/weights python bench/mutation.py --out bench/results/mutation-DATE.md

Not part of CI: it runs the selected tests once per mutant (about an hour on 2 cores).
`--report-only` writes the report of the results so far; `--rerun` runs again the
mutants that survived, timed out or had no test (after new tests were written). Each run
also writes OUT.status, every mutant's result, for `--previous` of a later run.
"""
import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Mutants no test can kill, because no input tells them from the original: by the change a
# mutant makes (a pattern over its changed line), or by name; the reason for each.
EQUIVALENT_CHANGES = [
    (r"stacklevel", "which caller a warning is attributed to (its text and category are tested)"),
    (r"\.astype\(None\)|dtype=None|, \)\)$|np\.zeros\(0, \)",
     "numpy's default dtype (float64 or int64) where the values are small integers used as such"),
    (r'lstrip\("XX\.XX"\)', "the text was lower-cased first: an upper-case X is never there to strip"),
    (r'rstrip\("XXKMGIBXX"\)', "stripping an X too only moves an unreadable suffix from the number to the unit"),
    (r'array\("q"', "section lengths are below 2**32: signed and unsigned 64-bit arrays hold them alike"),
    (r"conv\.stride\[1\]", "every convolution of the models has a square stride"),
    (r'getattr\(im, "tile", (None)?\)', "every image Pillow opens from a file has a tile list"),
    (r'simplefilter\("ignore", (None)?\)', "nothing but the bomb warning is raised while Pillow opens (it warns "
                                              "while loading), so silencing every warning there changes nothing"),
    (r"EXTENSION\.get\(None\)|registered_extensions\(\)\.get\(None\)|EXTENSION\.get\(suffix\) and ",
     "the shortcut only spares importing every Pillow plugin: the same format is found either way"),
    (r"np\.clip\(a, None, |np\.clip\(a, 0, (2|None)\) \* 255 if a\.max\(\) <= 1|if a\.max\(\) < 65535",
     "a bound the data cannot reach there (negatives are clipped before; values are at most 1; at 65535 "
     "both scales are the same)"),
    (r"pic\.rgb\[\.\.\., 1\]", "a grey picture's three channels are equal"),
    (r"a\.device, \)$", "the probe's block size (512) is also the decoder's default"),
    (r"^None, PSNR_TOLERANCE - PSNR_MARGIN", "None is as false as False"),
    (r"\((ok|lo|hi|probes), (key=None)?\)", "probes are (quality, value, ...) tuples: ordered by quality first, "
                                            "as the key orders them"),
    (r"q = quantized\(\(lo|q = quantized\(None\)|^q = None$",
     "the bisection after a repeated prediction: unreachable once the target is bracketed, since the quality "
     "is clamped strictly inside the bracket, where no probe is"),
    (r"np\.zeros\(1, np\.int64\)|reshape\(-2\)", "no symbols: the empty selection broadcasts either way; numpy "
                                                      "reads any negative size as 'the rest'"),
    (r"np\.zeros\(0, None\)", "no symbols: an empty array of either dtype adds nothing to the int32 output"),
    (r"if tile <= 1:|if tile < 2:", "a tile is a multiple of 64 pixels (the header holds tile / 64): 0 or >= 64"),
    (r"LATIN-1", "Python's codec names are case-insensitive"),
    (r'kind="STABLE"', "numpy reads a sort kind's name case-insensitively"),
    (r'not in \("L", "LA", "(XXRGBXX|rgb)", "RGBA"\)|not in \("L", "LA", "RGB", "(XXRGBAXX|rgba)"\)',
     "an RGB or RGBA image then takes the conversion branch: converted to its own mode, a copy of itself"),
    (r"self\.weight\.shape\[-2\]", "every kernel is square"),
]


def only_progress(minus: str, plus: str) -> bool:
    """The mutant changes nothing but whether a progress bar may be shown."""
    drop = re.compile(r'progress[^,)]*|options\.get\([^)]*\)|None|True|False|[\s,]')
    return "progress" in minus and drop.sub("", minus) == drop.sub("", plus)


_MKDIR = "the record's folder is created once its output exists, so DST exists: parents= changes nothing"
_ESCAPE = ("an escaped value never equals its table's lowest value: every table has an entry besides the "
           "escape (TableSet.validate: at least 2)")
_BIG_ENDIAN = "the byte swap of a big-endian machine: no machine that runs the tests is one (not killable here)"
_P_TO_RGB = "Pillow converts a P image to RGB when asked for a mode it does not know (Pillow 13)"
_PA = "without the PA branch a PA image takes the general one, which converts it to RGBA too"
_GRID = ("qualities are on the header's 0.001 grid: no two differ by exactly 1.5 steps, nor (in floating point) "
         "by exactly 0.01 (checked over the whole scale)")
_BISECTION = ("the 40-step bisection: one step more, or a tie (measure zero) going the other way, moves `a` by "
              "about 1e-11, a quality by far less than the 0.001 grid")
_PAIR = "a probe is (quality, value, payload) and fit/quality_at read its first two entries only: [:3] adds nothing"
_LOG_ZERO = "an argument of exactly 0.0 to the logarithm: a float sum of exponentials that is never exactly zero"
_NO_A_BAND = ("no image mode that reaches the conversion branch ends in an 'A' band (LA, PA and RGBA are taken "
              "before it): only RGBa's 'a' keeps an alpha there")
EQUIVALENT = {
    "codec.tools.batch_plan.x_write_record__mutmut_20": _MKDIR,
    "codec.tools.batch_plan.x_write_record__mutmut_22": _MKDIR,
    "codec.tools.batch_plan.x_write_record__mutmut_24": _MKDIR,
    "codec.tools.batch_plan.x_write_record__mutmut_32": "json indentation: the record is read as JSON",
    "codec.tools.batch_plan.x_write_record__mutmut_34": "json indentation: the record is read as JSON",
    "codec.tools.batch_plan.x_write_record__mutmut_35": "json indentation: the record is read as JSON",
    "codec.tools.batch_plan.x__sha256__mutmut_13": "read block size: the same digest (only memory use differs)",
    "codec.tools.batch_plan.x__sha256__mutmut_15": "read block size: the same digest",
    "codec.tools.batch_plan.x__sha256__mutmut_16": "read block size: the same digest",
    "codec.entropy.ans.x__push__mutmut_48": _ESCAPE,
    "codec.entropy.ans.x__push__mutmut_56": _ESCAPE,
    "codec.format.container.x__u32s__mutmut_9": _BIG_ENDIAN,
    "codec.format.container.x__u32s__mutmut_10": _BIG_ENDIAN,
    "codec.format.container.x_read_index__mutmut_59": "inside `if expected != len(data)`: < and <= agree",
    "codec.image.io.x__pixels__mutmut_5": "Pillow's convert() of a P image chooses RGB, or RGBA with transparency: "
                                          "what the code asks for",
    "codec.image.io.x__pixels__mutmut_13": _P_TO_RGB,
    "codec.image.io.x__pixels__mutmut_14": _P_TO_RGB,
    "codec.image.io.x__pixels__mutmut_16": _PA,
    "codec.image.io.x__pixels__mutmut_17": _PA,
    "codec.image.io.x__pixels__mutmut_61": _NO_A_BAND,
    "codec.image.io.x__pixels__mutmut_62": _NO_A_BAND,
    "codec.image.io.x_open_image__mutmut_28": "Pillow raises DecompressionBombError only while MAX_IMAGE_PIXELS is "
                                              "set, and open_image unsets it (under a lock) while it opens",
    "codec.pipeline.ratecontrol.x__search__mutmut_117": _GRID,
    "codec.pipeline.ratecontrol.xǁPsnrCurveǁpredict__mutmut_11": _GRID,
    "codec.pipeline.ratecontrol.x_secant__mutmut_49": "a step of 0: either factor times 0 is 0, and the step is "
                                                      "the 0.05 floor either way",
    "codec.pipeline.ratecontrol.xǁPsnrCurveǁfit__mutmut_16": _BISECTION,
    "codec.pipeline.ratecontrol.xǁPsnrCurveǁfit__mutmut_32": _BISECTION,
    "codec.pipeline.ratecontrol.xǁPsnrCurveǁpredict__mutmut_19": _PAIR,
    "codec.pipeline.ratecontrol.xǁPsnrCurveǁpredict__mutmut_21": _PAIR,
    "codec.pipeline.ratecontrol.xǁPsnrCurveǁpredict__mutmut_29": _PAIR,
    "codec.pipeline.ratecontrol.xǁPsnrCurveǁquality_at__mutmut_22": _LOG_ZERO,
    "codec.pipeline.ratecontrol.xǁPsnrCurveǁvalue__mutmut_22": _LOG_ZERO,
}


def module_of(mutant: str) -> str:
    return re.sub(r"\.x(ǁ[^ǁ]+ǁ|_).*$", "", mutant)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--report-only", action="store_true", help="write the report of the mutants run so far")
    ap.add_argument("--rerun", action="store_true", help="run again the mutants that survived or had no test")
    ap.add_argument("--previous", type=Path, nargs="*", default=[],
                    help="listings of earlier runs (OUT.status files, or `name: status` lines of a check run by "
                         "hand with MUTANT_UNDER_TEST), oldest first: a mutant keeps its latest result (mutmut "
                         "forgets them all when the tests change)")
    args = ap.parse_args()
    # One torch thread: each mutant runs in a process forked from one that has already run
    # tests, and OpenMP hangs in a forked child when its parent had a team of threads (every
    # such hang would be scored a detected "timeout").
    env = dict(os.environ, DCN_WEIGHTS=os.environ.get("DCN_WEIGHTS", str(ROOT / "weights")), OMP_NUM_THREADS="1")
    mutmut = [sys.executable, "-m", "mutmut"]

    def statuses() -> dict:
        listing = subprocess.run(mutmut + ["results", "--all", "true"], cwd=ROOT, env=env, capture_output=True,
                                 text=True).stdout
        return dict(re.findall(r"^\s*(\S+): (\w[\w ]*)$", listing, re.M))

    t = time.perf_counter()
    if args.rerun:
        again = [m for m, s in statuses().items() if s in ("survived", "no tests", "timeout") and m not in EQUIVALENT]
        subprocess.run(mutmut + ["run", "--max-children", str(args.max_children), *again], cwd=ROOT, env=env)
    elif not args.report_only:
        subprocess.run(mutmut + ["run", "--max-children", str(args.max_children)], cwd=ROOT, env=env)
    minutes = (time.perf_counter() - t) / 60
    status = {}
    listings = [dict(re.findall(r"^(\S+): (\w[\w ]*)$", path.read_text(), re.M)) for path in args.previous]
    # oldest first: each result stands until a later run checks the mutant again. mutmut's
    # own results are the newest after a run, and older than every listing in a report of
    # earlier runs (the listings may hold checks by hand made after mutmut's last run).
    for results in [*listings, statuses()] if not args.report_only else [statuses(), *listings]:
        status.update({n: s for n, s in results.items() if s != "not checked" or n not in status})
    args.out.with_suffix(".status").write_text("".join(f"{n}: {s}\n" for n, s in sorted(status.items())))
    changes = {}
    for name in [n for n, s in status.items() if s in ("survived", "no tests")]:
        diff = subprocess.run(mutmut + ["show", name], cwd=ROOT, env=env, capture_output=True, text=True).stdout
        changes[name] = [line for line in diff.splitlines() if line[:2] in ("- ", "+ ")]
    why = dict(EQUIVALENT)
    for name, lines in changes.items():
        minus = " ".join(line[2:].strip() for line in lines if line.startswith("- "))
        plus = " ".join(line[2:].strip() for line in lines if line.startswith("+ "))
        why.update({name: reason for pattern, reason in EQUIVALENT_CHANGES if re.search(pattern, plus)})
        if re.sub(r",?\s*stacklevel=\d+|,\s*(?=\))", "", minus) == re.sub(r",?\s*stacklevel=\d+|,\s*(?=\))", "", plus):
            why[name] = "which caller a warning is attributed to (its text and category are tested)"
        if only_progress(minus, plus):
            why[name] = "only whether a progress bar may be shown (stderr), not the file"
    for name in why:
        if status.get(name) == "survived":
            status[name] = "equivalent"
    per_module = defaultdict(Counter)
    for name, s in status.items():
        per_module[module_of(name)][s] += 1
    kinds = ["killed", "timeout", "survived", "no tests", "equivalent", "not checked"]
    lines = [f"# Mutation testing, {time.strftime('%Y-%m-%d')}", "",
             f"`DCN_WEIGHTS=$PWD/weights python bench/mutation.py --out {args.out}` (mutmut 3; modules and tests: "
             f"`[tool.mutmut]` in pyproject.toml)" + (f"; this step {minutes:.0f} minutes." if not args.report_only
                                                      else "."), "",
             "Score: mutants detected (killed, or made a test hang: timeout) out of those run, less the "
             "equivalent ones. 'no tests': no selected test calls the mutated function in-process.", "",
             "| module | " + " | ".join(kinds) + " | score |", "|---" * (len(kinds) + 2) + "|"]
    total = Counter()
    for module in sorted(per_module) + ["all"]:
        c = per_module[module] if module != "all" else total
        detected = c["killed"] + c["timeout"]
        counted = sum(c.values()) - c["equivalent"] - c["not checked"]
        lines.append(f"| {module} | " + " | ".join(str(c[k]) for k in kinds)
                     + f" | {100 * detected / max(1, counted):.1f} % |")
        if module != "all":
            total.update(c)
    lines += ["", "## Equivalent mutants", ""]
    lines += [f"- `{name}`: {why[name]}" for name in sorted(n for n, s in status.items() if s == "equivalent")]
    lines += ["", "## Surviving mutants (and mutants no test reaches)", ""]
    for name in sorted(n for n, s in status.items() if s in ("survived", "no tests")):
        lines += [f"### {name} ({status[name]})", "", "```diff", *changes[name], "```", ""]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:8 + len(per_module) + 1]))


if __name__ == "__main__":
    main()
