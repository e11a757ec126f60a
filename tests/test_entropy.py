"""Entropy coding: exact round trips whatever the values, tables well formed."""
import numpy as np
import pytest

from codec.entropy import ans as entropy, tables
from codec.errors import DCNError
from conftest import hyperprior_part


SPEC = tables.ScaleSpec()  # model 1's scale grid


@pytest.fixture  # per test (0.1 s): mutmut credits a module fixture's calls to its first test only
def gauss():
    t = tables.gaussian_tables(SPEC)
    t.validate()
    return t


def test_scale_tables_cover_the_scale_range(gauss):
    assert len(gauss) == SPEC.count
    assert np.all(np.diff(SPEC.thresholds()) > 0)


def test_every_model_ships_the_tables_of_its_scale_grid(gauss):
    """The y tables in each released decoder are the ones its scale spec describes."""
    from codec.models.registry import registry
    from codec.models.weights import load_decoder
    for model in registry():
        hyper = hyperprior_part(load_decoder(model).latent)
        shipped = hyper.y_tables
        assert np.array_equal(shipped.counts, gauss.counts) and np.array_equal(shipped.lows, gauss.lows), model.id
        assert np.array_equal(hyper.scale_net.thresholds.numpy(), SPEC.thresholds())


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_with_escapes(gauss, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(gauss), (16, 9, 11))
    values = np.round(rng.normal(0, SPEC.scales()[idx] * rng.choice([1, 20], idx.shape))).astype(np.int64)
    values.flat[rng.integers(0, values.size, 30)] = rng.integers(-entropy.MAX_ABS, entropy.MAX_ABS + 1, 30)
    values.flat[0], values.flat[1] = entropy.MAX_ABS, -entropy.MAX_ABS
    data = entropy.encode(values, idx, gauss)
    assert np.array_equal(entropy.decode(data, idx, gauss), values)


def test_values_beyond_the_limit_are_clamped(gauss):
    idx = np.zeros(3, dtype=np.int64)
    values = np.array([10 ** 9, -10 ** 9, 5])
    out = entropy.decode(entropy.encode(values, idx, gauss), idx, gauss)
    assert out.tolist() == [entropy.MAX_ABS, -entropy.MAX_ABS, 5]


def test_rate_follows_the_model(gauss):
    """Values drawn from the table's own Gaussian cost about their entropy."""
    rng = np.random.default_rng(1)
    k = 40
    s = SPEC.scales()[k]
    values = np.round(rng.normal(0, s, 20000)).astype(np.int64)
    bits = 8 * len(entropy.encode(values, np.full(values.shape, k), gauss))
    p = gauss.table(k)[:-1] / 2 ** tables.PRECISION
    low = gauss.lows[k]
    ideal = -np.log2(p[values - low]).sum()
    assert bits < ideal * 1.01 + 64


def test_bad_lengths_are_reported(gauss):
    with pytest.raises(DCNError):
        entropy.decode(b"abc", np.zeros(4, dtype=np.int64), gauss)


def test_quantized_pmf_is_normalized():
    counts = tables.quantize_pmf(np.array([0.5, 1e-12, 0.25, 0.25, 0.0]))
    assert counts.sum() == 2 ** tables.PRECISION and counts.min() >= 1


def test_quantized_pmf_counts_exactly():
    """Counts of (total - entries) * p rounded, at least 1, the remainder to the largest."""
    pmf = np.array([0.25, 0.5, 0.25, 0.0])  # 65532 * p = 16383, 32766, 16383, 0 (raised to 1)
    expected = [16383, 32766 + 3, 16383, 1]
    for scale in (1.0, 3.0, 0.5):  # any total mass: normalized first
        counts = tables.quantize_pmf(pmf * scale)
        assert counts.tolist() == expected and counts.dtype == np.int64
    assert tables.quantize_pmf(np.array([-0.5, 1.0])).tolist() == [1, 2 ** tables.PRECISION - 1]  # negatives: 0
    with pytest.raises(ValueError, match="^table too long for the coder's precision$"):
        tables.quantize_pmf(np.full(2 ** tables.PRECISION + 1, 1.0))


def test_table_sets_keep_their_types_and_survive_a_weights_file():
    t = tables.TableSet.from_pmfs([np.array([0.5, 0.5]), np.array([0.2, 0.3, 0.5])], [-1, 4])
    assert (t.counts.dtype, t.offsets.dtype, t.lows.dtype) == (np.int32, np.int64, np.int64)
    assert t.offsets.tolist() == [0, 2, 5] and t.lows.tolist() == [-1, 4] and t.lengths.tolist() == [2, 3]
    back = tables.TableSet.from_tensors(t.tensors("y"), "y")
    assert all(np.array_equal(getattr(back, k), getattr(t, k)) for k in ("counts", "offsets", "lows"))
    spec = tables.ScaleSpec(min=0.2, max=100.0, count=32, frac_bits=10, tail_mass=1e-7)
    assert tables.ScaleSpec.from_json(spec.to_json()) == spec and tables.ScaleSpec.from_json(None) == SPEC


def _table_set(counts, offsets, lows):
    return tables.TableSet(np.array(counts, np.int32), np.array(offsets, np.int64), np.array(lows, np.int64))


FULL = 2 ** tables.PRECISION


