"""The command-line tools: behaviour and error handling, as a user sees them."""
import os
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest
from PIL import Image

from codec.format import container
from conftest import make_image, run_cli


def assert_clean_failure(result, output_path=None):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dcn: error:"), result.stderr
    assert "Traceback" not in result.stderr
    if output_path is not None:
        assert not output_path.exists()
        assert not list(output_path.parent.glob(f".{output_path.name}.*"))


def test_encode_decode_info(tmp_path, sample_png):
    dcn, png = tmp_path / "s.dcn", tmp_path / "s.png"
    assert run_cli("dcn", "encode", sample_png, dcn, "-q", "5").returncode == 0
    assert run_cli("dcn", "decode", dcn, png).returncode == 0
    assert Image.open(png).size == (96, 80)
    info = run_cli("dcn", "info", dcn)
    assert info.returncode == 0
    for word in ("96x80", "RGB", "quality:     5", "bpp", "sections:", "y ", "z ", "tiles:       1x1 of 512 px"):
        assert word in info.stdout
    size = dcn.stat().st_size
    assert f"{8 * size / (96 * 80):.4f}" in info.stdout


def test_split_executables_match_dcn(tmp_path, sample_png):
    a, b = tmp_path / "a.dcn", tmp_path / "b.dcn"
    assert run_cli("dcn", "encode", sample_png, a).returncode == 0
    assert run_cli("dcn-encode", sample_png, b).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"
    assert run_cli("dcn", "decode", a, pa).returncode == 0
    assert run_cli("dcn-decode", b, pb).returncode == 0
    assert np.array_equal(np.asarray(Image.open(pa)), np.asarray(Image.open(pb)))


