"""Export class labels as an ImageJ-compatible TIFF stack, slice by slice.

The volume checks are those of the OME-Zarr export (:mod:`napari_cathode.core.io.export`);
the file is written beside its target and published by
:func:`~napari_cathode.core.atomic.publish_dir`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import tifffile

from napari_cathode.core.atomic import publish_dir, remove_stale_siblings, temporary_sibling
from napari_cathode.core.errors import CathodeError, VolumeError
from napari_cathode.core.io.axes import normalise_unit
from napari_cathode.core.io.export import (  # the checks both exports share
    _as_dask,
    _check_labels,
    _check_volume,
    _check_voxel_size,
)
from napari_cathode.core.outputs import SOFTWARE_TAG, check_output, disk_full_error, is_disk_full

__all__ = ["export_tiff"]

log = logging.getLogger(__name__)


def _slices(volume: da.Array) -> Iterator[np.ndarray]:
    """The z slices of ``volume``, computing each row of chunks once (not once per slice)."""
    start = 0
    for depth in volume.chunks[0]:
        yield from volume[start : start + depth].compute()
        start += depth


def export_tiff(
    path: str | Path,
    labels,
    *,
    voxel_size: Sequence[float] | None = None,
    unit: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write class labels as an ImageJ-compatible (z, y, x) TIFF stack, slice by slice.

    Parameters
    ----------
    path : str or Path
        TIFF file to write.
    labels : array-like
        Integer labels (numpy, zarr or dask) with values that fit in 16 bits.
    voxel_size : sequence of float, optional
        Voxel size (z, y, x), stored as ImageJ ``spacing`` (z) and the x/y resolution.
    unit : str, optional
        Length unit of ``voxel_size``; None or ``"px"`` stores none.
    overwrite : bool
        Replace an existing TIFF that napari-cathode wrote (see
        :func:`~napari_cathode.core.outputs.check_output`).

    Returns
    -------
    Path

    Raises
    ------
    CathodeError
        If the folder of ``path`` is missing, ``path`` exists (without ``overwrite``, or
        napari-cathode did not write it) or the file cannot be written there.
    VolumeError
        If the labels are not a 3D integer volume, hold values ImageJ cannot store, or
        ``voxel_size`` is not three positive numbers.
    """
    path = Path(path)
    if voxel_size is not None:
        voxel_size = _check_voxel_size(voxel_size)
    if not path.parent.is_dir():
        raise CathodeError(f"folder {path.parent} does not exist; create it first")
    check_output(path, overwrite=overwrite, what="export")
    labels = _check_volume(_as_dask(labels, "labels"), "labels")
    labels = _check_labels(labels)
    if labels.dtype not in (np.uint8, np.uint16):
        low, high = (int(v) for v in dask.compute(labels.min(), labels.max()))
        if low < 0 or high > 65535:
            raise VolumeError(f"labels span {low}..{high}; an ImageJ TIFF holds 0..65535")
        labels = labels.astype(np.uint8 if high <= 255 else np.uint16)
    metadata: dict = {"axes": "ZYX"}
    resolution = None
    if voxel_size is not None:
        size_z, size_y, size_x = voxel_size
        metadata["spacing"] = size_z
        resolution = (1.0 / size_x, 1.0 / size_y)
        symbol = normalise_unit(unit)
        if symbol is not None:
            metadata["unit"] = "micron" if symbol == "µm" else symbol
    slices = _slices(labels)
    remove_stale_siblings(path)
    tmp = temporary_sibling(path)
    try:
        tifffile.imwrite(
            tmp,
            slices,
            shape=labels.shape,
            dtype=labels.dtype,
            imagej=True,
            resolution=resolution,
            metadata=metadata,
            compression="zlib",
            software=SOFTWARE_TAG,
        )
        publish_dir(tmp, path, replace=True)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if is_disk_full(error):
            raise disk_full_error(path.parent, int(labels.nbytes)) from error
        raise CathodeError(
            f"cannot write {path}: {error.strerror or error}; check that the folder is "
            "writable and the disk has space, or choose another path"
        ) from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("exported labels %s to %s", labels.shape, path)
    return path
