"""What the integer scale network costs in rate: every Kodak image at several qualities,
coded once with the integer network's table indices (the real files) and once with the
float network's (from the training checkpoint). The symbols, hence the PSNR, are the same
either way, so the BD-rate is the mean log ratio of the sizes.

    python bench/integer_cost.py ../shared/data/kodak weights/train-checkpoint.safetensors
"""
import sys
from pathlib import Path

import numpy as np
import torch

from codec.entropy import ans as entropy
from codec.entropy.tables import ScaleSpec
from codec.pipeline.encode import prepare, quantize, write
from codec.train.data import list_images
from codec.train.export import load_model

QUALITIES = (1.5, 3.0, 4.5, 6.0, 7.5)


def main() -> None:
    images, checkpoint = Path(sys.argv[1]), Path(sys.argv[2])
    model = load_model(checkpoint)[0]
    spec = ScaleSpec()  # model 1's
    thresholds = torch.from_numpy(spec.thresholds().astype(np.float64))
    ratios, agree = [], []
    for path in list_images(images):
        a = prepare(path)
        for q in QUALITIES:
            lat = quantize(a, q)
            data = write(a, q, lat)
            z, y, indices = lat.arrays().values()
            with torch.no_grad():
                scales = model.h_s_scale(torch.from_numpy(z).float()[None])[0].double() * 2 ** spec.frac_bits
            float_idx = torch.searchsorted(thresholds, scales.reshape(-1), right=True).reshape(scales.shape).numpy()
            int_bytes = len(entropy.encode(y, indices, a.dec.latent.y_tables))
            float_bytes = len(entropy.encode(y, float_idx, a.dec.latent.y_tables))
            ratios.append((len(data)) / (len(data) - int_bytes + float_bytes))
            agree.append(float(np.mean(float_idx == indices)))
    r = np.array(ratios)
    print(f"{len(r)} files ({len(r) // len(QUALITIES)} images x qualities {QUALITIES})")
    print(f"table index agreement integer vs float: mean {np.mean(agree):.4%}, min {np.min(agree):.4%}")
    print(f"file size integer / float: mean {r.mean():.5f}, min {r.min():.5f}, max {r.max():.5f}")
    print(f"BD-rate of the integer path against the float path: {(np.exp(np.mean(np.log(r))) - 1) * 100:+.3f} %")


if __name__ == "__main__":
    main()