def test_decoder_imports_nothing_from_the_encoder(tmp_path, sample_png):
    dcn = tmp_path / "s.dcn"
    run_cli("dcn", "encode", sample_png, dcn)
    code = ("import sys; from codec.tools.cli import decode_main; sys.argv=['dcn-decode', sys.argv[1], sys.argv[2]];\n"
            "try:\n    decode_main()\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in sys.modules if m.startswith(('codec.pipeline.encode', 'codec.nets.analysis', "
            "'codec.train'))]\n"
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code, str(dcn), str(tmp_path / "o.png")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.png").exists()


def test_help_on_every_command():
    for args in [["dcn", "--help"], ["dcn-encode", "--help"], ["dcn-decode", "--help"]] + \
            [["dcn", c, "--help"] for c in ("encode", "decode", "info", "models", "batch", "bench", "train", "export")]:
        r = run_cli(*args)
        assert r.returncode == 0 and "Usage" in r.stdout, args


def test_missing_input(tmp_path):
    out = tmp_path / "o.dcn"
    assert_clean_failure(run_cli("dcn", "encode", tmp_path / "nope.png", out), out)
    assert_clean_failure(run_cli("dcn", "decode", tmp_path / "nope.dcn", tmp_path / "o.png"), tmp_path / "o.png")


def test_not_an_image(tmp_path):
    src, out = tmp_path / "notes.png", tmp_path / "o.dcn"
    src.write_text("hello, not a picture")
    assert_clean_failure(run_cli("dcn", "encode", src, out), out)


def test_empty_file_and_directory(tmp_path):
    empty, out = tmp_path / "empty.png", tmp_path / "o.dcn"
    empty.write_bytes(b"")
    assert_clean_failure(run_cli("dcn", "encode", empty, out), out)
    assert_clean_failure(run_cli("dcn", "encode", tmp_path, out), out)


def test_train_without_images(tmp_path):
    """An I/O error without a path (no images in the training folder) is still one plain
    line, and the failed start leaves no run folder behind."""
    result = run_cli("dcn", "train", tmp_path, "--out", tmp_path / "run")
    assert_clean_failure(result)
    assert result.stderr.strip() == f"dcn: error: no images under {tmp_path}"
    assert not (tmp_path / "run").exists()


def test_truncated_image(tmp_path):
    src, out = tmp_path / "cut.png", tmp_path / "o.dcn"
    make_image(120, 90).save(tmp_path / "full.png")
    src.write_bytes((tmp_path / "full.png").read_bytes()[:2000])
    assert_clean_failure(run_cli("dcn", "encode", src, out), out)


def test_bad_quality(tmp_path, sample_png):
    out = tmp_path / "o.dcn"
    r = run_cli("dcn", "encode", sample_png, out, "-q", "13")
    assert_clean_failure(r, out)
    assert "quality" in r.stderr


def test_never_overwrites_the_input(tmp_path, sample_png):
    copy = tmp_path / "x.png"
    copy.write_bytes(sample_png.read_bytes())
    before = copy.read_bytes()
    assert_clean_failure(run_cli("dcn", "encode", copy, copy))
    assert copy.read_bytes() == before


@pytest.fixture
def dcn_file(tmp_path, sample_png):
    path = tmp_path / "s.dcn"
    assert run_cli("dcn", "encode", sample_png, path).returncode == 0
    return path


def test_corrupted_truncated_other_version(tmp_path, dcn_file):
    data = dcn_file.read_bytes()
    out = tmp_path / "o.png"
    cases = {
        "flip": data[:40] + bytes([data[40] ^ 0x10]) + data[41:],
        "truncated": data[:-7],
        "version": data[:3] + bytes([9]) + data[4:],
        "magic": b"XYZ" + data[3:],
        "tiny": data[:5],
    }
    for name, bad in cases.items():
        src = tmp_path / f"{name}.dcn"
        src.write_bytes(bad)
        r = run_cli("dcn", "decode", src, out)
        assert_clean_failure(r, out)
    assert "version 9" in run_cli("dcn", "decode", tmp_path / "version.dcn", out).stderr


def test_other_weights_are_refused(tmp_path, dcn_file):
    data = bytearray(dcn_file.read_bytes())
    data[15:19] = b"\x00\x11\x22\x33"  # the weights fingerprint
    import zlib
    body = bytes(data[:-4])
    bad = tmp_path / "other.dcn"
    bad.write_bytes(body + container.CRC.pack(zlib.crc32(body)))
    r = run_cli("dcn", "decode", bad, tmp_path / "o.png")
    assert_clean_failure(r, tmp_path / "o.png")
    assert "unknown model (fingerprint 00112233)" in r.stderr and r.stderr.count("\n") == 1


def test_decode_to_jpeg_and_unknown_extension(tmp_path, dcn_file):
    assert run_cli("dcn", "decode", dcn_file, tmp_path / "o.jpg").returncode == 0
    assert_clean_failure(run_cli("dcn", "decode", dcn_file, tmp_path / "o.unknown"), tmp_path / "o.unknown")


def test_max_pixels_bound(tmp_path, dcn_file):
    r = run_cli("dcn", "decode", dcn_file, tmp_path / "o.png", "--max-pixels", "100")
    assert_clean_failure(r, tmp_path / "o.png")
    assert "limit" in r.stderr


def test_cuda_request_without_cuda(tmp_path, sample_png):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert_clean_failure(run_cli("dcn", "encode", sample_png, tmp_path / "o.dcn", "--device", "cuda"),
                         tmp_path / "o.dcn")


def test_tile_option(tmp_path, sample_png):
    dcn = tmp_path / "s.dcn"
    assert run_cli("dcn", "encode", sample_png, dcn, "--tile", "64").returncode == 0
    assert container.read(dcn.read_bytes()).header.grid == (2, 2)  # 96x80 in 64-px tiles
    assert_clean_failure(run_cli("dcn", "encode", sample_png, tmp_path / "t.dcn", "--tile", "100"),
                         tmp_path / "t.dcn")


def test_conventions_of_other_codecs_tools(sample_png, tmp_path):
    """--version, -h, -o, one-line usage errors, no progress bars in logs and pipes."""
    import codec
    r = run_cli("dcn", "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"dcn {codec.__version__}" and codec.__version__[0].isdigit()
    for exe in ("dcn", "dcn-encode", "dcn-decode"):
        r = run_cli(exe, "-h")
        assert r.returncode == 0 and "Usage" in r.stdout
    out = tmp_path / "o.dcn"
    r = run_cli("dcn", "encode", sample_png, "-o", out, "-q", "2")
    assert r.returncode == 0 and out.exists()
    assert "%|" not in r.stderr and "it/s" not in r.stderr  # stderr is not a terminal here: no bar
    r = run_cli("dcn-decode", out, "--output", tmp_path / "o.png")
    assert r.returncode == 0 and Image.open(tmp_path / "o.png").size == Image.open(sample_png).size
    r = run_cli("dcn", "encode", sample_png, out, "-o", tmp_path / "p.dcn")
    assert r.returncode == 1 and "give the output once" in r.stderr
    for args in (("encode",), ("encode", "--bogus", "a", "b"), ("frobnicate",), ("encode", "-q", "x", "a", "b")):
        r = run_cli("dcn", *args)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("dcn: error:")
        assert "--help" in r.stderr


def test_unusable_outputs_are_refused_before_decoding(sample_png, tmp_path):
    dcn = tmp_path / "s.dcn"
    assert run_cli("dcn", "encode", sample_png, dcn).returncode == 0
    r = run_cli("dcn", "decode", dcn, tmp_path / "s.xyz")
    assert r.returncode == 1 and "unknown output image format" in r.stderr
    r = run_cli("dcn", "decode", dcn, tmp_path / "again.dcn")  # a second lossy generation
    assert r.returncode == 1 and "not another .dcn file" in r.stderr and not (tmp_path / "again.dcn").exists()
    # the check comes first: a file that cannot even be read is not reached
    r = run_cli("dcn", "decode", tmp_path / "missing.dcn", tmp_path / "s.xyz")
    assert "unknown output image format" in r.stderr


def test_info_and_models_import_no_torch(sample_png, tmp_path):
    """A header needs no neural network: `dcn info` took 3 s and 237 MB for torch's import."""
    dcn = tmp_path / "s.dcn"
    assert run_cli("dcn", "encode", sample_png, dcn).returncode == 0
    script = ("import sys\nfrom codec.tools.cli import main\n"
              "for argv in (['dcn', 'info', sys.argv[1]], ['dcn', 'models'], ['dcn', '--help']):\n"
              "    sys.argv = argv\n    try:\n        main()\n    except SystemExit as e:\n        assert not e.code, e.code\n"
              "print('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", script, str(dcn)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False" and "checkerboard-groups-64-128@1" in r.stdout


def test_a_reader_that_stops_early_gets_no_error_message(sample_png, tmp_path):
    """`dcn info x.dcn | head -2`: the pipe closes before everything is written; that is the
    reader's choice, not a fault: no message, no traceback (exit status 1, as Python's)."""
    dcn = tmp_path / "s.dcn"
    assert run_cli("dcn", "encode", sample_png, dcn).returncode == 0
    read, write = os.pipe()
    os.close(read)
    r = subprocess.run([str(Path(sys.executable).parent / "dcn"), "info", str(dcn)], stdout=write,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write)
    assert r.returncode == 1 and r.stderr == ""


def test_stdin_and_stdout_with_dash(sample_png, tmp_path):
    """`-` is stdin or stdout, as for cwebp/dwebp and djxl: never a file named `-`."""
    exe = Path(sys.executable).parent / "dcn"
    enc = subprocess.run([str(exe), "encode", "-", "-", "-q", "3"], input=sample_png.read_bytes(),
                         capture_output=True, cwd=tmp_path, timeout=300)
    assert enc.returncode == 0 and enc.stdout[:3] == b"DCN", enc.stderr
    assert enc.stdout == codec_encode(sample_png, 3)  # the same file as from a path
    dec = subprocess.run([str(exe), "decode", "-", "-"], input=enc.stdout, capture_output=True, cwd=tmp_path,
                         timeout=300)
    assert dec.returncode == 0 and dec.stdout[:8] == b"\x89PNG\r\n\x1a\n"
    jpeg = subprocess.run([str(exe), "decode", "-", "-", "--format", "jpeg"], input=enc.stdout,
                          capture_output=True, cwd=tmp_path, timeout=300)
    assert jpeg.returncode == 0 and jpeg.stdout[:2] == b"\xff\xd8"
    # the target report goes to stderr when stdout carries the file
    sized = subprocess.run([str(exe), "encode", sample_png, "-", "--target-size", "5KB"], capture_output=True,
                           cwd=tmp_path, timeout=300)
    assert sized.stdout[:3] == b"DCN" and b"bytes" in sized.stderr
    empty = subprocess.run([str(exe), "decode", "-", "x.png"], input=b"", capture_output=True, cwd=tmp_path)
    assert empty.returncode == 1 and b"nothing on standard input" in empty.stderr
    assert not (tmp_path / "-").exists() and not (tmp_path / "x.png").exists()


def codec_encode(path, quality):
    import codec
    return codec.encode(path, quality=quality)


def test_jpeg_quality_and_quiet(sample_png, tmp_path):
    dcn = tmp_path / "s.dcn"
    r = run_cli("dcn", "encode", sample_png, dcn, "--target-size", "5KB", "--quiet")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "" and dcn.stat().st_size <= 5000
    sizes = {}
    for q in ("40", "95"):
        out = tmp_path / f"q{q}.jpg"
        assert run_cli("dcn", "decode", dcn, out, "--jpeg-quality", q).returncode == 0
        sizes[q] = out.stat().st_size
    assert sizes["40"] < 0.6 * sizes["95"]
    default = tmp_path / "default.jpg"
    assert run_cli("dcn", "decode", dcn, default).returncode == 0
    assert default.stat().st_size == sizes["95"]  # the documented default


def test_verbose_reports_one_line_and_quiet_wins(sample_png, tmp_path):
    dcn = tmp_path / "v.dcn"
    r = run_cli("dcn", "encode", sample_png, dcn, "-q", "3", "-v")
    assert r.returncode == 0 and r.stdout == ""
    line = r.stderr.strip()
    assert "\n" not in line and f"{dcn.stat().st_size} bytes" in line and "quality 3" in line
    from codec.models.registry import default_model
    assert "96x80 RGB" in line and "effort 0" in line and f"model {default_model().id}," in line
    r = run_cli("dcn", "decode", dcn, tmp_path / "v.png", "--verbose")
    assert r.returncode == 0 and f"{dcn.stat().st_size} bytes" in r.stderr and len(r.stderr.splitlines()) == 1
    r = run_cli("dcn", "decode", dcn, tmp_path / "q.png", "-v", "--quiet")
    assert r.returncode == 0 and r.stderr == ""


def test_png_compress_level(tmp_path, sample_png):
    """--png-compress sets the zlib level of the PNG written, on decode and batch: the
    pixels are the same, the bytes smaller at 9 than at 0; out of range is refused."""
    src = tmp_path / "src"
    src.mkdir()
    sample_dcn = src / "a.dcn"
    assert run_cli("dcn", "encode", sample_png, sample_dcn).returncode == 0
    sizes = {}
    for level in (0, 9):
        out = tmp_path / f"l{level}.png"
        r = run_cli("dcn", "decode", sample_dcn, out, "--png-compress", level)
        assert r.returncode == 0, r.stderr
        sizes[level] = out.stat().st_size
    assert sizes[9] < sizes[0] * 0.9
    assert np.array_equal(np.asarray(Image.open(tmp_path / "l0.png")), np.asarray(Image.open(tmp_path / "l9.png")))
    r = run_cli("dcn", "batch", src, tmp_path / "dst", "--to", "png", "--png-compress", 0)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dst" / "a.png").stat().st_size == sizes[0]
    r = run_cli("dcn", "decode", sample_dcn, tmp_path / "x.png", "--png-compress", 10)
    assert r.returncode != 0 and not (tmp_path / "x.png").exists()

