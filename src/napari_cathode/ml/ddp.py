"""Data-parallel pieces of the training round: process group, devices, collective decisions.

The loop is :func:`napari_cathode.ml.training.train` (one loop for one or many processes, as
MONAI Label's ``train(rank, world_size)``); with ``world_size > 1`` it calls these helpers.
The processes are started, fed and listened to by :mod:`napari_cathode.jobs.distributed_training`.

One process per GPU with NCCL, or CPU processes with gloo (used by the tests; no GPU node has
run the NCCL path in CI).
"""

from __future__ import annotations

import datetime
import hashlib

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from napari_cathode.core.errors import ModelError

__all__ = [
    "COLLECTIVE_TIMEOUT",
    "any_rank",
    "backend_for",
    "join",
    "leave",
    "rank_device",
    "weights_digest",
    "wrap",
]

#: How long a rank waits in a collective: rank 0 validates and writes checkpoints while the
#: others wait in the next step's all-reduce (NCCL's default, 10 minutes, is too short for the
#: validation of a large project).
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=2)


def backend_for(device: str) -> str:
    """NCCL when a round on ``device`` ("auto", "cpu" or "cuda") may and can use GPUs, else gloo.

    Raises
    ------
    ModelError
        If ``device`` is ``cuda`` and torch sees no GPU or has no NCCL.
    """
    if device != "cpu" and torch.cuda.is_available() and dist.is_nccl_available():
        return "nccl"
    if device == "cuda":
        raise ModelError(
            "device cuda was asked for but torch sees no CUDA GPU with NCCL; "
            "use device auto or cpu (gloo)"
        )
    return "gloo"


def join(rank: int, world_size: int, *, port: int, backend: str) -> None:
    """Join the process group of a round on this machine (the launcher's store at ``port``)."""
    if backend == "nccl":
        torch.cuda.set_device(rank)
    store = dist.TCPStore("127.0.0.1", port, world_size + 1, is_master=False)
    dist.init_process_group(
        backend, store=store, rank=rank, world_size=world_size, timeout=COLLECTIVE_TIMEOUT
    )


def leave() -> None:
    """Leave the process group (if this process joined one)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_device(rank: int) -> torch.device:
    """This rank's device: its GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", rank)
    return torch.device("cpu")


def wrap(network: torch.nn.Module, device: torch.device) -> DistributedDataParallel:
    """``network`` under DDP: the backward pass averages the gradients of all ranks."""
    return DistributedDataParallel(
        network, device_ids=[device.index] if device.type == "cuda" else None
    )


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (all ranks take the same decision)."""
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def weights_digest(network: torch.nn.Module) -> str:
    """SHA-256 of a network's trainable parameters, independent of their device and layout.

    Equal on every rank of a data-parallel round after every step: the ranks draw different
    patches, and DDP averages their gradients. Buffers (BatchNorm running statistics) are left
    out: each rank updates them from its own batch, and DDP re-broadcasts rank 0's before every
    forward pass; rank 0's are saved.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(network.named_parameters()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
