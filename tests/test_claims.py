"""Published numbers are checked: each headline figure quoted in the README, the model
card and the bench README is recomputed from the committed result file it comes from, so
a re-measure that changes a result cannot leave an old number in the docs (and an edit of
a number in the docs cannot drift from its file). Fast: JSON and Markdown only."""
import json
import re
from pathlib import Path

import pytest

from codec.tools.bench.bdrate import bd_rate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def curve(run: str, codec: str) -> dict:
    safe = "".join(ch if ch.isalnum() or ch in "-_.@=" else "_" for ch in codec)
    return json.loads((RESULTS / run / f"{safe}.json").read_text())["results"]


def bd(run: str, codec: str, anchor: str, anchor_run: str | None = None) -> float:
    """BD-rate (%) of codec against anchor, recomputed from the curves' JSON."""
    a, b = curve(run, codec), curve(anchor_run or run, anchor)
    return bd_rate(b["bpp"], b["psnr-rgb"], a["bpp"], a["psnr-rgb"])


def ends(run: str, codec: str) -> tuple[float, float, float, float]:
    """(lowest bpp, its PSNR, highest bpp, its PSNR) of a curve."""
    r = curve(run, codec)
    lo, hi = min(range(len(r["bpp"])), key=r["bpp"].__getitem__), max(range(len(r["bpp"])), key=r["bpp"].__getitem__)
    return r["bpp"][lo], r["psnr-rgb"][lo], r["bpp"][hi], r["psnr-rgb"][hi]


def tile_cost(tile: int, run: str = "tiling-rate-2026-12-02.md") -> float:
    """Mean extra bytes (%) of a coding tile against one tile per image (bench/tiling.py's table)."""
    row = re.search(rf"^\| {tile} px \| \d+ \| ([\d.]+) \|", (RESULTS / run).read_text(), re.M)
    return (float(row.group(1)) - 1) * 100


def speed(*keys, run: str = "speed-2026-12-03.json"):
    """A figure of bench/speed.py's JSON, by its keys."""
    value = json.loads((RESULTS / run).read_text())
    for key in keys:
        value = value[key]
    return value


def median_encode(run: str, codec: str) -> float:
    return json.loads((RESULTS / run / f"{codec}.json").read_text())["median_encode_s"]


