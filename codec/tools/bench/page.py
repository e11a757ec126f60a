"""`dcn bench --report`: one self-contained page, report.html, that people can look at.

It holds the RD curves (inline SVG, values on hover), the BD-rate matrix, the times and
how each codec was configured, and side-by-side crops at equal file size: for a few
images, at the sizes DCN's files have at a low, middle and high quality, every other
codec's decode at its largest file not above that size (its quality searched), shown as
the same region in every panel, at 1:1 or enlarged 2x / 4x without smoothing. The
decodes are lossless WebP files (exact pixels, smaller than PNG) under report/ beside the page, found again in report/cache.json
on a re-run, so only what is missing is encoded.
"""
import html
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import peers
from .metrics import bpp, ms_ssim_db, psnr_rgb
from .report import bd_table

FIRST = ("dcn", "webp", "avif")  # the first panels of each row: DCN next to its usual rivals
SEARCH_STEPS = 8  # bisection steps of a codec's quality for a size
PALETTE = ("#c0392b", "#2471a3", "#1e8449", "#7d3c98", "#d68910", "#17a589", "#6e2c00", "#e84393", "#566573")


def anchor_codec(codecs: list[str]) -> str:
    """The codec whose file sizes set the targets: DCN where it is in the run."""
    return next((c for c in codecs if peers.is_dcn(c)), codecs[0])


def target_settings(settings: tuple) -> list:
    """A low, a middle and a high setting of the anchor (its sizes become the targets)."""
    s = sorted(settings)
    return sorted({s[round(f * (len(s) - 1))] for f in (0.2, 0.5, 0.8)})


def largest_within(codec: str, rgb: np.ndarray, target: int, settings: tuple) -> tuple[float, bytes]:
    """The setting (in the codec's own range, searched by bisection; whole numbers where its
    settings are) whose file is the largest not above `target` bytes; the lowest setting if
    even that is larger. Every codec here makes larger files at larger settings."""
    peer = peers.get(codec)
    whole = all(float(v).is_integer() for v in settings)
    lo, hi = min(settings), max(settings)
    best = (lo, peer.encode(rgb, lo))
    if len(best[1]) > target:
        return best
    top = peer.encode(rgb, hi)
    if len(top) <= target:
        return hi, top
    for _ in range(SEARCH_STEPS if not whole else 64):
        mid = (lo + hi) // 2 if whole else (lo + hi) / 2
        if whole and mid in (lo, hi):
            break
        data = peer.encode(rgb, mid)
        if len(data) <= target:
            lo, best = mid, (mid, data)
        else:
            hi = mid
    return best


def cache_name(codec: str) -> str:
    """A codec as report/cache.json knows it: DCN with its model's fingerprint, so that a new
    default model (or another folder of weights) is measured again rather than read back."""
    if not peers.is_dcn(codec):
        return codec
    from ...models.registry import find
    return f"{codec}#{find(codec[4:] if codec.startswith('dcn=') else None).fingerprint}"


def matched_decodes(images: list[Path], codecs: dict, out: Path) -> list[dict]:
    """Per image and target size, every codec's decode at that size: entries with the PNG
    written under out/report/, from report/cache.json when an earlier run made them."""
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    cache_file = folder / "cache.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    anchor = anchor_codec(list(codecs))
    order = sorted(codecs, key=lambda c: (FIRST.index(c) if c in FIRST else len(FIRST), list(codecs).index(c)))
    entries = []
    for path in images:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        stem = path.stem
        original = folder / f"{stem}.webp"
        if not original.exists():
            Image.fromarray(rgb).save(original, lossless=True)
        for level, setting in enumerate(target_settings(codecs[anchor])):
            target_key = f"{stem}|{cache_name(anchor)}|{setting:g}"
            if target_key not in cache:
                cache[target_key] = {"bytes": len(peers.get(anchor).encode(rgb, setting))}
            target = cache[target_key]["bytes"]
            panels = []
            for codec in order:
                key = f"{stem}|{cache_name(codec)}|{target}"
                name = f"{stem}-{level}-{''.join(ch if ch.isalnum() else '_' for ch in codec)}.webp"
                if key not in cache or not (folder / name).exists():
                    span = tuple(codecs[codec]) + tuple(peers.get(codec).settings)  # the run's and the usual range
                    s, data = (setting, None) if codec == anchor else largest_within(codec, rgb, target, span)
                    data = data or peers.get(codec).encode(rgb, s)
                    decoded = peers.decode(codec, data)
                    Image.fromarray(decoded).save(folder / name, lossless=True)  # exact, ~2/3 of a PNG
                    cache[key] = {"setting": s, "bytes": len(data), "psnr": psnr_rgb(rgb, decoded), "file": name}
                    cache_file.write_text(json.dumps(cache, indent=1))
                c = cache[key]
                panels.append({"codec": codec, **c, "bpp": bpp(c["bytes"], rgb.shape[1], rgb.shape[0])})
            entries.append({"image": path.name, "original": original.name, "width": rgb.shape[1],
                            "height": rgb.shape[0], "target": target, "panels": panels})
    cache_file.write_text(json.dumps(cache, indent=1))
    return entries


