"""Per-class volume fractions of a labels volume, counted block by block.

Fractions are of the *labelled* voxels: value 0 (unlabeled) and values a class map does not name
are left out of the denominator, so a sparsely annotated truth still gives meaningful ratios.
Counting is exact (integer voxel counts), blockwise, and never loads the whole volume.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from napari_cathode.core.analysis.blocks import Progress, iter_blocks, read_block
from napari_cathode.core.analysis.class_mapping import (
    ClassMap,
    class_counts_from_values,
    identity_class_map,
    values_listing,
)
from napari_cathode.core.classes import SegmentationClass
from napari_cathode.core.errors import CathodeError

__all__ = ["Region", "VolumeFractions", "fractions_from_counts", "value_counts", "volume_fractions"]

log = logging.getLogger(__name__)

#: A region of interest: a tuple of slices (a box) or a boolean mask of the volume's shape.
Region = tuple[slice, ...] | np.ndarray


@dataclass(frozen=True)
class VolumeFractions:
    """Voxel counts per class and what follows from them.

    Attributes
    ----------
    voxel_counts : dict
        Class name → number of voxels, every class present (0 if absent).
    unlabeled_voxels : int
        Voxels with value 0 or a value the class map does not name.
    voxel_volume : float
        Volume of one voxel in ``unit``³ (1.0 when the voxel size is unknown).
    unit : str or None
        Length unit of the voxel size, ``None`` meaning "voxels".
    """

    voxel_counts: Mapping[str, int]
    unlabeled_voxels: int
    voxel_volume: float = 1.0
    unit: str | None = None

    @property
    def labelled_voxels(self) -> int:
        """Voxels that belong to a class (the denominator of the fractions)."""
        return int(sum(self.voxel_counts.values()))

    @property
    def fractions(self) -> dict[str, float]:
        """Class name → fraction of the labelled voxels (0.0 for every class if none is)."""
        total = self.labelled_voxels
        counts = self.voxel_counts.items()
        return {name: (count / total if total else 0.0) for name, count in counts}

    @property
    def volumes(self) -> dict[str, float]:
        """Class name → volume in ``unit``³ (voxels when the unit is unknown)."""
        return {name: count * self.voxel_volume for name, count in self.voxel_counts.items()}

    def to_json(self) -> dict:
        """Plain dict for ``summary.json``."""
        return {
            "volume_fraction": self.fractions,
            "voxel_count": dict(self.voxel_counts),
            "volume": self.volumes,
            "unlabeled_voxels": self.unlabeled_voxels,
            "volume_unit": f"{self.unit}^3" if self.unit else "voxel",
        }


def _merge_unique(counts: dict, block: np.ndarray) -> None:
    values, n = np.unique(block, return_counts=True)
    for value, count in zip(values.tolist(), n.tolist()):
        counts[value] = counts.get(value, 0) + count


def value_counts(
    labels,
    *,
    region: Region | None = None,
    block_shape: tuple[int, ...] | None = None,
    progress: Progress | None = None,
) -> dict[float, int]:
    """Count every distinct value of ``labels``, block by block.

    Parameters
    ----------
    labels : array-like, (z, y, x)
        numpy, dask or zarr array of label values.
    region : tuple of slices or boolean array, optional
        Count only inside this box or mask (same shape as ``labels``).
    block_shape : tuple of int, optional
        Block size; defaults to the array's chunks.
    progress : callable, optional
        ``progress(stage, done, total)`` after each block.

    Returns
    -------
    dict
        Value → voxel count.
    """
    if isinstance(region, tuple):
        labels = labels[region]
        region = None
    if region is not None:
        region = np.asarray(region)
        if region.shape != tuple(labels.shape) or region.dtype != bool:
            raise CathodeError(
                f"region mask has shape {region.shape} and dtype {region.dtype}; it must be a "
                f"boolean array of the labels' shape {tuple(labels.shape)}"
            )
    counts: dict[float, int] = {}
    for slices, block in iter_blocks(
        labels, block_shape=block_shape, progress=progress, stage="volume fractions"
    ):
        if region is not None:
            block = block[read_block(region, slices)]
        _merge_unique(counts, block)
    return counts


def fractions_from_counts(
    counts: Mapping[float, int],
    classes: Sequence[SegmentationClass],
    *,
    class_map: ClassMap | None = None,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
    source: str = "labels",
) -> VolumeFractions:
    """Turn raw value counts into :class:`VolumeFractions`.

    Without ``class_map`` the values must already be class ids (0 = unlabeled); any other value
    is refused, because silently dropping it would change the fractions. With a class map,
    values it does not name are counted as unlabeled and logged.
    """
    explicit = class_map is not None
    class_map = class_map if explicit else identity_class_map(classes)
    class_counts, unmapped = class_counts_from_values(counts, class_map)
    unmapped_labels = {v: n for v, n in unmapped.items() if v != 0 or explicit}
    if unmapped_labels and not explicit:
        raise CathodeError(
            f"{source} holds values {values_listing(unmapped_labels)} that are not class ids "
            f"{[c.id for c in classes]}; map them with a class map, e.g. "
            "--class-map 0=pore,128=active,255=binder"
        )
    if unmapped_labels:
        log.warning(
            "values %s are not in the class map: counted as unlabeled",
            values_listing(unmapped_labels),
        )
    unlabeled = int(sum(unmapped.values()))
    return VolumeFractions(
        voxel_counts={c.name: int(class_counts.get(c.id, 0)) for c in classes},
        unlabeled_voxels=unlabeled,
        voxel_volume=float(np.prod([float(v) for v in voxel_size])),
        unit=unit,
    )


def volume_fractions(
    labels,
    classes: Sequence[SegmentationClass],
    *,
    class_map: ClassMap | None = None,
    region: Region | None = None,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
    block_shape: tuple[int, ...] | None = None,
    progress: Progress | None = None,
) -> VolumeFractions:
    """Per-class volume fractions of a labels volume (whole or in a region).

    Parameters
    ----------
    labels : array-like, (z, y, x)
        Label values (numpy, dask or zarr).
    classes : sequence of SegmentationClass
        The classes to report, by id.
    class_map : mapping, optional
        File value → class id, for files that do not use class ids (see
        :func:`~napari_cathode.core.analysis.class_mapping.parse_class_map`).
    region : tuple of slices or boolean array, optional
        Only count inside this box or mask.
    voxel_size : sequence of float
        (z, y, x) voxel size, for the volumes in physical units.
    unit : str, optional
        Length unit of ``voxel_size``.
    block_shape, progress
        See :func:`value_counts`.

    Returns
    -------
    VolumeFractions

    Examples
    --------
    >>> import numpy as np
    >>> from napari_cathode.core.classes import DEFAULT_CLASSES
    >>> labels = np.array([[[0, 1, 2, 2]]], dtype=np.uint8)
    >>> volume_fractions(labels, DEFAULT_CLASSES).fractions["active material"]
    0.6666666666666666
    """
    counts = value_counts(labels, region=region, block_shape=block_shape, progress=progress)
    return fractions_from_counts(
        counts, classes, class_map=class_map, voxel_size=voxel_size, unit=unit
    )