# (document, a pattern whose groups are the quoted numbers, the numbers recomputed, decimals as quoted)
K, R = "kodak", "kodak-model3-2026-12-03-release"  # the default model's peers run, its release measurement
R1 = "kodak-model2-2026-12-02-release"  # checkerboard-64-128@1's
R2 = "kodak-model2-2026-12-03-release"  # checkerboard-64-128@2's
E = "effort-2026-12-03"
CLAIMS = [
    ("README.md", r"needs ([\d.]+) % fewer bits than the previous model", lambda: [-bd(R, "dcn=runs/export-gd", "dcn")], 1),
    ("README.md", r"and (\d+) % fewer than JPEG and ([\d.]+) % fewer than JPEG XL, but ([\d.]+) % more than WebP",
     lambda: [-bd(K, "dcn", "jpeg"), -bd(K, "dcn", "jxl"), bd(K, "dcn", "webp")], None),
    ("README.md", r"(\d+) % more than JPEG 2000, (\d+) % more than AVIF and (\d+) % more than HEIC",
     lambda: [bd(K, "dcn", "jpeg2000"), bd(K, "dcn", "avif"), bd(K, "dcn", "heic")], 0),
    ("README.md", r"it spans ([\d.]+) bpp / ([\d.]+) dB to ([\d.]+) bpp / ([\d.]+) dB", lambda: list(ends(K, "dcn")), None),
    ("weights/README.md", r"\*\*−([\d.]+) % vs `hyperprior-64-128@3`\*\*", lambda: [-bd(R1, "dcn=runs/export123", "dcn")], 1),
    ("weights/README.md", r"\*\*−([\d.]+) % vs `checkerboard-64-128@1`\*\*", lambda: [-bd(R2, "dcn=runs/export-s8", "dcn")], 1),
    ("weights/README.md", r"\*\*−([\d.]+) % vs `checkerboard-64-128@2`\*\*", lambda: [-bd(R, "dcn=runs/export-gd", "dcn")], 1),
    ("weights/README.md", r"`checkerboard-groups-64-128@1` \(default\) [^\n]*?range ([\d.]+) bpp / ([\d.]+) dB to ([\d.]+) bpp / ([\d.]+) dB; "
                          r"−([\d.]+) % vs JPEG, \+([\d.]+) % vs WebP, \+([\d.]+) % vs JPEG 2000, \+([\d.]+) % vs AVIF, −([\d.]+) % vs JPEG XL",
     lambda: [*ends(K, "dcn"), -bd(K, "dcn", "jpeg"), bd(K, "dcn", "webp"), bd(K, "dcn", "jpeg2000"), bd(K, "dcn", "avif"),
              -bd(K, "dcn", "jxl")], None),
    ("bench/README.md", r"BD-rate of DCN \*\*−([\d.]+) % against JPEG\*\*, −([\d.]+) % against JPEG 4:4:4, \*\*\+([\d.]+) % against WebP\*\*, \+([\d.]+) % against JPEG 2000, \+([\d.]+) % against AVIF",
     lambda: [-bd(K, "dcn", "jpeg"), -bd(K, "dcn", "jpeg444"), bd(K, "dcn", "webp"), bd(K, "dcn", "jpeg2000"), bd(K, "dcn", "avif")], None),
]
KODAK_SPEED = ("kodak", "DCN checkerboard-64-128@1"), ("kodak", "CompressAI MeanScaleHyperprior(64, 128)")
CLAIMS += [
    ("README.md", r"a decode takes ([\d.]+) s and an encode ([\d.]+) s \(medians\), against ([\d.]+) s and ([\d.]+) s "
                  r"for CompressAI's", lambda: [speed(*KODAK_SPEED[0], "decode"), speed(*KODAK_SPEED[0], "encode"),
                                              speed(*KODAK_SPEED[1], "decode"), speed(*KODAK_SPEED[1], "encode")], 3),
    ("README.md", r"DCN decodes ([\d.]+) times as fast, context pass included, and encodes ([\d.]+) times as fast",
     lambda: [speed(*KODAK_SPEED[1], "decode") / speed(*KODAK_SPEED[0], "decode"),
              speed(*KODAK_SPEED[1], "encode") / speed(*KODAK_SPEED[0], "encode")], 2),
    ("README.md", r"A 24 MP image encodes in ([\d.]+) s \((\d+) MB peak RSS\) and decodes in ([\d.]+) s \((\d+) MB\), ([\d.]+) "
                  r"times as fast as the previous release's decoder",
     lambda: [speed("big", "this tree", "encode_s"), speed("big", "this tree", "encode_mb"),
              speed("big", "this tree", "decode_s"), speed("big", "this tree", "decode_mb"),
              speed("big", "old", "decode_s") / speed("big", "this tree", "decode_s")], None),
    ("README.md", r"256-px tiles cost ([\d.]+) % more bytes than one tile per image, 128-px tiles ([\d.]+) %",
     lambda: [tile_cost(256), tile_cost(128)], None),
]


def effort_memory_mb(command: str, heaps: str, run: str = "effort-memory-2026-12-02.md") -> list[int]:
    """Peak RSS (MB) of the rows of bench/effort_memory.py's table for a command and heap setting."""
    rows = re.findall(r"^\| `([^`]+)`[^|]* \| [^|]+ \| [^|]+ \| ([^|]+) \| (\d+) \|", (RESULTS / run).read_text(), re.M)
    return [int(mb) for cmd, h, mb in rows if cmd == command and h.strip() == heaps]


