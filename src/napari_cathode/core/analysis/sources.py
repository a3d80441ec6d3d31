"""Where the labels to analyse come from: a labels file or a project, and what they mean.

A labels file is read lazily with :func:`~napari_cathode.core.io.volumes.open_volume`; a project's
labels are its truth where the human labelled and its proposal elsewhere
(:func:`~napari_cathode.core.io.export.merge_labels`). Classes, the class map and the voxel size
are settled here, once, for every front end.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from napari_cathode.core.analysis.class_mapping import ClassMap, parse_class_map
from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass, classes_from_names
from napari_cathode.core.errors import CathodeError

__all__ = ["LabelsSource", "open_labels_source"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelsSource:
    """Labels ready for :func:`~napari_cathode.core.analysis.summary.analyze_labels`.

    Attributes
    ----------
    data : array-like, (z, y, x)
        Lazy (dask or zarr) label values.
    classes : tuple of SegmentationClass
        The classes the values (or the class map) refer to.
    class_map : dict or None
        File value → class id; ``None`` when the values are class ids already.
    voxel_size : tuple of float
        (z, y, x) voxel size; (1, 1, 1) when unknown.
    unit : str or None
        Length unit; ``None`` when unknown (results are then in voxels).
    path : Path
        The file or project read.
    """

    data: object
    classes: tuple[SegmentationClass, ...]
    class_map: ClassMap | None
    voxel_size: tuple[float, float, float]
    unit: str | None
    path: Path


def _voxel_size(values: Sequence[float]) -> tuple[float, float, float]:
    size = tuple(float(v) for v in values)
    if len(size) != 3 or not all(math.isfinite(v) and v > 0 for v in size):
        raise CathodeError(
            f"voxel size must be three positive, finite numbers Z Y X, got {list(values)}"
        )
    return size


def open_labels_source(
    path: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    class_map: str | None = None,
    voxel_size: Sequence[float] | None = None,
    unit: str | None = None,
    dataset: str | None = None,
) -> LabelsSource:
    """Open a labels file or a project for analysis.

    Parameters
    ----------
    path : path
        A labels volume in any format ``open_volume`` reads, or a project folder.
    class_names : sequence of str, optional
        Names of classes 1..K (renames the default pore / active material / carbon-binder, or
        the project's classes).
    class_map : str, optional
        ``"0=pore,128=active,255=binder"``: which file value is which class.
    voxel_size : sequence of 3 float, optional
        Overrides the voxel size of the file or project.
    unit : str, optional
        Overrides the length unit. When a voxel size is given without any unit, lengths are
        reported as "a.u." (arbitrary units).
    dataset : str, optional
        Array inside an HDF5 file or zarr group.

    Returns
    -------
    LabelsSource

    Raises
    ------
    CathodeError
        If the path cannot be read or an option does not fit it.
    """
    from napari_cathode.core.project.store import Project, is_project

    path = Path(path).expanduser()
    if is_project(path):
        from napari_cathode.core.io.export import merge_labels

        project = Project.open(path, mode="r")
        data = merge_labels(project.truth, project.proposal)
        classes = tuple(project.classes)
        file_size, file_unit = tuple(project.voxel_size), project.unit
    else:
        from napari_cathode.core.io.volumes import open_volume

        volume = open_volume(path, dataset=dataset)
        data = volume.data
        classes = DEFAULT_CLASSES
        file_size, file_unit = volume.voxel_size, volume.unit
    if class_names:
        classes = classes_from_names(list(class_names))
    mapping = parse_class_map(class_map, classes) if class_map else None
    if voxel_size is not None:
        size = _voxel_size(voxel_size)
        unit = unit or file_unit or "a.u."
    elif file_size is not None:
        size = _voxel_size(file_size)
        unit = unit or file_unit
    else:
        size = (1.0, 1.0, 1.0)
        if unit:
            log.warning("%s has no voxel size: unit %s ignored, results are in voxels", path, unit)
        unit = None
    if data.ndim != 3:
        raise CathodeError(f"{path}: labels must be a 3D (z, y, x) volume, got {data.shape}")
    return LabelsSource(
        data=data, classes=classes, class_map=mapping, voxel_size=size, unit=unit, path=path
    )
