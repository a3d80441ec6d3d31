"""z-context for contiguous volumes: the 2.5D default, and a 2D model warm-starting a 2.5D one.

When a project's slices are contiguous (``project.json`` ``contiguous: true``, see
:mod:`napari_cathode.core.project.contiguity`), a round trains a 2.5D model: each slice goes in with
its ``CONTIGUOUS_CONTEXT - 1`` neighbours as extra input channels, which lets the network see what
one slice cannot show (FIB-SEM pore shine-through, a particle that ends just above).

A 2D model (the shipped starter, or a round of a project made before) still warm-starts such a
round: its first convolution(s) — every weight that reads the network input — are *inflated*,
the 2D kernel spread over the context channels with centre-weighted (triangular) weights that
sum to 1. The inflated network computes exactly the 2D network's output when the neighbouring
slices equal the centre one, and nearly the same on a real contiguous volume (whose neighbours
differ a little), so a round starts from what the 2D model knew and learns to use the context.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from napari_cathode.core.errors import ModelError
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.networks import build_network

__all__ = [
    "CONTIGUOUS_CONTEXT",
    "context_weights",
    "inflate_network",
    "needs_inflation",
    "project_model_config",
]

log = logging.getLogger(__name__)

#: Context slices of the default model of a contiguous project (the slice and one each side).
CONTIGUOUS_CONTEXT = 3


def project_model_config(config: ModelConfig, contiguous: bool | None) -> ModelConfig:
    """``config`` with the project's default z-context.

    A contiguous project gets a 2.5D model (``context_slices = CONTIGUOUS_CONTEXT``) unless the
    config already asks for context or a 3D model; separate or unknown slices keep ``config``.
    """
    if contiguous and config.spatial_dims == 2 and config.context_slices == 1:
        return config.replace(context_slices=CONTIGUOUS_CONTEXT)
    return config


def context_weights(context_slices: int) -> np.ndarray:
    """Centre-weighted (triangular) weights of the context slices, summing to 1.

    >>> context_weights(3).tolist()
    [0.25, 0.5, 0.25]
    """
    half = context_slices // 2
    weights = half + 1 - np.abs(np.arange(-half, half + 1))
    return weights / weights.sum()


def needs_inflation(model_config: ModelConfig, wanted: ModelConfig) -> bool:
    """Whether a round wanting ``wanted`` must inflate a warm-start model of ``model_config``."""
    return (
        model_config.spatial_dims == 2
        and wanted.spatial_dims == 2
        and model_config.context_slices == 1
        and wanted.context_slices > 1
    )


def inflate_network(
    network: torch.nn.Module, config: ModelConfig, context_slices: int
) -> tuple[ModelConfig, torch.nn.Module]:
    """A 2.5D copy of a 2D ``network`` (see the module docstring).

    Parameters
    ----------
    network : torch.nn.Module
        The 2D network (``config.context_slices == 1``); it is not changed.
    config : ModelConfig
        Its config.
    context_slices : int
        Odd number of context slices of the new network.

    Returns
    -------
    (ModelConfig, torch.nn.Module)
        The 2.5D config (the 2D one with ``context_slices``) and its network.

    Raises
    ------
    ModelError
        If the network is not 2D without context.
    """
    wanted = config.replace(context_slices=context_slices)
    if not needs_inflation(config, wanted):
        raise ModelError(
            f"only a 2D model without context can be inflated to {context_slices} context "
            f"slices (this one: spatial_dims {config.spatial_dims}, "
            f"context_slices {config.context_slices})"
        )
    inflated = build_network(wanted)
    old_state = network.state_dict()
    new_state = inflated.state_dict()
    weights = torch.as_tensor(context_weights(context_slices), dtype=torch.float32)
    per_plane = config.in_channels
    changed = []
    for name, old in old_state.items():
        new = new_state[name]
        if new.shape == old.shape:
            new_state[name] = old.clone()
            continue
        # a convolution reading the input: in-channels are (context slice, plane channel)
        if new.ndim < 3 or new.shape[1] != per_plane * context_slices or old.shape[1] != per_plane:
            raise ModelError(
                f"cannot inflate {name}: shapes {tuple(old.shape)} -> {tuple(new.shape)}"
            )
        new_state[name] = torch.cat([w * old for w in weights.to(old.dtype)], dim=1)
        changed.append(name)
    inflated.load_state_dict(new_state)
    log.info("inflated %s to %d context slices", ", ".join(changed), context_slices)
    return wanted, inflated