def largest_decode(key: str) -> float:
    """A figure of the largest image bench/limits.py decoded (the default --max-pixels)."""
    runs = json.loads((RESULTS / "limits.json").read_text())["runs"]
    return max(runs, key=lambda r: r["padded_area"])[key]


CLAIMS += [
    ("README.md", r"Encoder effort 1 \(below; about ([\d.]+) s an image\) took ([\d.]+) % off the file at the same "
                  r"PSNR with the previous model, effort 3 \(about (\d+) s\) ([\d.]+) %, which brought DCN to −([\d.]+) % against WebP",
     lambda: [median_encode(E, "dcn-e1"), -bd(E, "dcn-e1", "dcn"), median_encode(E, "dcn-e3"), -bd(E, "dcn-e3", "dcn"),
              -bd(E, "dcn-e3", "webp")], None),
    ("README.md", r"The top PSNR rises from ([\d.]+) to ([\d.]+) dB at effort 3",
     lambda: [ends(E, "dcn")[3], ends(E, "dcn-e3")[3]], None),
    ("README.md", r"more memory than a plain encode: ([\d.]+) GB peak for a 24 MP photograph, against ([\d.]+) GB at effort 0",
     lambda: [max(effort_memory_mb("dcn encode -e 1", "one")) / 1000,
              effort_memory_mb("dcn encode", "per thread")[0] / 1000], None),
    ("README.md", r"at the default limit, (\d+) MiB peak and (\d+) s on this 2-core machine",
     lambda: [largest_decode("peak_rss_mib"), largest_decode("wall_s")], 0),
]
EFFORT_ROW = r"\| {e} \| (\d+) \| ([\d.]+) s \| ([−+][\d.]+) % \| ([−+][\d.]+) % \| ([−+][\d.]+) % \| ([−+][\d.]+) % \|"
for effort in (0, 1, 2, 3):
    name = f"dcn-e{effort}" if effort else "dcn"
    CLAIMS.append(("README.md", EFFORT_ROW.format(e=effort),
                   lambda e=effort, n=name: [_steps(e), median_encode(E, n), bd(E, n, "dcn"), bd(E, n, "webp"),
                                             bd(E, n, "jpeg2000"), bd(E, n, "avif")], None))


def _steps(effort: int) -> int:
    from codec.pipeline.effort import STEPS
    return STEPS[effort]


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


@pytest.mark.parametrize("doc, pattern, compute, decimals", CLAIMS, ids=[f"{c[0]}:{i}" for i, c in enumerate(CLAIMS)])
def test_quoted_figure_matches_its_result_file(doc, pattern, compute, decimals):
    text = re.sub(r"\s+", " ", (ROOT / doc).read_text())  # a figure may be split across lines
    found = re.search(pattern, text)
    assert found, f"{doc} no longer quotes this figure (pattern {pattern!r}): update the claim here with the doc"
    for quoted, value in zip(found.groups(), compute()):
        places = decimals if decimals is not None else len(quoted.split(".")[1]) if "." in quoted else 0
        assert _number(quoted) == pytest.approx(round(value, places), abs=0.6 * 10 ** -places), \
            f"{doc} quotes {quoted}, its result file gives {value:.3f}"


def test_a_changed_figure_fails(tmp_path, monkeypatch):
    """The check itself can fail: a quoted number one step off is caught."""
    doc, pattern, compute, decimals = CLAIMS[0]
    text = re.sub(r"\s+", " ", (ROOT / doc).read_text())
    found = re.search(pattern, text)
    wrong = text.replace(found.group(0), found.group(0).replace(found.group(1), f"{_number(found.group(1)) + 0.1:.1f}"))
    (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / doc).write_text(wrong)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    with pytest.raises(AssertionError, match="result file gives"):
        test_quoted_figure_matches_its_result_file(doc, pattern, compute, decimals)