def svg_chart(curves: dict, metric: str, label: str) -> str:
    """An RD chart as inline SVG; every point says its values on hover (a <title>)."""
    w, h, left, bottom, pad = 560, 360, 54, 40, 12
    xs = [v for c in curves.values() for v in c["results"]["bpp"]]
    ys = [_metric(c, metric, i) for c in curves.values() for i in range(len(c["results"]["bpp"]))]
    x0, x1 = 0.0, max(xs) * 1.05
    y0, y1 = min(ys) - 0.5, max(ys) + 0.5
    sx = lambda v: left + (v - x0) / (x1 - x0) * (w - left - pad)  # noqa: E731
    sy = lambda v: h - bottom - (v - y0) / (y1 - y0) * (h - bottom - pad)  # noqa: E731
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}">',
             f'<rect x="{left}" y="{pad}" width="{w - left - pad}" height="{h - bottom - pad}" class="frame"/>']
    for k in range(6):
        xv, yv = x0 + (x1 - x0) * k / 5, y0 + (y1 - y0) * k / 5
        parts.append(f'<text x="{sx(xv):.1f}" y="{h - bottom + 16}" class="tick">{xv:.2f}</text>')
        parts.append(f'<text x="{left - 6}" y="{sy(yv) + 4:.1f}" class="tick end">{yv:.1f}</text>')
    parts.append(f'<text x="{(w + left) / 2}" y="{h - 6}" class="axis">bits per pixel (whole file)</text>')
    parts.append(f'<text x="14" y="{h / 2}" class="axis" transform="rotate(-90 14 {h / 2})">{label}</text>')
    for i, (name, c) in enumerate(curves.items()):
        r = c["results"]
        pts = [(sx(b), sy(_metric(c, metric, j))) for j, b in enumerate(r["bpp"])]
        colour = PALETTE[i % len(PALETTE)]
        width = 2.6 if peers.is_dcn(name) else 1.4
        parts.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}" fill="none" '
                     f'stroke="{colour}" stroke-width="{width}"/>')
        for j, (x, y) in enumerate(pts):
            tip = f"{name} {r['quality'][j]:g}: {r['bpp'][j]:.3f} bpp, {_metric(c, metric, j):.2f} dB"
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{colour}"><title>{html.escape(tip)}'
                         f'</title></circle>')
        parts.append(f'<text x="{left + 10}" y="{pad + 16 + 15 * i}" fill="{colour}" class="legend">'
                     f'{html.escape(name)}</text>')
    return "".join(parts) + "</svg>"


def _metric(curve: dict, metric: str, i: int) -> float:
    r = curve["results"]
    return r["psnr-rgb"][i] if metric == "psnr" else ms_ssim_db(r["ms-ssim-rgb"][i])


def bd_html(curves: dict) -> str:
    names, table = bd_table(curves)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = "".join(f"<tr><th>{html.escape(n)}</th>" + "".join(
        f"<td>{'n/a' if np.isnan(v) else f'{v:+.1f}'}</td>" for v in row) + "</tr>" for n, row in zip(names, table))
    return f"<table class='bd'><tr><th>codec \\ anchor</th>{head}</tr>{rows}</table>"


def codecs_html(curves: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(c['description'])}</td>" + "".join(
        f"<td>{c[k]:.3f}</td>" if k in c else "<td>n/a</td>" for k in ("median_encode_s", "median_decode_s"))
        + "</tr>" for n, c in curves.items())  # results from before the times were kept have none
    return ("<table><tr><th>codec</th><th>how it was run</th><th>median encode (s)</th>"
            f"<th>median decode (s)</th></tr>{rows}</table>")


