"""Names that do not exist: a branch that no test here can run (the CUDA path on this CPU
machine) once referred to an unimported constant and would have died with a NameError
on the first GPU. pyflakes finds such names in every branch without running it."""
from pathlib import Path

from pyflakes.api import checkPath
from pyflakes.messages import UndefinedExport, UndefinedLocal, UndefinedName
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[1]


class Collect(Reporter):
    def __init__(self):
        self.found = []

    def flake(self, message):
        if isinstance(message, (UndefinedName, UndefinedLocal, UndefinedExport)):
            self.found.append(str(message))

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.found.append(f"{filename}:{lineno}: {msg}")

    def unexpectedError(self, filename, msg):
        self.found.append(f"{filename}: {msg}")


def test_no_undefined_names():
    report = Collect()
    files = sorted((ROOT / "codec").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    assert len(files) > 40
    for path in files:
        checkPath(str(path), report)
    assert report.found == []


def test_the_check_sees_an_undefined_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(device):\n    if device == 'cuda':\n        return GPU_BLOCK\n")
    report = Collect()
    checkPath(str(bad), report)
    assert len(report.found) == 1 and "GPU_BLOCK" in report.found[0]
