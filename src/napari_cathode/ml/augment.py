"""Random training augmentation with MONAI dictionary transforms (seeded)."""

from __future__ import annotations

import numpy as np
import torch
from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandFlipd,
    RandGaussianNoised,
    RandHistogramShiftd,
    RandRotate90d,
    RandScaleIntensityd,
    RandShiftIntensityd,
)

from napari_cathode.ml.config import ModelConfig

__all__ = ["Augmenter"]


class Augmenter:
    """Flips, 90° in-plane rotations, intensity scale/shift, gamma and Gaussian noise.

    Geometric transforms move image and truth together; intensity transforms touch the
    image only. ``__call__`` takes and returns a numpy batch ``(B, C, *P)`` / ``(B, *P)``.
    """

    def __init__(self, config: ModelConfig, *, seed: int = 0) -> None:
        keys = ("image", "truth")
        dims = config.spatial_dims
        transforms = [RandFlipd(keys, prob=0.5, spatial_axis=axis) for axis in range(dims)]
        plane = (dims - 2, dims - 1)
        if config.patch_size[plane[0]] == config.patch_size[plane[1]]:
            transforms.append(RandRotate90d(keys, prob=0.5, max_k=3, spatial_axes=plane))
        jitter = config.intensity_jitter
        if jitter > 0:
            transforms += [
                RandScaleIntensityd("image", factors=0.15 * jitter, prob=0.5),
                RandShiftIntensityd("image", offsets=0.1 * jitter, prob=0.5),
                RandAdjustContrastd(
                    "image", gamma=(0.7 ** min(jitter, 2.0), 1.5 ** min(jitter, 2.0)), prob=0.3
                ),
                RandGaussianNoised("image", std=0.03 * jitter, prob=0.3),
            ]
        if config.histogram_warp > 0:
            transforms.insert(
                len(transforms) - (1 if jitter > 0 else 0),
                RandHistogramShiftd("image", num_control_points=(4, 8), prob=config.histogram_warp),
            )
        self.transform = Compose(transforms).set_random_state(seed=seed)

    def __call__(self, images: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out_images, out_truth = [], []
        for image, labels in zip(images, truth):
            item = self.transform(
                {"image": torch.from_numpy(image), "truth": torch.from_numpy(labels[None])}
            )
            out_images.append(np.asarray(item["image"]))
            out_truth.append(np.asarray(item["truth"])[0])
        return np.stack(out_images).astype(np.float32), np.stack(out_truth).astype(np.int64)
