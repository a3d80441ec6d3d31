"""Build the MONAI network a :class:`ModelConfig` describes."""

from __future__ import annotations

import torch
from monai.networks.nets import BasicUNet, UNet

from napari_cathode.ml.config import ModelConfig

__all__ = ["build_network"]


def build_network(config: ModelConfig) -> torch.nn.Module:
    """Return an untrained network with ``config.in_channels`` inputs and one logit per class.

    Weights are initialised from ``config.seed`` so two builds with the same seed are equal.
    """
    torch.manual_seed(config.seed)
    if config.architecture == "unet":
        return UNet(
            spatial_dims=config.spatial_dims,
            in_channels=config.in_channels,
            out_channels=config.num_classes,
            channels=config.channels,
            strides=(2,) * (len(config.channels) - 1),
            num_res_units=config.residual_units,
            norm="batch",
        )
    return BasicUNet(
        spatial_dims=config.spatial_dims,
        in_channels=config.in_channels,
        out_channels=config.num_classes,
        features=config.channels,
    )
