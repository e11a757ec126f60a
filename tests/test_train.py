"""Training: exact resume, identical replicas under DistributedDataParallel, and export
to weights the codec can use."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import codec
from codec.errors import DCNError
from codec.train.model import HyperpriorModel, ModelConfig
from codec.train.loop import TrainConfig, param_groups, run
from conftest import make_image

TINY = ModelConfig(n=8, m=12)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    for i in range(6):
        (d / f"sub{i % 2}").mkdir(exist_ok=True)
        make_image(96 + 8 * i, 80, seed=i).save(d / f"sub{i % 2}" / f"img{i}.png")
    return d


def config(data, out, steps, **kw):
    base = dict(data=str(data), out=str(out), steps=steps, batch=2, crop=64, workers=0, holdout=1,
                eval_every=3, ckpt_every=100, model=TINY, warmup=2)
    base.update(kw)
    return TrainConfig(**base)


def weights(path: Path) -> dict:
    """The weights and, when the run keeps one, the weight average."""
    return {k: v for k, v in load_file(str(path)).items() if k.startswith(("model.", "ema."))}


# gain_lr 10: two parameter groups in Adam's saved state; bf16: the autocast path; the
# checkerboard context model with its own level table; ema: the average resumed as saved
@pytest.mark.parametrize("gain_lr,bf16,model,ema", [(1.0, False, TINY, 0.0), (10.0, False, TINY, 0.0),
                                                    (1.0, True, TINY, 0.0), (1.0, False, TINY, 0.9),
                                                    (1.0, False, ModelConfig(8, 12, context="checkerboard",
                                                                             lambdas=(0.001, 0.01, 0.1)), 0.0)])
def test_resume_is_exact(image_dir, tmp_path, gain_lr, bf16, model, ema):
    kw = dict(gain_lr=gain_lr, bf16=bf16, model=model, ema=ema)
    run(config(image_dir, tmp_path / "straight", 7, **kw), progress=False)
    run(config(image_dir, tmp_path / "split", 4, **kw), progress=False)
    run(config(image_dir, tmp_path / "split", 7, workers=1, **kw), resume=True, progress=False)
    a = weights(tmp_path / "straight" / "last.safetensors")
    b = weights(tmp_path / "split" / "last.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("ema.") for k in a) == (ema > 0)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log = (tmp_path / "split" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,") and len(log) == 8  # header + 7 steps
    assert "q2_psnr" in (tmp_path / "straight" / "log.csv").read_text()  # held-aside evaluation ran


def test_replicas_stay_identical_under_torchrun(image_dir, tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",  # a free port
           str(worker), str(image_dir), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    start = load_file(str(tmp_path / "start.safetensors"))
    assert any(not torch.equal(a[k], start[k]) for k in a)  # they did train


def test_export_gives_working_weights(image_dir, tmp_path):
    run(config(image_dir, tmp_path / "run", 3), progress=False)
    r = subprocess.run([sys.executable, "-m", "codec", "export", str(tmp_path / "run" / "last.safetensors"),
                        "--out", str(tmp_path / "w"), "--calibration", str(image_dir)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    img = make_image(70, 50)
    data = codec.encode(img, quality=5, model=tmp_path / "w")
    out = codec.decode(data, weights_dir=tmp_path / "w")
    assert out.size == (70, 50)
    with pytest.raises(DCNError, match="unknown model"):
        codec.decode(data)  # the shipped weights are not these


def test_cpu_budget_stops_the_run_and_keeps_snapshots(image_dir, tmp_path):
    from safetensors import safe_open
    run(config(image_dir, tmp_path / "run", 10 ** 6, minutes=0.03, snapshot_minutes=0.01, eval_every=10 ** 6),
        progress=False)
    with safe_open(str(tmp_path / "run" / "last.safetensors"), "pt") as f:
        meta = f.metadata()
    assert 1.8 <= float(meta["cpu_seconds"]) < 30 and 0 < int(meta["step"]) < 10 ** 6
    snaps = sorted((tmp_path / "run").glob("snap-*min.safetensors"))
    assert [p.name for p in snaps] == ["snap-0.01min.safetensors", "snap-0.02min.safetensors",
                                       "snap-0.03min.safetensors"]


def test_gain_vectors_get_their_own_learning_rate():
    model = HyperpriorModel(TINY)
    groups = param_groups(model, TrainConfig(data="", out="", gain_lr=10.0))
    assert [g["scale"] for g in groups] == [1.0, 10.0]
    assert groups[1]["params"] == [model.log_gain, model.log_inv_gain]
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in model.parameters())


def test_level_weight_scales_each_sample_by_its_level():
    """--level-weight p multiplies a sample's loss by (lambda_mid / lambda)^p: the middle
    level's is unchanged, one at 4x its lambda weighs 4^-p; p = 0 is the plain loss, bit
    for bit (a run resumed without it computes exactly what it did)."""
    from codec.train.model import rd_loss
    lambdas = (0.0025, 0.01, 0.04)  # the middle one: 0.01
    g = torch.Generator().manual_seed(0)
    x = torch.rand((3, 3, 64, 64), generator=g)
    out = {"x_hat": x + 0.05 * torch.randn(x.shape, generator=g), "y_lik": torch.rand((3, 4, 4, 4), generator=g),
           "z_lik": torch.rand((3, 2, 1, 1), generator=g)}
    level = torch.tensor([0, 1, 2])
    plain = rd_loss(out, x, level, lambdas)
    per_sample = [rd_loss({k: v[i:i + 1] for k, v in out.items()}, x[i:i + 1], level[i:i + 1], lambdas)["loss"]
                  for i in range(3)]
    assert torch.equal(rd_loss(out, x, level, lambdas, 0.0)["loss"], plain["loss"])
    weighted = rd_loss(out, x, level, lambdas, 0.5)["loss"]
    expected = (2.0 * per_sample[0] + per_sample[1] + 0.5 * per_sample[2]) / 3
    assert weighted.item() == pytest.approx(expected.item(), rel=1e-6)
    assert weighted.item() != pytest.approx(plain["loss"].item(), rel=1e-3)
    with pytest.raises(ValueError, match="level-weight"):
        TrainConfig(data="", out="", level_weight=-0.1).validate()


def test_learning_rate_follows_the_cpu_clock_under_a_budget():
    from codec.train.loop import learning_rate
    cfg = TrainConfig(data="", out="", steps=10 ** 6, lr=1e-3, warmup=10, minutes=10, decay_from=0.5)
    assert learning_rate(cfg, 100, cpu_seconds=299) == 1e-3
    assert learning_rate(cfg, 100, cpu_seconds=301) == pytest.approx(1e-4)


def test_relu_ema_noise_recipe_exports_the_average(image_dir, tmp_path):
    run(config(image_dir, tmp_path / "run", 3, ema=0.5, proxy="noise", init_gain=4.0,
               model=ModelConfig(n=8, m=12, act="relu")), progress=False)
    ckpt = load_file(str(tmp_path / "run" / "last.safetensors"))
    r = subprocess.run([sys.executable, "-m", "codec", "export", str(tmp_path / "run" / "last.safetensors"),
                        "--out", str(tmp_path / "w"), "--calibration", str(image_dir)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    shipped = load_file(str(tmp_path / "w" / "decoder.safetensors"))
    assert torch.equal(shipped["g_s.0.weight"], ckpt["ema.g_s.0.weight"])
    assert not torch.equal(shipped["g_s.0.weight"], ckpt["model.g_s.0.weight"])
    img = make_image(70, 50)
    out = codec.decode(codec.encode(img, quality=3, model=tmp_path / "w"), weights_dir=tmp_path / "w")
    assert out.size == (70, 50)


def test_eval_forward_is_deterministic_and_rates_the_rounded_latent():
    from codec.train.model import HyperpriorModel
    torch.manual_seed(0)
    model = HyperpriorModel(TINY).eval()
    model.scale_latent_init(8.0)
    x = torch.rand(1, 3, 64, 64)
    a, b = model(x, torch.tensor([5])), model(x, torch.tensor([5]))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    model.train()
    c = model(x, torch.tensor([5]))
    assert not torch.equal(a["y_lik"], c["y_lik"])  # training rates the noisy latent


def test_bf16_runs_the_transforms_in_bfloat16_and_rates_in_float32():
    torch.manual_seed(0)
    model = HyperpriorModel(TINY)
    model.scale_latent_init(8.0)
    x = torch.rand(2, 3, 64, 64)
    seen = []
    model.g_s.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    torch.manual_seed(1)
    full = model(x, torch.tensor([2, 5]))
    torch.manual_seed(1)
    half = model(x, torch.tensor([2, 5]), bf16=True)
    assert seen == [torch.float32, torch.bfloat16]
    assert all(v.dtype == torch.float32 for v in half.values())
    assert torch.allclose(half["x_hat"], full["x_hat"], atol=0.05)  # bfloat16: 8 bits of mantissa
    assert not torch.equal(half["x_hat"], full["x_hat"])


def warm_started(image_dir, out: Path, steps: int, source_config: ModelConfig, target_config: ModelConfig):
    """A source run of `steps`, its model, and a target model warm-started from it (eval
    mode), with the names the warm start left new."""
    from codec.train.checkpoint import warm_start
    from codec.train.export import load_model
    run(config(image_dir, out, steps, model=source_config), progress=False)
    model = HyperpriorModel(target_config)
    fresh = warm_start(model, out / "last.safetensors")
    return load_model(out / "last.safetensors")[0], model.eval(), fresh


def test_warm_start_begins_where_the_source_model_is(image_dir, tmp_path):
    """A context model with a wider level table, started from a plain hyperprior run: the
    shared parts are copied, each level's gains sit on the source's log-gain curve, and
    the context network starts as a no-op, so at a level the source had the new model
    computes exactly what the source did; training from there runs."""
    from codec.models.quality import LAMBDAS
    wide = ModelConfig(8, 12, context="checkerboard", lambdas=(LAMBDAS[0] / 2,) + LAMBDAS + (LAMBDAS[-1] * 2,))
    source, model, fresh = warm_started(image_dir, tmp_path / "src", 3, TINY, wide)
    assert fresh and all(k.startswith("context.") for k in fresh)
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        for level in (0, 4, 7):
            a, b = source(x, torch.tensor([level])), model(x, torch.tensor([level + 1]))
            for k in ("x_hat", "y_lik", "z_lik"):
                assert torch.allclose(a[k], b[k], atol=1e-6), (level, k)
    # the extrapolated ends continue the end segments' slopes in log(lambda)
    slope = (model.log_gain[1:] - model.log_gain[:-1]) / torch.diff(torch.log(torch.tensor(wide.lambdas)))[:, None]
    assert torch.allclose(slope[0], slope[1], atol=1e-4) and torch.allclose(slope[-1], slope[-2], atol=1e-4)
    run(config(image_dir, tmp_path / "ctx", 2, model=wide, init_from=str(tmp_path / "src" / "last.safetensors")),
        progress=False)
    assert (tmp_path / "ctx" / "last.safetensors").exists()


def test_warm_start_carries_adam_state_of_the_weights_it_copies(image_dir, tmp_path):
    """A fresh Adam would move every copied weight by about lr at once; the source's moments
    go with the weights copied unchanged, new parts (and gains over a new level table) start
    fresh, in a parameter group of their own (--new-lr)."""
    from codec.train.checkpoint import carry_adam_state, warm_start
    from codec.train.loop import param_groups
    run(config(image_dir, tmp_path / "src", 3), progress=False)
    src = load_file(str(tmp_path / "src" / "last.safetensors"))
    names = [n for n, _ in HyperpriorModel(TINY).named_parameters()]
    for cfg_, gains_carried in ((ModelConfig(8, 12, context="checkerboard"), True),
                                (ModelConfig(8, 12, context="checkerboard", lambdas=(0.001, 0.01)), False)):
        model = HyperpriorModel(cfg_)
        fresh = warm_start(model, tmp_path / "src" / "last.safetensors")
        cfg = config(image_dir, tmp_path, 1, fresh=tuple(fresh), new_lr=10.0)
        opt = torch.optim.Adam(param_groups(model, cfg), lr=1e-4)
        carry_adam_state(model, tmp_path / "src" / "last.safetensors", opt, fresh)
        new = [p for name, p in model.named_parameters() if name in fresh]
        assert new and opt.param_groups[-1]["scale"] == 10.0 and opt.param_groups[-1]["params"] == new
        for name, p in model.named_parameters():
            carried = p in opt.state
            assert carried == (name not in fresh and (gains_carried or "gain" not in name)), name
            if carried:
                i = names.index(name)
                assert torch.equal(opt.state[p]["exp_avg_sq"], src[f"opt.{i}.exp_avg_sq"]), name
                assert int(opt.state[p]["step"]) == 3
        opt.zero_grad()
        sum(p.sum() for p in model.parameters()).backward()
        opt.step()  # the carried state is usable as it is
    # a warm-started run keeps its new parts' group across a resume, exactly
    from codec.train.checkpoint import read_config
    ctx = ModelConfig(8, 12, context="checkerboard")
    kw = dict(model=ctx, init_from=str(tmp_path / "src" / "last.safetensors"), new_lr=10.0)
    run(config(image_dir, tmp_path / "straight", 4, **kw), progress=False)
    run(config(image_dir, tmp_path / "split", 2, **kw), progress=False)
    run(config(image_dir, tmp_path / "split", 4, **kw), resume=True, progress=False)
    assert read_config(tmp_path / "split" / "last.safetensors")["fresh"] == fresh
    a, b = weights(tmp_path / "straight" / "last.safetensors"), weights(tmp_path / "split" / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_channel_groups_start_as_the_checkerboard_and_learn(image_dir, tmp_path):
    """The channel-group context warm-started from a checkerboard run computes exactly what
    that run does (its group networks start as no-ops), and each group's symbols reach the
    groups after it once trained (its latent codec: tests/test_context.py)."""
    from codec.train.export import load_model
    cb, groups = ModelConfig(8, 16, context="checkerboard"), ModelConfig(8, 16, context="checkerboard-groups")
    source, model, fresh = warm_started(image_dir, tmp_path / "cb", 2, cb, groups)
    assert fresh and all(k.startswith("groups.") for k in fresh)
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        a, b = source(x, torch.tensor([3])), model(x, torch.tensor([3]))
    assert all(torch.equal(a[k], b[k]) for k in ("x_hat", "y_lik", "z_lik"))
    run(config(image_dir, tmp_path / "g", 3, model=groups, init_from=str(tmp_path / "cb" / "last.safetensors"),
               new_lr=10.0), progress=False)
    trained = load_model(tmp_path / "g" / "last.safetensors")[0]
    assert trained.groups.other_nets[-1].params[-1].weight.abs().sum() > 0
    # the decoding order: a later group's means follow an earlier group's symbols; an
    # other element (row + col odd) of the last group feeds nothing; nor does any other
    # element feed an anchor
    y = torch.randn(1, 16, 4, 4) * 3
    anchors = (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2 == 0

    def means_with(channel, row, col):
        y2 = y.clone()
        y2[0, channel, row, col] += 5
        with torch.no_grad():
            return trained._grouped(y2, torch.zeros_like(y), torch.ones_like(y))[0][0]

    m0 = means_with(0, 0, 0)
    base = trained._grouped(y, torch.zeros_like(y), torch.ones_like(y))[0][0].detach()
    assert not torch.equal(base[8:], m0[8:])  # group 0's anchor symbol reaches the last group
    assert torch.equal(base[:8], means_with(15, 0, 1)[:8])
    assert torch.equal(base[:, anchors], means_with(0, 0, 1)[:, anchors])
