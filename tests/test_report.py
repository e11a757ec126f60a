"""`dcn bench --report`: the page's structure (every panel, sizes within the target, the
bench's own PSNR), the cache on a re-run, and the page in a real headless browser."""
import json
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from codec.tools.bench import page
from codec.tools.bench.metrics import psnr_rgb
from conftest import make_image, run_cli


class Panels(HTMLParser):
    """The crop rows and their panels, as the page holds them."""

    def __init__(self):
        super().__init__()
        self.rows, self.images, self.svg_titles = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and "data-target" in a:
            self.rows.append({"image": a["data-image"], "target": int(a["data-target"]), "panels": []})
        elif tag == "figure" and "data-codec" in a:
            self.rows[-1]["panels"].append({"codec": a["data-codec"], "bytes": int(a["data-bytes"]),
                                            "psnr": float(a["data-psnr"]), "file": a["data-file"]})
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "title":
            self.svg_titles += 1


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    images = root / "images"
    images.mkdir()
    for i in range(2):
        make_image(256, 192, seed=i).save(images / f"img{i}.png")
    out = root / "out"
    r = run_cli("dcn", "bench", images, "--out", out, "--codecs", "dcn,jpeg", "--qualities", "dcn:4,7,10",
                "--qualities", "jpeg:10,50,90", "--report", timeout=900)
    assert r.returncode == 0, r.stderr
    return images, out


def test_every_panel_is_there_within_its_size_and_with_the_bench_psnr(report):
    images, out = report
    html = (out / "report.html").read_text()
    p = Panels()
    p.feed(html)
    assert len(p.rows) == 2 * 3  # 2 images x a low, middle and high size
    assert p.svg_titles >= 2 * (3 + 3)  # every point of both codecs, on both charts
    for row in p.rows:
        assert [x["codec"] for x in row["panels"]] == ["dcn", "jpeg"]
        dcn, jpeg = row["panels"]
        assert dcn["bytes"] == row["target"]  # DCN's file sets the size
        assert 0 < jpeg["bytes"] <= row["target"]
        original = np.asarray(Image.open(images / row["image"]).convert("RGB"))
        for panel in row["panels"]:
            assert f"report/{panel['file']}" in p.images
            decoded = np.asarray(Image.open(out / "report" / panel["file"]).convert("RGB"))
            assert psnr_rgb(original, decoded) == pytest.approx(panel["psnr"], abs=1e-3)
    cache = json.loads((out / "report" / "cache.json").read_text())
    assert sum(1 for k in cache if k.count("|") == 2 and "file" in cache[k]) == 2 * 3 * 2
    for needle in ("<svg", "BD-rate", "Pillow JPEG", "median encode"):  # curves, matrix, configuration, times
        assert needle in html
    assert "http://" not in html and "https://" not in html  # self-contained: nothing from the network


def test_a_rerun_reuses_the_decodes(report):
    images, out = report
    before = {f.name: f.stat().st_mtime_ns for f in (out / "report").glob("*-*.webp")}
    assert page.matched_decodes(sorted(images.glob("*.png")), {"dcn": (4, 7, 10), "jpeg": (10, 50, 90)}, out)
    after = {f.name: f.stat().st_mtime_ns for f in (out / "report").glob("*-*.webp")}
    assert len(before) == 2 * 3 * 2 and before == after


def test_a_new_dcn_model_is_measured_again(report):
    """The cache knows DCN by its model's fingerprint: decodes made with another model (here:
    the same entries under a made-up fingerprint) are remade, the peers' are reused."""
    from codec.models.registry import default_model
    images, out = report
    cache_file = out / "report" / "cache.json"
    own = f"dcn#{default_model().fingerprint}"
    cache = json.loads(cache_file.read_text())
    assert sum(own in k for k in cache) == 2 * 3 * 2  # the targets and the panels of 2 images x 3 sizes
    cache_file.write_text(json.dumps({k.replace(own, "dcn#00000000"): v for k, v in cache.items()}))
    before = {f.name: f.stat().st_mtime_ns for f in (out / "report").glob("*-*.webp")}
    page.matched_decodes(sorted(images.glob("*.png")), {"dcn": (4, 7, 10), "jpeg": (10, 50, 90)}, out)
    after = {f.name: f.stat().st_mtime_ns for f in (out / "report").glob("*-*.webp")}
    assert {n for n in before if before[n] != after[n]} == {n for n in before if n.endswith("-dcn.webp")}


def test_size_search_finds_the_largest_file_within_the_target():
    rgb = np.asarray(make_image(128, 96, seed=3).convert("RGB"))
    sizes = {q: len(page.peers.get("jpeg").encode(rgb, q)) for q in range(5, 96)}
    target = sizes[60] + 1
    q, data = page.largest_within("jpeg", rgb, target, (5, 95))
    assert len(data) <= target and all(s > target for s in sizes.values() if s > len(data))
    q, data = page.largest_within("jpeg", rgb, 10, (5, 95))  # unreachable: the smallest there is
    assert q == 5


class SelfTest(HTMLParser):
    """The data-* attributes the page's script leaves on #selftest once it has loaded."""

    @classmethod
    def of(cls, dom: str) -> dict:
        parser = cls()
        parser.attrs = {}
        parser.feed(dom)
        return parser.attrs

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "selftest":
            self.attrs = {k[5:]: v for k, v in a.items() if k.startswith("data-")}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium)")
def test_the_page_in_a_headless_browser(report, tmp_path):
    """Every image loads, no script error, every row's panels show one region; and a screenshot."""
    _, out = report
    url = (out / "report.html").resolve().as_uri()
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--virtual-time-budget=10000", f"--user-data-dir={tmp_path / 'profile'}"]
    r = subprocess.run(flags + ["--enable-logging=stderr", "--dump-dom", url], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    attrs = SelfTest.of(r.stdout)
    assert "error" not in attrs, attrs
    assert int(attrs["images"]) > 0 and json.loads(attrs["broken"]) == []
    regions = json.loads(attrs["regions"])
    assert len(regions) == 6 and all(len(row) == 1 for row in regions)
    assert "Uncaught" not in r.stderr
    shot = tmp_path / "shot.png"
    r = subprocess.run(flags + ["--window-size=1400,1000", f"--screenshot={shot}", url], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and shot.stat().st_size > 10_000, r.stderr[-2000:]
