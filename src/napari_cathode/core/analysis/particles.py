"""Split touching active-material particles into instances and measure each one.

Separation is the classic distance-transform watershed: the Euclidean distance to the nearest
non-particle voxel has one peak per particle; peaks are the regional maxima that stand at least
``h_max`` above their surroundings (:func:`skimage.morphology.h_maxima`), and
:func:`skimage.segmentation.watershed` grows them back over the particle phase. Raising ``h_max``
merges more (fewer, larger particles); lowering it splits more. Holes fully enclosed by one
particle (internal cracks and pores) are filled before the distance transform so that a crack
does not split its particle, and with ``closing_radius`` > 0 surface-open cracks are bridged
first for the same reason; cracks are reported by :mod:`.fragmentation`.

This step needs the whole particle phase in memory (a particle may span any number of blocks):
about 1 (mask) + 4 (distance, float32) + 4 (instances) bytes per voxel plus watershed scratch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.measure import marching_cubes, mesh_surface_area, regionprops_table
from skimage.morphology import ball, h_maxima
from skimage.segmentation import relabel_sequential, watershed

from napari_cathode.core.errors import CathodeError

__all__ = ["PARTICLE_COLUMNS", "measure_particles", "separate_particles"]

log = logging.getLogger(__name__)

#: Columns of the per-particle table, in order (physical units unless the name says voxel).
PARTICLE_COLUMNS: tuple[str, ...] = (
    "particle",
    "volume",
    "equivalent_diameter",
    "surface_area",
    "sphericity",
    "centroid_z",
    "centroid_y",
    "centroid_x",
    "bbox_z0",
    "bbox_y0",
    "bbox_x0",
    "bbox_z1",
    "bbox_y1",
    "bbox_x1",
    "voxels",
    "touches_border",
)


def _check_volume(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 3:
        raise CathodeError(f"{what} must be a 3D (z, y, x) array, got shape {array.shape}")
    return array


def separate_particles(
    mask: np.ndarray,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    h_max: float = 2.0,
    min_voxels: int = 20,
    closing_radius: int = 0,
) -> np.ndarray:
    """Label touching particles of a binary particle phase as separate instances.

    Parameters
    ----------
    mask : numpy.ndarray of bool, (z, y, x)
        True where the voxel is particle (active material).
    voxel_size : sequence of float
        (z, y, x) voxel size; the distance transform honours anisotropy.
    h_max : float
        Minimum height of a distance peak, in voxels of the finest axis, for it to seed its own
        particle. Default 2: two spheres are kept apart when their neck is at least about two
        voxels narrower than the smaller sphere's radius.
    min_voxels : int
        Instances smaller than this many voxels are dropped (set to 0); their voxels remain
        active material in the volume fractions.
    closing_radius : int
        Before the distance transform, close gaps up to about twice this radius (voxels) with a
        ball, so that a surface-open crack does not split its particle. 0 = only fill holes.

    Returns
    -------
    numpy.ndarray of int32
        0 = background, 1..N = particles, numbered sequentially. Enclosed holes are 0.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((9, 9, 20), bool)
    >>> mask[2:7, 2:7, 2:7] = mask[2:7, 2:7, 12:17] = True
    >>> int(separate_particles(mask, min_voxels=1).max())
    2
    """
    mask = _check_volume(mask, "particle mask").astype(bool, copy=False)
    if h_max <= 0:
        raise CathodeError(f"h_max must be > 0 voxels, got {h_max}")
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.int32)
    spacing = np.asarray(voxel_size, dtype=float)
    filled = mask
    if closing_radius > 0:
        filled = mask | ndi.binary_closing(mask, structure=ball(closing_radius))
    filled = ndi.binary_fill_holes(filled)
    distance = ndi.distance_transform_edt(filled, sampling=spacing / spacing.min())
    distance = distance.astype(np.float32)
    peaks = h_maxima(distance, np.float32(h_max))
    markers, n_markers = ndi.label(peaks, structure=np.ones((3, 3, 3)))
    log.debug("watershed: %d seeds (h_max=%s)", n_markers, h_max)
    instances = watershed(-distance, markers, mask=filled).astype(np.int32)
    instances[~mask] = 0  # holes go back to what they are; fragmentation measures them
    if min_voxels > 1:
        sizes = np.bincount(instances.ravel())
        small = np.flatnonzero(sizes < min_voxels)
        instances[np.isin(instances, small[small > 0])] = 0
    instances, _, _ = relabel_sequential(instances)
    return instances.astype(np.int32, copy=False)


def _surface_areas(instances: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Outer surface (marching cubes on the hole-filled particle) of each instance 1..N."""
    areas = np.zeros(int(instances.max()), dtype=float)
    for index, box in enumerate(ndi.find_objects(instances)):
        if box is None:
            continue
        # pad by one voxel so the particle's surface is closed even where it meets the border
        crop = np.pad(instances[box] == index + 1, 1)
        crop = ndi.binary_fill_holes(crop)
        verts, faces, _, _ = marching_cubes(crop.astype(np.float32), 0.5, spacing=spacing)
        areas[index] = mesh_surface_area(verts, faces)
    return areas


