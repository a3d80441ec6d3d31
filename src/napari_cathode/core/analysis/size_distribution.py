"""Particle size distribution: number- and volume-weighted percentiles of the diameter.

``d10/d50/d90`` are percentiles of the equivalent-sphere diameter over particles (number
weighted, :func:`numpy.percentile` with linear interpolation); ``dv10/dv50/dv90`` weight each
particle by its volume (the diameter below which that fraction of the particle volume lies), as
laser diffraction reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from napari_cathode.core.errors import CathodeError

__all__ = ["SizeDistribution", "size_distribution", "weighted_percentile"]


@dataclass(frozen=True)
class SizeDistribution:
    """Percentiles of the equivalent diameter, in the length unit of the voxel size."""

    count: int
    d10: float | None
    d50: float | None
    d90: float | None
    dv10: float | None
    dv50: float | None
    dv90: float | None
    mean: float | None

    def to_json(self) -> dict:
        """Plain dict for ``summary.json`` (``None`` where there is no particle)."""
        return asdict(self)


def weighted_percentile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The value below which ``q`` percent of the total weight lies (step-wise inverse CDF).

    Written out because ``numpy.percentile(weights=...)`` only exists from numpy 2.0 and the
    project supports numpy 1.26.

    Examples
    --------
    >>> weighted_percentile([1.0, 2.0, 3.0], [1.0, 1.0, 8.0], 50)
    3.0
    """
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if values.size == 0 or values.shape != weights.shape or np.any(weights < 0):
        raise CathodeError("weighted_percentile needs equally long values and weights >= 0")
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    threshold = q / 100.0 * cumulative[-1]
    index = int(np.searchsorted(cumulative, threshold, side="left"))
    return float(values[order][min(index, values.size - 1)])


def size_distribution(
    diameters: Sequence[float], volumes: Sequence[float] | None = None
) -> SizeDistribution:
    """Summarise a set of particle diameters.

    Parameters
    ----------
    diameters : sequence of float
        Equivalent-sphere diameter of each particle.
    volumes : sequence of float, optional
        Volume of each particle for the volume-weighted percentiles; defaults to the sphere
        volume of each diameter.

    Returns
    -------
    SizeDistribution

    Examples
    --------
    >>> size_distribution([2.0, 4.0, 6.0]).d50
    4.0
    """
    diameters = np.asarray(diameters, dtype=float)
    if diameters.size == 0:
        return SizeDistribution(0, None, None, None, None, None, None, None)
    if volumes is None:
        volumes = np.pi / 6.0 * diameters**3
    d10, d50, d90 = (float(v) for v in np.percentile(diameters, [10, 50, 90]))
    dv10, dv50, dv90 = (weighted_percentile(diameters, volumes, q) for q in (10, 50, 90))
    return SizeDistribution(
        count=int(diameters.size),
        d10=d10,
        d50=d50,
        d90=d90,
        dv10=dv10,
        dv50=dv50,
        dv90=dv90,
        mean=float(diameters.mean()),
    )
