"""The Python API and the Pillow plugin take what users pass, and refuse the rest clearly."""
import io

import numpy as np
import pytest

import codec
from codec.errors import DCNError
from conftest import make_image, run_cli


@pytest.fixture(scope="module")
def image():
    return make_image(80, 48, seed=4)


def test_encode_takes_paths_bytes_files_images_and_arrays(image, tmp_path):
    path = tmp_path / "in.png"
    image.save(path)
    expected = codec.encode(image, 4.0)
    assert codec.encode(str(path), 4.0) == expected
    assert codec.encode(path, 4.0) == expected
    assert codec.encode(path.read_bytes(), 4.0) == expected
    with open(path, "rb") as f:
        assert codec.encode(f, 4.0) == expected
    assert codec.encode(np.asarray(image), 4.0) == expected
    grey = np.asarray(image.convert("L"))
    assert codec.decode(codec.encode(grey, 4.0)).mode == "L"
    rgba = np.dstack([np.asarray(image), np.full(grey.shape, 200, np.uint8)])
    assert codec.decode(codec.encode(rgba, 4.0)).mode == "RGBA"


@pytest.mark.parametrize("bad, message", [
    (12345, "takes a path"),
    (np.zeros((8, 8, 3), np.float32), "must be uint8"),
    (np.zeros((8, 8, 2), np.uint8), "H x W x 3"),
])
def test_encode_refuses_other_types_with_a_type_error(bad, message):
    with pytest.raises(TypeError, match=message):
        codec.encode(bad, 4.0)


def test_array_and_path_like_inputs(tmp_path):
    import os
    from codec.image.io import image_source
    grey = np.asarray(make_image(40, 30, mode="L"))
    assert np.array_equal(np.asarray(image_source(grey[:, :, None])), grey)  # H x W x 1 is grey
    with pytest.raises(TypeError) as e:
        image_source(np.zeros((8, 6, 2), np.uint8))
    assert str(e.value) == "a NumPy image must be uint8, H x W, H x W x 3 or H x W x 4; got uint8 8 x 6 x 2"

    class Where(os.PathLike):
        def __fspath__(self):
            return str(tmp_path / "x.png")

    assert image_source(Where()) == tmp_path / "x.png"
    with pytest.raises(TypeError) as e:
        image_source(3.5)
    assert str(e.value).endswith("a PIL image or a uint8 NumPy array, not float")


def test_decode_takes_bytes_paths_and_files(image, tmp_path):
    data = codec.encode(image, 4.0)
    path = tmp_path / "x.dcn"
    path.write_bytes(data)
    expected = np.asarray(codec.decode(data))
    for source in (bytearray(data), str(path), path, io.BytesIO(data)):
        assert np.array_equal(np.asarray(codec.decode(source)), expected), type(source)
    with pytest.raises(TypeError, match="bytes of a .dcn file"):
        codec.decode(3.5)
    with pytest.raises(DCNError, match="no such file"):
        codec.decode(tmp_path / "missing.dcn")


def test_a_quality_with_a_target_is_refused(image, sample_png, tmp_path):
    with pytest.raises(DCNError, match="not both"):
        codec.encode(image, 4.0, target_size=2000)
    r = run_cli("dcn", "encode", sample_png, tmp_path / "x.dcn", "-q", "4", "--target-size", "2KB")
    assert r.returncode == 1 and "not both" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "x.dcn").exists()
    r = run_cli("dcn", "encode", sample_png, tmp_path / "x.dcn", "--target-size", "2KB", "--target-psnr", "30")
    assert r.returncode == 1 and "one target" in r.stderr
    r = run_cli("dcn", "batch", tmp_path, tmp_path / "out", "-q", "4", "--target-bpp", "0.5")
    assert r.returncode == 1 and "not both" in r.stderr


def test_pillow_save_honours_targets_and_states_the_quality_range(image):
    buf = io.BytesIO()
    image.save(buf, format="DCN", target_size=1500)
    assert 0.99 * 1500 <= len(buf.getvalue()) <= 1500
    assert buf.getvalue() == codec.encode(image, target_size=1500)
    with pytest.raises(DCNError, match="quality must be between 1 and 12"):
        image.save(io.BytesIO(), format="DCN", quality=75)  # JPEG's scale is not DCN's
