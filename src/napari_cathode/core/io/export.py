"""Export a segmentation as OME-Zarr (image + multiscale labels with class names/colours).

The OME-Zarr export is written with the ``ome-zarr`` package's writer, so any NGFF reader opens
it: a multiscale image at the root and, under ``labels/<name>``, a multiscale label image whose
``image-label`` metadata carries each class's colour (``colors``) and name (``properties``,
key ``class_name``). Voxel size goes in the scale transformations, the unit in the axes. Label
pyramids are downsampled by nearest neighbour (no invented class ids); the image by
anti-aliased resizing. Arrays are handled as dask arrays, so nothing is loaded whole.
The TIFF export is :mod:`napari_cathode.core.io.export_tiff`; it shares the checks here.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.scale import Methods
from ome_zarr.writer import write_image, write_labels

from napari_cathode.core.atomic import publish_dir, remove_stale_siblings, temporary_sibling
from napari_cathode.core.classes import DEFAULT_CLASSES, SegmentationClass, validate_classes
from napari_cathode.core.errors import CathodeError, VolumeError
from napari_cathode.core.io.axes import normalise_unit
from napari_cathode.core.outputs import (
    check_output,
    disk_full_error,
    folder_size,
    is_disk_full,
    mark_output,
)

__all__ = [
    "MAX_LEVELS",
    "MIN_LEVEL_SIZE",
    "OME_UNITS",
    "Progress",
    "export_ome_zarr",
    "image_label_metadata",
    "merge_labels",
    "ome_unit",
    "pyramid_factors",
]

log = logging.getLogger(__name__)

#: Canonical unit symbol (see ``core.io.axes.normalise_unit``) → OME-NGFF unit name.
OME_UNITS = {
    "pm": "picometer",
    "Å": "angstrom",
    "nm": "nanometer",
    "µm": "micrometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
}
_FORMATS = {"0.4": FormatV04, "0.5": FormatV05}
#: A pyramid level halves an axis only while the axis keeps at least this many voxels.
MIN_LEVEL_SIZE = 32
MAX_LEVELS = 4

Progress = Callable[[int, int], None]


def _as_dask(array, name: str) -> da.Array:
    if isinstance(array, da.Array):
        return array
    if isinstance(array, (list, tuple)):  # a napari multiscale layer: take the full resolution
        array = array[0]
    try:
        return da.from_array(array, chunks="auto")
    except (TypeError, ValueError) as e:
        raise VolumeError(f"{name} of type {type(array).__name__} is not an array: {e}") from e


def merge_labels(truth, proposal=None) -> da.Array:
    """Truth where the human labelled (> 0), else the model's proposal, computed blockwise.

    Parameters
    ----------
    truth : array-like
        Ground-truth labels (numpy, zarr or dask), 0 = unlabeled.
    proposal : array-like, optional
        Proposal labels of the same shape; without one, the truth is returned as is.

    Returns
    -------
    dask.array.Array
        Lazy labels of the truth's dtype.

    Raises
    ------
    VolumeError
        If the shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> merge_labels(np.array([0, 2, 0]), np.array([1, 1, 3])).compute().tolist()
    [1, 2, 3]
    """
    truth = _as_dask(truth, "truth")
    if proposal is None:
        return truth
    proposal = _as_dask(proposal, "proposal")
    if truth.shape != proposal.shape:
        raise VolumeError(
            f"truth {truth.shape} and proposal {proposal.shape} differ in shape; "
            "they must come from the same volume"
        )
    proposal = proposal.rechunk(truth.chunks)
    return da.where(truth > 0, truth, proposal.astype(truth.dtype))


def ome_unit(unit: str | None) -> str | None:
    """OME-NGFF unit name for ``unit`` (``"µm"``, ``"um"``, ``"micron"`` → ``"micrometer"``).

    None for pixels or no unit; raises :class:`VolumeError` for a length unit NGFF lacks.
    """
    symbol = normalise_unit(unit)
    if symbol is None:
        return None
    if symbol not in OME_UNITS:
        raise VolumeError(
            f"unit {unit!r} is not a length unit OME-Zarr knows; use one of "
            f"{sorted(OME_UNITS)} or 'px'"
        )
    return OME_UNITS[symbol]


def _check_volume(array: da.Array, name: str) -> da.Array:
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise VolumeError(f"{name} has shape {array.shape}; export needs a (z, y, x) volume")
    return array


def _check_labels(labels: da.Array) -> da.Array:
    if labels.dtype == bool:
        return labels.astype(np.uint8)
    if labels.dtype.kind not in "iu":
        raise VolumeError(f"labels have dtype {labels.dtype}; class labels must be integers")
    return labels


def _check_voxel_size(voxel_size: Sequence[float]) -> tuple[float, float, float]:
    try:
        size = tuple(float(v) for v in voxel_size)
    except (TypeError, ValueError) as e:
        raise VolumeError(
            f"voxel_size {voxel_size!r} must be three positive numbers (z, y, x): {e}"
        ) from e
    if len(size) != 3 or not all(math.isfinite(v) and v > 0 for v in size):
        raise VolumeError(f"voxel_size {voxel_size!r} must be three positive numbers (z, y, x)")
    return size


def pyramid_factors(shape: Sequence[int]) -> list[dict[str, int]]:
    """Downsampling factors per level: halve an axis while it keeps >= MIN_LEVEL_SIZE voxels."""
    factors: list[dict[str, int]] = []
    current = dict.fromkeys("zyx", 1)
    sizes = dict(zip("zyx", shape))
    for _ in range(MAX_LEVELS):
        following = {
            a: f * 2 if sizes[a] // (f * 2) >= MIN_LEVEL_SIZE else f for a, f in current.items()
        }
        if following == current:
            break
        factors.append(following)
        current = following
    return factors


def image_label_metadata(classes: Sequence[SegmentationClass]) -> dict:
    """NGFF ``image-label`` block: colour and name per class, and the parent image."""
    colors, properties = [], []
    for c in classes:
        red, green, blue = (int(c.color[i : i + 2], 16) for i in (1, 3, 5))
        colors.append({"label-value": c.id, "rgba": [red, green, blue, 255]})
        properties.append({"label-value": c.id, "class_name": c.name})
    return {"colors": colors, "properties": properties, "source": {"image": "../../"}}


def _prepare_target(path: Path, overwrite: bool) -> Path:
    """Check ``path`` (see :func:`~napari_cathode.core.outputs.check_output`); a partial name."""
    if not path.parent.is_dir():
        raise CathodeError(f"folder {path.parent} does not exist; create it first")
    check_output(path, overwrite=overwrite, what="export")
    remove_stale_siblings(path)  # partial exports of a killed or failed earlier run
    return temporary_sibling(path)


def export_ome_zarr(
    path: str | Path,
    image,
    labels,
    *,
    classes: Sequence[SegmentationClass] = DEFAULT_CLASSES,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
    name: str = "segmentation",
    version: str = "0.5",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Write an image and its class labels as a multiscale OME-Zarr image with a label image.

    Parameters
    ----------
    path : str or Path
        Folder to create (conventionally ``*.ome.zarr``).
    image : array-like or None
        Grey-value volume (z, y, x); numpy, zarr or dask. With None, the labels themselves are
        written as the image, so that a labels-only export is still a valid OME-Zarr image.
    labels : array-like
        Integer class labels of the image's shape, e.g. from :func:`merge_labels`.
    classes : sequence of SegmentationClass
        Names and colours written to the ``image-label`` metadata.
    voxel_size : sequence of float
        Voxel size (z, y, x) in ``unit``.
    unit : str, optional
        Length unit (``"µm"``, ``"um"``, ``"nm"``...); None or ``"px"`` writes no unit.
    name : str
        Name of the label image (``labels/<name>``).
    version : {"0.5", "0.4"}
        OME-NGFF version: 0.5 on zarr v3, 0.4 on zarr v2.
    overwrite : bool
        Replace an existing zarr store at ``path``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each pyramid level is written.

    Returns
    -------
    Path
        ``path``. The store is written beside it first and renamed into place when complete.

    Raises
    ------
    CathodeError
        If ``path`` exists (without ``overwrite``) or its folder is missing.
    VolumeError
        If the arrays are not 3D of one shape, labels are not integers, or the unit is unknown.
    """
    path = Path(path)
    if version not in _FORMATS:
        raise VolumeError(f"OME-Zarr version {version!r} is not supported; use '0.5' or '0.4'")
    fmt = _FORMATS[version]()
    classes = validate_classes(classes)
    labels = _check_labels(_check_volume(_as_dask(labels, "labels"), "labels"))
    # labels written as the image are downsampled like labels: never interpolated
    image_method = Methods.NEAREST if image is None else Methods.RESIZE
    image = labels if image is None else _check_volume(_as_dask(image, "image"), "image")
    if image.shape != labels.shape:
        raise VolumeError(f"image {image.shape} and labels {labels.shape} differ in shape")
    voxel_size = _check_voxel_size(voxel_size)
    axes_unit = ome_unit(unit)
    axes_units = dict.fromkeys("zyx", axes_unit) if axes_unit else None
    scale = dict(zip("zyx", voxel_size))
    factors = pyramid_factors(labels.shape)
    chunks = tuple(min(s, c) for s, c in zip(labels.shape, (16, 256, 256)))
    image, labels = image.rechunk(chunks), labels.rechunk(chunks)

    partial = _prepare_target(path, overwrite)
    try:
        root = zarr.open_group(str(partial), mode="w", zarr_format=fmt.zarr_format)
        common = {
            "fmt": fmt,
            "axes": "zyx",
            "scale": scale,
            "axes_units": axes_units,
            "scale_factors": factors,
            "storage_options": {"chunks": chunks},
            "compute": False,
        }
        jobs = write_image(image, root, name="image", method=image_method, **common)
        jobs += write_labels(
            labels,
            root,
            name=name,
            scaler=None,
            method=Methods.NEAREST,
            label_metadata=image_label_metadata(classes),
            **common,
        )
        # Every chunk is written, zeros too: readers refuse missing chunks of an image.
        with zarr.config.set({"array.write_empty_chunks": True}):
            for done, job in enumerate(jobs, start=1):
                dask.compute(job)
                if progress is not None:
                    progress(done, len(jobs))
        mark_output(partial, "ome-zarr export")
        publish_dir(partial, path, replace=True)
    except BaseException as error:
        written = folder_size(partial)
        shutil.rmtree(partial, ignore_errors=True)
        if is_disk_full(error):
            estimate = max(int(image.nbytes + labels.nbytes) * 4 // 3, written * 2)
            raise disk_full_error(path.parent, estimate) from error
        raise
    log.info("exported %s (%d levels, labels %r) to %s", labels.shape, len(factors) + 1, name, path)
    return path