@pytest.mark.parametrize("counts, offsets, lows, message", [
    ([FULL - 1, 1], [0, 2], [0, 1], "malformed table set"),  # one low too many
    ([FULL - 1, 1, 5], [1, 3], [0], "malformed table set"),  # not starting at 0
    ([FULL - 1, 1, 5], [0, 2], [0], "malformed table set"),  # counts left over
    ([FULL - 1, 1, FULL], [0, 2, 3], [0, 0], "malformed table set"),  # a table of one entry: no room for a value
    ([FULL, 0], [0, 2], [0], "table 0 is not normalized"),  # a zero count
    ([FULL - 1, 1, FULL - 2, 1], [0, 2, 4], [0, 0], "table 1 is not normalized"),  # not summing to 2**16
])
def test_malformed_table_sets_are_refused(counts, offsets, lows, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        _table_set(counts, offsets, lows).validate()


def test_the_smallest_table_sets_are_valid():
    _table_set([FULL - 1, 1], [0, 2], [0]).validate()  # one value and the escape
    _table_set([FULL - 1, 1, FULL - 2, 2], [0, 2, 4], [0, -3]).validate()


def test_parts_of_one_stream_come_out_in_order(gauss):
    """encode_parts: several arrays in one stream, each taken out with its own tables; the
    single-part stream is byte-identical to encode's (model 1's files do not change)."""
    rng = np.random.default_rng(5)
    parts = [(rng.integers(-40, 40, n), rng.integers(0, len(gauss), n), gauss) for n in (7, 300, 0, 51)]
    reader = entropy.Reader(entropy.encode_parts(*parts))
    for values, idx, _ in parts:
        assert np.array_equal(reader.decode(idx, gauss), values)
    reader.finish()
    assert entropy.encode_parts(parts[1]) == entropy.encode(*parts[1])
    short = entropy.Reader(entropy.encode_parts(*parts))
    short.decode(parts[0][1], gauss)
    with pytest.raises(DCNError, match="trailing data"):  # parts left unread
        short.finish()


def test_escapes_beyond_the_limit_are_refused(gauss):
    """The escape code can express up to 2**21; a file that uses it beyond MAX_ABS is corrupt
    (it used to decode to NaN pixels, cast to a black image)."""
    import constriction
    k, n = 0, len(gauss.table(0))
    low = int(gauss.lows[k])
    for excess, ok in ((entropy.MAX_ABS - (low + n - 1), True), (entropy.MAX_ABS - (low + n - 1) + 1, False),
                       ((1 << 21) - 1, False)):
        bits = excess.bit_length()
        coder = constriction.stream.stack.AnsCoder()
        uniform = constriction.stream.model.Uniform()
        if bits >= 2:
            coder.encode_reverse(np.array([excess - (1 << (bits - 1))], np.int32), uniform,
                                 np.array([1 << (bits - 1)], np.int32))
        coder.encode_reverse(np.array([bits], np.int32), uniform, np.array([entropy.ESCAPE_LENGTHS], np.int32))
        coder.encode_reverse(np.array([1], np.int32), uniform, np.array([2], np.int32))  # side: above
        coder.encode_reverse(np.array([n - 1], np.int32), gauss.models[k])
        data = coder.get_compressed().tobytes()
        if ok:
            assert entropy.decode(data, np.zeros(1, np.int64), gauss).tolist() == [entropy.MAX_ABS]
        else:
            with pytest.raises(DCNError, match="exceeds"):
                entropy.decode(data, np.zeros(1, np.int64), gauss)


def test_decoded_values_are_int32_in_the_encoders_shape(gauss):
    rng = np.random.default_rng(9)
    idx = rng.integers(0, len(gauss), (3, 4, 5))
    values = rng.integers(-3000, 3000, idx.shape)  # escapes on every small table
    out = entropy.decode(entropy.encode(values, idx, gauss), idx, gauss)
    assert out.dtype == np.int32 and out.shape == idx.shape and np.array_equal(out, values)
    empty = np.zeros((0, 7), np.int64)
    out = entropy.decode(entropy.encode(empty, empty, gauss), empty, gauss)
    assert out.dtype == np.int32 and out.shape == (0, 7)


def test_corrupt_streams_are_named_in_one_line(gauss):
    idx = np.zeros(5, np.int64)
    data = entropy.encode(np.arange(5), idx, gauss)
    for bad, message in ((data[:-1], "corrupt file: entropy-coded section length is not a multiple of 4"),
                         (data + b"\0\0\0\1", "corrupt file: entropy-coded section has trailing data")):
        with pytest.raises(DCNError) as e:
            reader = entropy.Reader(bad)
            reader.decode(idx, gauss)
            reader.finish()
        assert str(e.value) == message
    with pytest.raises(DCNError) as e:
        entropy.Reader(b"\0\0\0\0")  # a zero last word: constriction refuses the stream
    assert str(e.value) == ("corrupt file: entropy decoding failed (Invalid compressed data: ANS compressed data "
                            "never ends in a zero word.)")


def test_groups_keep_position_order_within_a_table_and_count_every_table(gauss):
    """The coding order is part of the format: positions grouped by table in table order,
    each group in position order (a stable sort; numpy's default sort is not stable on
    int64 keys with many ties), with a count for every table, used or not."""
    rng = np.random.default_rng(5)
    index = rng.integers(0, 3, (64, 40)).astype(np.int64)
    order, counts = entropy._groups(index, gauss)
    assert np.array_equal(order, np.lexsort((np.arange(index.size), index.reshape(-1))))
    assert len(counts) == len(gauss) and counts[:3].sum() == index.size and not counts[3:].any()