def measure_particles(
    instances: np.ndarray,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
) -> pd.DataFrame:
    """Per-particle geometry of an instance labels volume.

    Parameters
    ----------
    instances : numpy.ndarray of int, (z, y, x)
        0 = background, each positive value one particle (e.g. from :func:`separate_particles`,
        possibly corrected by hand).
    voxel_size : sequence of float
        (z, y, x) voxel size in the length unit the results are wanted in.

    Returns
    -------
    pandas.DataFrame
        One row per particle with the columns of :data:`PARTICLE_COLUMNS`: ``volume`` (unit³),
        ``equivalent_diameter`` (diameter of the sphere of equal volume), ``surface_area``
        (unit², marching cubes on the binary particle, which overestimates a smooth surface by
        about 6-9 %), ``sphericity`` (π^⅓ (6V)^⅔ / A, about 0.91 for a voxelised sphere),
        centroid in physical units, bounding box in voxel indices (end exclusive), ``voxels`` and
        ``touches_border`` (its size is then a lower bound).
    """
    instances = _check_volume(instances, "particle instances")
    spacing = tuple(float(v) for v in voxel_size)
    if not instances.any():
        return pd.DataFrame({c: [] for c in PARTICLE_COLUMNS})
    props = regionprops_table(
        instances,
        properties=("label", "area", "num_pixels", "centroid", "bbox"),
        spacing=spacing,
    )
    table = pd.DataFrame(
        {
            "particle": props["label"].astype(int),
            "volume": props["area"],
            "centroid_z": props["centroid-0"],
            "centroid_y": props["centroid-1"],
            "centroid_x": props["centroid-2"],
            "bbox_z0": props["bbox-0"],
            "bbox_y0": props["bbox-1"],
            "bbox_x0": props["bbox-2"],
            "bbox_z1": props["bbox-3"],
            "bbox_y1": props["bbox-4"],
            "bbox_x1": props["bbox-5"],
            "voxels": props["num_pixels"].astype(int),
        }
    )
    table["equivalent_diameter"] = np.cbrt(6.0 * table["volume"] / np.pi)
    table["surface_area"] = _surface_areas(instances, spacing)[table["particle"] - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["sphericity"] = (
            np.pi ** (1 / 3) * (6.0 * table["volume"]) ** (2 / 3) / table["surface_area"]
        )
    shape = instances.shape
    table["touches_border"] = (
        (table[["bbox_z0", "bbox_y0", "bbox_x0"]] == 0).any(axis=1)
        | (table["bbox_z1"] == shape[0])
        | (table["bbox_y1"] == shape[1])
        | (table["bbox_x1"] == shape[2])
    )
    return table[list(PARTICLE_COLUMNS)].reset_index(drop=True)
