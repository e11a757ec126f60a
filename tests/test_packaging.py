"""What `pip install .` ships: every subpackage of codec, and every released model's files."""
import tomllib

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
