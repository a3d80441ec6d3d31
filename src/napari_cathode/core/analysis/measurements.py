"""Manual measurements: defect points and ruler lines, as tables with physical XYZ.

Coordinates come in voxel (data) coordinates in (z, y, x) order, as napari's Points and Shapes
layers hold them when their scale is the voxel size; tables give x, y, z in physical units (the
order people read in CSV files) and keep the voxel indices for traceability.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cathode.core.analysis.class_mapping import ClassMap
from napari_cathode.core.atomic import atomic_write_bytes
from napari_cathode.core.classes import SegmentationClass
from napari_cathode.core.errors import CathodeError

__all__ = ["POINT_COLUMNS", "RULER_COLUMNS", "points_to_table", "rulers_to_table", "write_csv"]

#: Columns of a defect-points table.
POINT_COLUMNS: tuple[str, ...] = (
    "point",
    "x",
    "y",
    "z",
    "unit",
    "class_id",
    "class",
    "voxel_z",
    "voxel_y",
    "voxel_x",
)
#: Columns of a rulers table.
RULER_COLUMNS: tuple[str, ...] = (
    "ruler",
    "x0",
    "y0",
    "z0",
    "x1",
    "y1",
    "z1",
    "length",
    "unit",
)


def _as_points(points_zyx, what: str) -> np.ndarray:
    points = np.asarray(points_zyx, dtype=float)
    if points.size == 0:
        return np.zeros((0, 3))
    if points.ndim != 2 or points.shape[1] != 3:
        raise CathodeError(f"{what} must be an (N, 3) array of (z, y, x), got shape {points.shape}")
    return points


def points_to_table(
    points_zyx,
    labels,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
    classes: Sequence[SegmentationClass] = (),
    class_map: ClassMap | None = None,
) -> pd.DataFrame:
    """Table of defect points with physical x, y, z and the class under each point.

    Parameters
    ----------
    points_zyx : array-like, (N, 3)
        Point positions in voxel coordinates (z, y, x), e.g. ``points_layer.data``.
    labels : array-like, (z, y, x)
        Class ids; the class under each point is read at its nearest voxel.
    voxel_size : sequence of float
        (z, y, x) voxel size.
    unit : str, optional
        Length unit; ``"voxel"`` is written when it is unknown.
    classes : sequence of SegmentationClass
        Names of the class ids; an id without a class is named ``"unlabeled"`` (0) or
        ``"class <id>"``.
    class_map : mapping, optional
        File value → class id, when ``labels`` holds file values (e.g. 0/128/255).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`POINT_COLUMNS`. Points outside the volume get class id -1, class
        ``"outside"``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.full((2, 2, 2), 2, np.uint8)
    >>> points_to_table([[1, 0, 1]], labels, voxel_size=(0.5, 1, 1))[["x", "z"]].values.tolist()
    [[1.0, 0.5]]
    """
    points = _as_points(points_zyx, "defect points")
    spacing = np.asarray(voxel_size, dtype=float)
    names = {0: "unlabeled", **{c.id: c.name for c in classes}}
    index = np.rint(points).astype(int)
    shape = np.asarray(labels.shape)
    inside = np.all((index >= 0) & (index < shape), axis=1)
    class_ids = np.full(len(points), -1, dtype=int)
    for i in np.flatnonzero(inside):
        value = np.asarray(labels[tuple(index[i])]).item()
        class_ids[i] = int(class_map.get(value, 0) if class_map is not None else value)
    physical = points * spacing
    return pd.DataFrame(
        {
            "point": np.arange(1, len(points) + 1),
            "x": physical[:, 2],
            "y": physical[:, 1],
            "z": physical[:, 0],
            "unit": unit or "voxel",
            "class_id": class_ids,
            "class": [
                "outside" if cid < 0 else names.get(cid, f"class {cid}") for cid in class_ids
            ],
            "voxel_z": points[:, 0],
            "voxel_y": points[:, 1],
            "voxel_x": points[:, 2],
        },
        columns=list(POINT_COLUMNS),
    )


def rulers_to_table(
    lines,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
) -> pd.DataFrame:
    """Table of ruler lines with end points and length in physical units.

    Parameters
    ----------
    lines : sequence of array-like, each (2, 3)
        Start and end of each ruler in voxel coordinates (z, y, x), e.g. the ``data`` of a
        napari Shapes layer holding lines; a polyline's length is the sum of its segments.
    voxel_size : sequence of float
        (z, y, x) voxel size; anisotropic sizes are honoured.
    unit : str, optional
        Length unit; ``"voxel"`` when unknown.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RULER_COLUMNS`; ``x0..z1`` are the first and last vertex.

    Examples
    --------
    >>> rulers_to_table([[[0, 0, 0], [1, 3, 4]]], voxel_size=(2, 1, 1))["length"].tolist()
    [5.385164807134504]
    """
    spacing = np.asarray(voxel_size, dtype=float)
    rows = []
    for number, line in enumerate(lines, 1):
        vertices = _as_points(line, f"ruler {number}")
        if len(vertices) < 2:
            raise CathodeError(f"ruler {number} has {len(vertices)} vertex; a ruler needs two")
        physical = vertices * spacing
        length = float(np.linalg.norm(np.diff(physical, axis=0), axis=1).sum())
        (z0, y0, x0), (z1, y1, x1) = physical[0], physical[-1]
        rows.append((number, x0, y0, z0, x1, y1, z1, length, unit or "voxel"))
    return pd.DataFrame(rows, columns=list(RULER_COLUMNS))


def write_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` as CSV atomically (temp file in the same folder, then rename).

    Raises
    ------
    CathodeError
        If the file or its folder cannot be written.
    """
    path = Path(path)
    try:
        atomic_write_bytes(path, table.to_csv(index=False).encode("utf-8"))
    except OSError as exc:
        raise CathodeError(f"cannot write {path}: {exc}") from exc
    return path