def crops_html(entries: list[dict]) -> str:
    blocks = []
    for e in entries:
        panels = "".join(
            f'<figure class="panel" data-codec="{html.escape(p["codec"])}" data-bytes="{p["bytes"]}" '
            f'data-psnr="{p["psnr"]:.4f}" data-file="{html.escape(p["file"])}"><div class="view"><img src="report/{html.escape(p["file"])}" '
            f'width="{e["width"]}" height="{e["height"]}" alt="{html.escape(p["codec"])}"></div>'
            f'<figcaption><b>{html.escape(p["codec"])}</b> {p["bytes"]:,} B, {p["bpp"]:.3f} bpp, '
            f'{p["psnr"]:.2f} dB{" (its smallest file: over the size)" if p["bytes"] > e["target"] else ""}'
            f'</figcaption></figure>' for p in e["panels"])
        blocks.append(
            f'<section class="row" data-image="{html.escape(e["image"])}" data-target="{e["target"]}">'
            f'<h3>{html.escape(e["image"])} at {e["target"]:,} bytes or less '
            f'({bpp(e["target"], e["width"], e["height"]):.3f} bpp)</h3>'
            f'<img class="overview" src="report/{html.escape(e["original"])}" alt="whole image: click to choose '
            f'the region">{panels}</section>')
    return "".join(blocks)


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:24px 0 8px}h3{font-size:14px;margin:8px 0}.note{color:#555}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
td:nth-child(2){text-align:left}.chart .frame{fill:none;stroke:#999}.chart .tick{font-size:10px;fill:#555}
.chart .end{text-anchor:end}.chart .axis{font-size:11px;text-anchor:middle}.chart .legend{font-size:12px}
.row{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px;margin-bottom:12px}.row h3{width:100%}
.overview{width:192px;cursor:crosshair;border:1px solid #999}.panel{margin:0}
.view{width:256px;height:256px;overflow:hidden;position:relative;border:1px solid #999;background:#eee}
.view img{position:absolute;left:0;top:0;transform-origin:0 0;image-rendering:pixelated;max-width:none}
figcaption{font-size:12px;width:256px}.zoom button.on{font-weight:bold}
"""

SCRIPT = """
const state={x:0.5,y:0.5,zoom:1};
function place(){
  document.querySelectorAll('.row').forEach(row=>{
    row.querySelectorAll('.view img').forEach(img=>{
      const w=img.width*state.zoom,h=img.height*state.zoom;
      const left=Math.max(0,Math.min(w-256,state.x*w-128)),top=Math.max(0,Math.min(h-256,state.y*h-128));
      img.style.transform=`translate(${-left}px,${-top}px) scale(${state.zoom})`;
      img.dataset.region=`${Math.round(left/state.zoom)},${Math.round(top/state.zoom)},${state.zoom}`;
    });
  });
  document.querySelectorAll('.zoom button').forEach(b=>b.classList.toggle('on',+b.dataset.zoom===state.zoom));
}
document.querySelectorAll('.overview').forEach(o=>o.addEventListener('click',ev=>{
  const r=o.getBoundingClientRect();state.x=(ev.clientX-r.left)/r.width;state.y=(ev.clientY-r.top)/r.height;place();}));
document.querySelectorAll('.zoom button').forEach(b=>b.addEventListener('click',()=>{state.zoom=+b.dataset.zoom;place();}));
function selftest(){
  const imgs=[...document.images];
  const broken=imgs.filter(i=>!(i.complete&&i.naturalWidth>0)).map(i=>i.getAttribute('src'));
  const regions=new Set([...document.querySelectorAll('.row')].map(r=>
    [...r.querySelectorAll('.view img')].map(i=>i.dataset.region).join('|')));
  const el=document.getElementById('selftest');
  el.dataset.images=imgs.length;el.dataset.broken=JSON.stringify(broken);
  el.dataset.regions=JSON.stringify([...document.querySelectorAll('.row')].map(r=>
    [...new Set([...r.querySelectorAll('.view img')].map(i=>i.dataset.region))]));
}
window.addEventListener('error',e=>{document.getElementById('selftest').dataset.error=String(e.message);});
window.addEventListener('load',()=>{place();selftest();});
"""


def write(out: Path, curves: dict, images: list[Path], codecs: dict, title: str) -> Path:
    """report.html in `out` (with the size-matched decodes in out/report/)."""
    entries = matched_decodes(images, codecs, out)
    first = min(1, len(entries) - 1)  # the first image's middle size opens the page
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">Made by <code>dcn bench --report</code> on {time.strftime('%Y-%m-%d')}. Crops: the same region of each
codec's decode at the same file size (each codec's largest file not above the size of DCN's file); click the whole
image to move the region. Rate is the whole file on disk.</p>
<div class="zoom">Zoom: <button data-zoom="1">1:1</button> <button data-zoom="2">2×</button>
<button data-zoom="4">4×</button></div>
{crops_html(entries[first:first + 1])}
<h2>Rate and distortion</h2>
{svg_chart(curves, "psnr", "PSNR-RGB (dB)")} {svg_chart(curves, "ms-ssim", "MS-SSIM (dB)")}
<h2>BD-rate (%)</h2><p class="note">Each row's codec against each column's at equal PSNR-RGB (negative: the row
needs fewer bits).</p>{bd_html(curves)}
<h2>Codecs, settings and times</h2>{codecs_html(curves)}
<h2>Crops at equal file size</h2>{crops_html(entries[:first] + entries[first + 1:])}
<div id="selftest" hidden></div>
<script>{SCRIPT}</script></body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
