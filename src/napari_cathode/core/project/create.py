"""Build a new project folder from a volume: chunked zarr arrays, copied blockwise.

The folder is assembled under a hidden temporary name beside its destination and renamed into
place only when complete, so an interrupted or failed creation leaves nothing behind (and
``overwrite=True`` swaps the old project out only at the very end).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr

from napari_cathode.core.atomic import (
    AtomicLocalStore,
    publish_dir,
    remove_stale_siblings,
    temporary_sibling,
)
from napari_cathode.core.classes import SegmentationClass, validate_classes
from napari_cathode.core.errors import CathodeError, ProjectError, ProjectExistsError, VolumeError
from napari_cathode.core.io.block_copy import check_volume, copy_image, copy_labels, n_blocks
from napari_cathode.core.io.pyramid import build_pyramid, needs_pyramid
from napari_cathode.core.outputs import disk_full_error, is_disk_full
from napari_cathode.core.project import file_format as fmt
from napari_cathode.core.project.contiguity import resolve_contiguous
from napari_cathode.core.project.review_state import create_review_arrays
from napari_cathode.core.project.rounds import ROUNDS_FOLDER

__all__ = [
    "IMAGE_CHUNKS",
    "LABEL_ARRAYS",
    "LABEL_CHUNKS",
    "NO_EMPTY_CHUNKS",
    "build_project",
    "check_classes",
    "check_voxel_size",
    "is_project",
]

logger = logging.getLogger(__name__)

#: Image chunks: a few slices deep so 3D patches read few chunks, 256 x 256 in plane.
IMAGE_CHUNKS = (8, 256, 256)
#: Label chunks: one slice deep so painting rewrites few small files, and the slices that hold
#: truth are the chunk folders on disk (see ``Project.truth_slices``).
LABEL_CHUNKS = (1, 256, 256)
LABEL_ARRAYS = ("truth", "proposal", "uncertainty")
#: All-zero label chunks are deleted rather than stored (zarr's default, made explicit).
NO_EMPTY_CHUNKS = {"write_empty_chunks": False}


def is_project(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a napari-cathode project folder (of any format version)."""
    file = Path(path) / fmt.METADATA_FILE
    try:
        metadata = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(metadata, dict) and "format_version" in metadata


def check_voxel_size(voxel_size) -> tuple[float, float, float]:
    """Voxel size as 3 positive floats (a single number means isotropic), else ProjectError."""
    values = (voxel_size,) * 3 if np.isscalar(voxel_size) else tuple(voxel_size)
    try:
        values = tuple(float(v) for v in values)
    except (TypeError, ValueError) as error:
        raise ProjectError(f"voxel_size {voxel_size!r} must be 3 numbers (z, y, x)") from error
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ProjectError(f"voxel_size {voxel_size!r} must be 3 positive numbers (z, y, x)")
    return values


def check_classes(classes) -> tuple[SegmentationClass, ...]:
    """Classes sorted by id with unique ids and names, else ProjectError."""
    try:
        classes = validate_classes(classes)
    except CathodeError as error:
        raise ProjectError(f"invalid classes: {error}") from error
    if not classes:
        raise ProjectError("a project needs at least one class")
    return classes


def build_project(
    path: Path,
    image,
    *,
    classes,
    voxel_size,
    unit: str,
    truth,
    source,
    overwrite: bool,
    progress: Callable[[int, int], None] | None,
    contiguous: bool | None = None,
) -> None:
    """Write a complete project folder at ``path`` (see ``Project.create`` for the options)."""
    shape, dtype = check_volume(image, "image")
    classes = check_classes(classes)
    voxel_size = check_voxel_size(voxel_size)
    if not str(unit).strip():
        raise ProjectError("unit must be a non-empty string such as 'nm' or 'px'")
    if truth is not None:
        truth_shape, _ = check_volume(truth, "truth")
        if truth_shape != shape:
            raise VolumeError(
                f"truth has shape {truth_shape} but the image has {shape}; "
                "they must match voxel for voxel"
            )
    if path.exists():
        if not overwrite:
            raise ProjectExistsError(f"{path} already exists (open it instead)", path=path)
        if not is_project(path):
            raise ProjectError(f"{path} exists and is not a project; refusing to replace it")
    # a physical unit means the voxel size was known (from the file or the user)
    contiguous, why = resolve_contiguous(contiguous, image, voxel_size_stated=unit != "px")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)  # an earlier creation of this project that was killed
    staging = temporary_sibling(path)
    total = n_blocks(shape) * (2 if truth is not None else 1)
    try:
        group = zarr.open_group(
            AtomicLocalStore(staging),
            mode="w-",
            zarr_format=3,
            attributes={
                "napari_cathode": {
                    "format_version": fmt.FORMAT_VERSION,
                    "metadata": fmt.METADATA_FILE,
                }
            },
        )
        image_array = group.create_array(
            "image",
            shape=shape,
            dtype=dtype,
            chunks=_chunks(shape, IMAGE_CHUNKS),
            fill_value=0,
            dimension_names=("z", "y", "x"),
        )
        labels = group.create_group("labels")
        for name in LABEL_ARRAYS:
            labels.create_array(
                name,
                shape=shape,
                dtype="uint8",
                fill_value=0,
                chunks=_chunks(shape, LABEL_CHUNKS),
                dimension_names=("z", "y", "x"),
                config=NO_EMPTY_CHUNKS,
            )
        create_review_arrays(group, shape[0])
        display_range = copy_image(image, image_array, progress=progress, total=total)
        if needs_pyramid(shape):  # display levels for napari, read from the copy just made
            build_pyramid(group)
        if truth is not None:
            copy_labels(
                truth,
                labels["truth"],
                [c.id for c in classes],
                "truth",
                progress=progress,
                done=total // 2,
                total=total,
            )
        (staging / ROUNDS_FOLDER).mkdir()
        fmt.write_metadata(
            staging,
            fmt.new_metadata(
                shape=shape,
                classes=classes,
                voxel_size=voxel_size,
                unit=str(unit),
                source=fmt.source_record(source),
                display_range=display_range,
                contiguous=contiguous,
                contiguity=why,
            ),
        )
        publish_dir(staging, path, replace=True)  # an old project goes only at the end
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if is_disk_full(error):
            itemsize = np.dtype(dtype).itemsize
            needed = int(np.prod(shape)) * (itemsize + (1 if truth is not None else 0))
            raise disk_full_error(path.parent, needed) from error
        raise
    logger.info("created project %s (shape %s, %s)", path, shape, dtype)


def _chunks(shape, chunks) -> tuple[int, ...]:
    return tuple(min(int(c), int(n)) for c, n in zip(chunks, shape))
