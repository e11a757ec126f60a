"""Running the big networks within a GPU's memory: the logic, tested on the CPU (a GPU run
is measured when a session is lent one)."""
import pytest
import torch

from codec.errors import DCNError
from codec.pipeline.device import GPU_BLOCK, MIN_GPU_BLOCK, within_memory


def _fits_below(limit: int, calls: list):
    def run(block: int) -> int:
        calls.append(block)
        if block > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return block
    return run


def test_blocks_halve_until_they_fit():
    calls = []
    with pytest.warns(UserWarning, match="out of GPU memory: retrying in blocks of 512 px"):
        assert within_memory(_fits_below(600, calls), torch.device("cuda")) == 512
    assert calls == [GPU_BLOCK, GPU_BLOCK // 2, GPU_BLOCK // 4]


def test_a_gpu_too_small_for_any_block_is_a_one_line_error():
    calls = []
    with pytest.warns(UserWarning), pytest.raises(DCNError, match="use --device cpu"):
        within_memory(_fits_below(100, calls), torch.device("cuda"))
    assert calls[-1] == MIN_GPU_BLOCK


def test_the_cpu_runs_once_and_never_hides_an_error():
    calls = []
    assert within_memory(_fits_below(10 ** 6, calls), torch.device("cpu"), 256) == 256 and calls == [256]
    with pytest.raises(torch.cuda.OutOfMemoryError):
        within_memory(_fits_below(0, []), torch.device("cpu"), 256)
