"""Choose the torch device: ``auto`` takes CUDA when present, and says which it took."""

from __future__ import annotations

import logging

import torch

from napari_cathode.core.errors import ModelError

__all__ = ["describe_device", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ModelError
        If ``"cuda"`` is asked for on a machine without a CUDA GPU.
    """
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif name == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(
                "--device cuda was asked for but torch sees no CUDA GPU; use auto or cpu"
            )
        device = torch.device("cuda")
    elif name == "cpu":
        device = torch.device("cpu")
    else:
        raise ModelError(f"device {name!r} is not one of auto, cpu, cuda")
    log.info("using device %s", describe_device(device))
    return device


def describe_device(device: torch.device) -> str:
    """A short human-readable name, e.g. ``"cpu, 2 threads"`` or ``"cuda (NVIDIA H100)"``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu, {threads} thread{'s' if threads != 1 else ''}"
