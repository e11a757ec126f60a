"""The sweep: every codec x setting x image, encoded to real bytes and decoded, in
parallel over images; then the reports."""
import csv
import os
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, asdict, fields
from pathlib import Path

import numpy as np
from PIL import Image

from . import peers
from .metrics import bpp, ms_ssim_rgb, psnr_rgb


@dataclass
class Row:
    codec: str
    setting: float
    image: str
    width: int
    height: int
    bytes: int
    bpp: float
    psnr_rgb: float
    ms_ssim_rgb: float
    encode_s: float
    decode_s: float


def _init_worker(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)


def measure_image(codec: str, settings: tuple, path: str) -> list[Row]:
    """All settings of one codec on one image (the image is read once)."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    h, w = rgb.shape[:2]
    peer = peers.get(codec)
    rows = []
    for s in settings:
        t0 = time.perf_counter()
        data = peer.encode(rgb, s)
        t1 = time.perf_counter()
        out = peers.decode(codec, data)
        t2 = time.perf_counter()
        rows.append(Row(codec, float(s), Path(path).name, w, h, len(data), bpp(len(data), w, h),
                        psnr_rgb(rgb, out), ms_ssim_rgb(rgb, out), t1 - t0, t2 - t1))
    return rows


def sweep(images: list[Path], codecs: dict[str, tuple], jobs: int = 1, progress: bool = True) -> list[Row]:
    from tqdm import tqdm
    tasks = [(c, s, str(p)) for c, s in codecs.items() for p in images]
    rows: list[Row] = []
    bar = tqdm(total=len(tasks), unit="image", disable=not progress, desc="bench")
    if jobs <= 1:
        for t in tasks:
            rows += measure_image(*t)
            bar.update(1)
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(threads,)) as pool:
            for result in pool.map(measure_image, *zip(*tasks)):
                rows += result
                bar.update(1)
    bar.close()
    return rows


def write_csv(rows: list[Row], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f.name for f in fields(Row)])
        for r in rows:
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in asdict(r).values()])


def curves(rows: list[Row]) -> dict[str, dict]:
    """Per codec, per setting: means over images, in CompressAI's results layout."""
    by = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by[r.codec][r.setting].append(r)
    out = {}
    for codec, settings in by.items():
        res = defaultdict(list)
        for s in sorted(settings):
            rs = settings[s]
            res["quality"].append(s)
            res["bpp"].append(float(np.mean([r.bpp for r in rs])))
            res["psnr-rgb"].append(float(np.mean([r.psnr_rgb for r in rs])))
            res["ms-ssim-rgb"].append(float(np.mean([r.ms_ssim_rgb for r in rs])))
            res["encoding_time"].append(float(np.mean([r.encode_s for r in rs])))
            res["decoding_time"].append(float(np.mean([r.decode_s for r in rs])))
        mine = [r for r in rows if r.codec == codec]
        out[codec] = {"name": codec, "description": peers.get(codec).description,
                      "images": len({r.image for r in mine}), "results": dict(res),
                      "median_encode_s": float(np.median([r.encode_s for r in mine])),
                      "median_decode_s": float(np.median([r.decode_s for r in mine]))}
    return out
