"""What `pip install .` ships: every subpackage of codec, and every released model's files."""
import tomllib
from pathlib import Path

from conftest import ROOT


def test_every_subpackage_and_model_file_is_packaged():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "codec").rglob("__init__.py")}
    assert found <= packages, found - packages
    import fnmatch
    patterns = config["package-data"]["codec.model_weights"]
    weights = [p.relative_to(ROOT / "weights").as_posix() for p in (ROOT / "weights").rglob("*")
               if p.is_file() and p.suffix in (".safetensors", ".json") and not p.name.startswith("train-")]
    assert weights and all(any(fnmatch.fnmatch(w, pat) for pat in patterns) for w in weights)


def test_the_wheel_works_from_a_fresh_venv(tmp_path):
    """What `pip install .` gives a user, not the editable checkout: the wheel is built,
    installed into a new virtual environment (its dependencies borrowed from this one by a
    .pth file, so nothing is downloaded), and every command runs from there."""
    import os
    import subprocess
    import sys
    import sysconfig
    from PIL import Image
    from conftest import make_image

    def run(*cmd, cwd=tmp_path, timeout=600):
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                           env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DCN_WEIGHTS")})
        assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-2000:])
        return r

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", ROOT)
    wheel, = (tmp_path / "dist").glob("dcn-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    site = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(site) / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    where = run(py, "-c", "import codec; print(codec.__file__, codec.__version__)").stdout
    assert where.startswith(str(venv)) and "0+unknown" not in where, where
    bin_ = venv / "bin"
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        make_image(96, 64, seed=i).save(images / f"im{i}.png")
    run(bin_ / "dcn", "encode", images / "im0.png", tmp_path / "a.dcn")
    run(bin_ / "dcn", "decode", tmp_path / "a.dcn", tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").size == (96, 64)
    assert "checkerboard-groups-64-128@1" in run(bin_ / "dcn", "info", tmp_path / "a.dcn").stdout
    run(bin_ / "dcn-decode", tmp_path / "a.dcn", tmp_path / "b.png")
    assert "done 2" in run(bin_ / "dcn", "batch", images, tmp_path / "out").stdout
    run(bin_ / "dcn", "bench", images, "--out", tmp_path / "bench", "--codecs", "dcn,jpeg",
        "--qualities", "dcn:2,6", "--qualities", "jpeg:50,90")
    assert (tmp_path / "bench" / "bd_rate.md").exists()

