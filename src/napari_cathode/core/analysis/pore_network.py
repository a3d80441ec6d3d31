"""Pore-network measures: interface areas between phases and pore connectivity.

*Surface areas* come from :func:`skimage.measure.marching_cubes` +
:func:`~skimage.measure.mesh_surface_area` on each class's binary mask and on each union of two
classes; the area of the interface between classes a and b is then
``(S_a + S_b - S_{a∪b}) / 2``. Blocks overlap by one voxel on their upper side, so every voxel
pair (every marching-cubes cell) is meshed exactly once and areas add up over blocks: this part
runs blockwise on volumes of any size. Surfaces on the volume's outer faces are not counted.
Marching cubes on a binary mask overestimates a smooth surface by about 6-9 %.

*Connectivity* labels the pore phase (face-connected by default) and reports the fraction of
pore voxels in clusters that touch both faces along an axis (percolating), one face (dead-end)
or none (isolated). Labelling needs the whole pore mask in memory (1 + 4 bytes per voxel).

*Tortuosity factor*: not computed here. The well-kept solvers are ``taufactor`` (needs torch and
pyvista, so it cannot live in ``core``) and ``porespy.simulations.tortuosity_fd`` (needs
openpnm, numba and pyvista); see ``docs/analysis.md`` for the recommendation.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import marching_cubes, mesh_surface_area

from napari_cathode.core.analysis.blocks import Progress, iter_blocks
from napari_cathode.core.analysis.class_mapping import ClassMap, apply_class_map
from napari_cathode.core.classes import SegmentationClass
from napari_cathode.core.errors import CathodeError

__all__ = [
    "PoreConnectivity",
    "SurfaceAreas",
    "interface_name",
    "pore_connectivity",
    "surface_areas",
]


def _mask_area(mask: np.ndarray, spacing: tuple[float, ...]) -> float:
    """Marching-cubes area of a binary block; 0 when the block holds no surface."""
    if min(mask.shape) < 2 or mask.all() or not mask.any():
        return 0.0
    verts, faces, _, _ = marching_cubes(mask.astype(np.float32), 0.5, spacing=spacing)
    return float(mesh_surface_area(verts, faces))


def interface_name(a: str, b: str) -> str:
    """Key of the interface between two classes in results, e.g. ``"pore / active material"``."""
    return f"{a} / {b}"


@dataclass(frozen=True)
class SurfaceAreas:
    """Surface areas per class and per interface, and the analysed volume.

    Attributes
    ----------
    class_areas : dict
        Class name → area of its whole boundary (unit²).
    interface_areas : dict
        ``"a / b"`` → area of the interface between classes a and b (unit²).
    total_volume : float
        Volume analysed (unit³), the denominator of the specific areas.
    unit : str or None
        Length unit; ``None`` means voxels.
    """

    class_areas: dict[str, float]
    interface_areas: dict[str, float]
    total_volume: float
    unit: str | None = None

    def per_volume(self) -> dict[str, float]:
        """Specific surface area (unit⁻¹) of every class and interface: area / total volume."""
        areas = {**self.class_areas, **self.interface_areas}
        return {k: (v / self.total_volume if self.total_volume else 0.0) for k, v in areas.items()}


def surface_areas(
    labels,
    classes: Sequence[SegmentationClass],
    *,
    class_map: ClassMap | None = None,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
    block_shape: tuple[int, ...] | None = None,
    progress: Progress | None = None,
) -> SurfaceAreas:
    """Surface area of every class and every interface between two classes, blockwise.

    Parameters
    ----------
    labels : array-like, (z, y, x)
        Class ids (or file values with ``class_map``); numpy, dask or zarr.
    classes : sequence of SegmentationClass
        Classes to measure.
    class_map : mapping, optional
        File value → class id.
    voxel_size : sequence of float
        (z, y, x) voxel size.
    unit : str, optional
        Length unit of ``voxel_size``.
    block_shape : tuple of int, optional
        Block size (defaults to the array's chunks).
    progress : callable, optional
        ``progress(stage, done, total)`` after each block.

    Returns
    -------
    SurfaceAreas
    """
    if len(labels.shape) != 3:
        raise CathodeError(f"surface areas need a 3D (z, y, x) volume, got shape {labels.shape}")
    spacing = tuple(float(v) for v in voxel_size)
    ids = [c.id for c in classes]
    pairs = list(itertools.combinations(ids, 2))
    single = dict.fromkeys(ids, 0.0)
    union = dict.fromkeys(pairs, 0.0)
    for _, block in iter_blocks(
        labels, block_shape=block_shape, overlap_high=1, progress=progress, stage="surface areas"
    ):
        if class_map is not None:
            block = apply_class_map(block, class_map)
        for class_id in ids:
            single[class_id] += _mask_area(block == class_id, spacing)
        for a, b in pairs:
            union[(a, b)] += _mask_area((block == a) | (block == b), spacing)
    names = {c.id: c.name for c in classes}
    interfaces = {
        interface_name(names[a], names[b]): max(0.0, (single[a] + single[b] - union[(a, b)]) / 2)
        for a, b in pairs
    }
    total_volume = float(np.prod(labels.shape) * np.prod(spacing))
    return SurfaceAreas(
        class_areas={names[i]: single[i] for i in ids},
        interface_areas=interfaces,
        total_volume=total_volume,
        unit=unit,
    )


@dataclass(frozen=True)
class PoreConnectivity:
    """How the pore phase is connected along one axis (fractions of the pore volume)."""

    axis: int
    percolating: float
    dead_end: float
    isolated: float
    clusters: int

    def to_json(self) -> dict:
        """Plain dict for ``summary.json``."""
        return asdict(self)


def pore_connectivity(
    pore_mask: np.ndarray, *, axis: int = 0, connectivity: int = 1
) -> PoreConnectivity:
    """Fraction of the pore phase connected to both faces of the volume along ``axis``.

    Parameters
    ----------
    pore_mask : numpy.ndarray of bool, (z, y, x)
        True where the voxel is pore.
    axis : int
        0 = z (through the electrode thickness in most FIB-SEM stacks), 1 = y, 2 = x.
    connectivity : int
        1 = face neighbours (6-connected, the conservative choice for transport), 2 = also edge
        neighbours (18), 3 = also corner neighbours (26).

    Returns
    -------
    PoreConnectivity
        ``percolating`` touches both faces, ``dead_end`` one, ``isolated`` none; all fractions of
        the pore voxels (all 0.0 when there is no pore).

    Examples
    --------
    >>> import numpy as np
    >>> pores = np.zeros((5, 5, 5), bool); pores[:, 2, 2] = True; pores[1, 0, 0] = True
    >>> pore_connectivity(pores, axis=0).percolating
    0.8333333333333334
    """
    pore_mask = np.asarray(pore_mask, dtype=bool)
    if pore_mask.ndim != 3 or axis not in (0, 1, 2):
        raise CathodeError(
            f"pore connectivity needs a 3D mask and an axis 0, 1 or 2; got shape "
            f"{pore_mask.shape}, axis {axis}"
        )
    if connectivity not in (1, 2, 3):
        raise CathodeError(f"connectivity must be 1, 2 or 3, got {connectivity}")
    structure = ndi.generate_binary_structure(3, connectivity)
    clusters, n_clusters = ndi.label(pore_mask, structure=structure)
    total = int(pore_mask.sum())
    if total == 0:
        return PoreConnectivity(axis, 0.0, 0.0, 0.0, 0)
    first = np.unique(np.take(clusters, 0, axis=axis))
    last = np.unique(np.take(clusters, -1, axis=axis))
    first, last = first[first > 0], last[last > 0]
    both = np.intersect1d(first, last)
    one = np.setxor1d(first, last)
    sizes = np.bincount(clusters.ravel(), minlength=n_clusters + 1)
    percolating = int(sizes[both].sum())
    dead_end = int(sizes[one].sum())
    return PoreConnectivity(
        axis=axis,
        percolating=percolating / total,
        dead_end=dead_end / total,
        isolated=(total - percolating - dead_end) / total,
        clusters=int(n_clusters),
    )
