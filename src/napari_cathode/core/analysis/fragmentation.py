"""Cracks and internal pores of particles: holes inside each particle's envelope.

A particle's *envelope* is the particle with its enclosed holes filled
(:func:`scipy.ndimage.binary_fill_holes`) and, with ``closing_radius > 0``, also its surface-open
cracks narrower than about twice that radius closed first (:func:`scipy.ndimage.binary_closing`
with a ball). Crack voxels are envelope voxels that are not active material and belong to no
other particle. A particle is *cracked* when it holds at least ``min_crack_voxels`` of them.

Works particle by particle on its bounding box, so memory is that of the instance volume.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.morphology import ball

from napari_cathode.core.errors import CathodeError

__all__ = ["CRACK_COLUMNS", "crack_labels", "cracked_fraction", "measure_cracks"]

#: Columns of the per-particle crack table.
CRACK_COLUMNS: tuple[str, ...] = (
    "particle",
    "solid_volume",
    "crack_volume",
    "crack_fraction",
    "cracked",
)


def crack_labels(
    instances: np.ndarray,
    solid: np.ndarray,
    *,
    closing_radius: int = 0,
) -> np.ndarray:
    """Crack voxels of each particle, labelled with the particle's id.

    Parameters
    ----------
    instances : numpy.ndarray of int, (z, y, x)
        Particle instances (0 = none), e.g. from
        :func:`~napari_cathode.core.analysis.particles.separate_particles`.
    solid : numpy.ndarray of bool, (z, y, x)
        True where the voxel is active material.
    closing_radius : int
        Radius in voxels of the ball that closes surface-open cracks before filling; 0 counts
        only fully enclosed holes.

    Returns
    -------
    numpy.ndarray of int32
        Particle id at its crack voxels, 0 elsewhere; a labels layer a user can inspect.

    Examples
    --------
    >>> import numpy as np
    >>> cube = np.zeros((7, 7, 7), np.int32); cube[1:6, 1:6, 1:6] = 1; cube[3, 3, 3] = 0
    >>> int(crack_labels(cube, cube > 0).sum())
    1
    """
    instances = np.asarray(instances)
    solid = np.asarray(solid, dtype=bool)
    if instances.shape != solid.shape:
        raise CathodeError(
            f"particle instances {instances.shape} and active-material mask {solid.shape} "
            "must have the same shape"
        )
    if closing_radius < 0:
        raise CathodeError(f"closing_radius must be >= 0 voxels, got {closing_radius}")
    cracks = np.zeros(instances.shape, dtype=np.int32)
    free = ~solid & (instances == 0)
    pad = closing_radius + 1
    footprint = ball(closing_radius) if closing_radius else None
    for index, box in enumerate(ndi.find_objects(instances)):
        if box is None:
            continue
        particle_id = index + 1
        # grow the box so the closing has room; pad outside the volume with "not particle"
        grown = tuple(
            slice(max(0, s.start - pad), min(n, s.stop + pad)) for s, n in zip(box, instances.shape)
        )
        particle = np.pad(instances[grown] == particle_id, pad)
        if footprint is not None:
            particle = ndi.binary_closing(particle, structure=footprint)
        envelope = ndi.binary_fill_holes(particle)[(slice(pad, -pad),) * 3]
        holes = envelope & free[grown] & (cracks[grown] == 0)
        cracks[grown][holes] = particle_id
    return cracks


def measure_cracks(
    instances: np.ndarray,
    cracks: np.ndarray,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    min_crack_voxels: int = 1,
) -> pd.DataFrame:
    """Solid and crack volume of each particle.

    Parameters
    ----------
    instances : numpy.ndarray of int
        Particle instances (solid voxels only).
    cracks : numpy.ndarray of int
        Output of :func:`crack_labels`.
    voxel_size : sequence of float
        (z, y, x) voxel size.
    min_crack_voxels : int
        A particle with at least this many crack voxels counts as cracked.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`CRACK_COLUMNS`; ``crack_fraction`` = crack / (solid + crack) volume.
    """
    n = int(max(np.max(instances, initial=0), np.max(cracks, initial=0)))
    solid = np.bincount(np.asarray(instances).ravel(), minlength=n + 1)[1:]
    crack = np.bincount(np.asarray(cracks).ravel(), minlength=n + 1)[1:]
    present = np.flatnonzero(solid > 0)
    voxel_volume = float(np.prod([float(v) for v in voxel_size]))
    solid, crack = solid[present], crack[present]
    return pd.DataFrame(
        {
            "particle": present + 1,
            "solid_volume": solid * voxel_volume,
            "crack_volume": crack * voxel_volume,
            "crack_fraction": crack / (solid + crack),
            "cracked": crack >= max(1, int(min_crack_voxels)),
        }
    )


def cracked_fraction(crack_table: pd.DataFrame) -> float | None:
    """Fraction of particles that are cracked (``None`` when there is no particle)."""
    if len(crack_table) == 0:
        return None
    return float(np.mean(crack_table["cracked"]))
