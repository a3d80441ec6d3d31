"""Robust per-volume intensity normalisation, so raw float, 8-bit and 16-bit data all work."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["IDENTITY", "Normalization", "fit_normalization"]

#: Voxels sampled to estimate percentiles of a large volume (exact below this size).
_SAMPLE_VOXELS = 2_000_000


@dataclass(frozen=True)
class Normalization:
    """Maps intensity ``low`` to 0 and ``high`` to 1 (values outside are kept, not clipped)."""

    low: float
    high: float

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Return ``values`` as float32 in the normalised scale."""
        scale = self.high - self.low
        scale = scale if scale > 0 else 1.0
        out = np.asarray(values, dtype=np.float32) - np.float32(self.low)
        out *= np.float32(1.0 / scale)
        # NaN/inf (e.g. masked regions of a reconstruction) would poison the whole window.
        return np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)

    def to_json(self) -> dict:
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, data: dict) -> Normalization:
        return cls(low=float(data["low"]), high=float(data["high"]))


IDENTITY = Normalization(0.0, 1.0)


def fit_normalization(
    volume,
    *,
    method: str = "percentile",
    percentiles: tuple[float, float] = (0.5, 99.5),
    seed: int = 0,
) -> Normalization:
    """Estimate the normalisation of one volume.

    Parameters
    ----------
    volume : array-like (z, y, x)
        numpy, zarr or dask array of any real dtype. Large volumes are sampled on a regular
        sub-grid of slices and voxels, so this never loads the whole volume.
    method : {"percentile", "none"}
        ``none`` returns the identity.
    percentiles : (float, float)
        Percentiles mapped to 0 and 1.
    seed : int
        Seed of the voxel sample for large volumes.

    Returns
    -------
    Normalization
    """
    if method == "none":
        return IDENTITY
    shape = tuple(volume.shape)
    size = int(np.prod(shape))
    if size <= _SAMPLE_VOXELS:
        sample = np.asarray(volume[...], dtype=np.float64).ravel()
    else:
        # A slice stride keeps the read to a bounded number of slices; a random subset of
        # their voxels keeps memory bounded for huge slices.
        slice_voxels = int(np.prod(shape[1:]))
        n_slices = max(1, min(shape[0], _SAMPLE_VOXELS // max(slice_voxels, 1) + 1, 64))
        zs = np.unique(np.linspace(0, shape[0] - 1, n_slices).round().astype(int))
        rng = np.random.default_rng(seed)
        per_slice = max(1, _SAMPLE_VOXELS // len(zs))
        parts = []
        for z in zs:
            plane = np.asarray(volume[int(z)], dtype=np.float64).ravel()
            if plane.size > per_slice:
                plane = rng.choice(plane, per_slice, replace=False)
            parts.append(plane)
        sample = np.concatenate(parts)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return IDENTITY
    low, high = np.percentile(sample, percentiles)
    if not high > low:
        low, high = float(sample.min()), float(sample.max())
        if not high > low:
            high = low + 1.0
    return Normalization(float(low), float(high))
