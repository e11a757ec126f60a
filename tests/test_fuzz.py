"""A seeded, bounded run of the decoder fuzzer (tests/fuzz_decoder.py runs the long one)."""
from fuzz_decoder import fuzz


def test_fuzzed_files_end_cleanly():
    outcomes = fuzz(600, seed=0)
    assert sum(v for k, v in outcomes.items() if k != "peak memory growth MB") == 600
    assert any(k.startswith("DCNError") for k in outcomes)
