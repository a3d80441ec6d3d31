"""Multi-scale input features of a 2D model: extra channels beside the normalised slice.

A plain U-Net sees only grey values and must learn scale-space filters from a few slices; the
ilastik-style random forest, which transfers better across acquisitions, sees Gaussian-smoothed
intensities and edges at sigmas 1..16 of every pixel. Giving the network the same features as
input channels (scikit-image ``multiscale_basic_features``, computed on the *normalised* slice so
they do not depend on the detector's grey scale) gives it that context from the first step.
"""

from __future__ import annotations

import numpy as np
from skimage.feature import multiscale_basic_features

__all__ = ["FEATURE_SETS", "channels_per_plane", "num_scales", "plane_features"]

#: Input feature sets of :class:`~napari_cathode.ml.config.ModelConfig`.
FEATURE_SETS = ("raw", "multiscale", "multiscale_texture")


def num_scales(sigmas: tuple[float, float]) -> int:
    """Number of sigmas scikit-image uses between ``sigmas[0]`` and ``sigmas[1]`` (powers of 2)."""
    low, high = sigmas
    return int(np.floor(np.log2(high) - np.log2(low) + 1.5))


def channels_per_plane(feature_set: str, sigmas: tuple[float, float]) -> int:
    """Input channels one slice contributes: itself plus its multi-scale features."""
    if feature_set == "raw":
        return 1
    per_scale = 2 + (2 if feature_set == "multiscale_texture" else 0)  # intensity, edges, (texture)
    return 1 + per_scale * num_scales(sigmas)


def plane_features(
    planes: np.ndarray, *, feature_set: str, sigmas: tuple[float, float]
) -> np.ndarray:
    """Stack each normalised plane with its features.

    Parameters
    ----------
    planes : ndarray (C, y, x) float32
        Normalised slices (a slice and its context slices).
    feature_set : {"raw", "multiscale", "multiscale_texture"}
        ``raw`` returns ``planes`` unchanged; ``multiscale`` adds Gaussian intensity and
        Sobel edges at each sigma; ``multiscale_texture`` also the Hessian eigenvalues.
    sigmas : (float, float)
        Smallest and largest sigma (pixels).

    Returns
    -------
    ndarray (C * channels_per_plane, y, x) float32
    """
    planes = np.asarray(planes, dtype=np.float32)
    if feature_set == "raw":
        return planes
    out = []
    for plane in planes:
        features = multiscale_basic_features(
            plane,
            intensity=True,
            edges=True,
            texture=feature_set == "multiscale_texture",
            sigma_min=sigmas[0],
            sigma_max=sigmas[1],
            num_sigma=num_scales(sigmas),
        )
        out.append(plane[None])
        out.append(np.moveaxis(features, -1, 0).astype(np.float32, copy=False))
    return np.concatenate(out)
