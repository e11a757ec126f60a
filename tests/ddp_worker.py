"""Run under torchrun by test_train.py: a few DDP steps, then each rank saves its weights."""
import os
import sys

import torch
from safetensors.torch import save_file

from codec.train.model import HyperpriorModel, ModelConfig
from codec.train.loop import TrainConfig, run

data, out = sys.argv[1], sys.argv[2]
rank = int(os.environ["RANK"])
cfg = TrainConfig(data=data, out=os.path.join(out, "run"), steps=3, batch=2, crop=64, workers=0, holdout=0,
                  ckpt_every=100, model=ModelConfig(n=8, m=12), seed=rank,  # the seed must not matter for weights
                  minutes=60)  # a budget that does not run out, but puts the shared CPU clock to work
if rank == 0:
    torch.manual_seed(0)
    save_file(HyperpriorModel(cfg.model).state_dict(), os.path.join(out, "start.safetensors"))
model = run(cfg, progress=False)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, f"rank{rank}.safetensors"))
