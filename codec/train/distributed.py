"""DistributedDataParallel setup under torchrun: gloo on CPUs, NCCL on GPUs."""
import os

import torch
import torch.distributed as dist


def start() -> tuple[int, int]:
    """(rank, world size); (0, 1) when not launched by torchrun."""
    if "RANK" not in os.environ:
        return 0, 1
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def all_reduce_sum(value: float, device: torch.device) -> float:
    """The sum over the processes (NCCL reduces only tensors on the GPU)."""
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t)


def finish(world: int) -> None:
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
