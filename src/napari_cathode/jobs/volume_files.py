"""Read image / label files for the file-based commands (train --image, evaluate, simulate)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_cathode.core.classes import SegmentationClass
from napari_cathode.core.errors import VolumeError

__all__ = ["IN_MEMORY_BYTES", "LabelledVolume", "read_image", "read_labels", "read_pairs"]

log = logging.getLogger(__name__)

#: Volumes up to this size are read into memory (faster random slice access).
IN_MEMORY_BYTES = 1 << 30


@dataclass(frozen=True)
class LabelledVolume:
    """An image (lazy array, z, y, x) with its truth (uint8 numpy, 0 = unlabeled)."""

    name: str
    image: object
    truth: np.ndarray
    image_path: Path
    labels_path: Path


def read_image(path: str | Path):
    """Open an image volume as (z, y, x): in memory when small, else lazily (dask)."""
    from napari_cathode.core.io.volumes import check_finite, checked_finite, open_volume

    data = open_volume(Path(path)).data
    if data.nbytes > IN_MEMORY_BYTES:
        return checked_finite(data, path=path)  # checked block by block as it is read
    array = np.asarray(data)
    check_finite(array, path=path)  # every slice, like new (not only first/middle/last)
    return array


def read_labels(
    path: str | Path, *, classes: Sequence[SegmentationClass], shape=None
) -> np.ndarray:
    """Read a label volume (0 = unlabeled, 1..K) as uint8 and check its values and shape.

    Raises
    ------
    VolumeError
        If the labels are not integers in 0..max class id, or their shape differs from ``shape``.
    """
    path = Path(path)
    labels = np.asarray(read_image(path))
    if shape is not None and tuple(labels.shape) != tuple(shape):
        raise VolumeError(
            f"labels {path} have shape {labels.shape} but the image has {tuple(shape)}"
        )
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise VolumeError(
                f"labels {path} hold non-integer values; they must be 0 (unlabeled) or 1..K"
            )
    elif labels.dtype.kind not in "iub":
        raise VolumeError(f"labels {path} have dtype {labels.dtype}; integers 0..K are needed")
    ids = sorted(c.id for c in classes)
    low, high = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
    if low < 0 or high > ids[-1]:
        names = ", ".join(f"{c.id}={c.name}" for c in classes)
        raise VolumeError(
            f"labels {path} hold values {low}..{high} but the classes are 0=unlabeled, {names}; "
            "remap the file or pass --classes with one name per label value"
        )
    return labels.astype(np.uint8)


def read_pairs(
    images: Sequence[str | Path],
    labels: Sequence[str | Path],
    *,
    classes: Sequence[SegmentationClass],
) -> list[LabelledVolume]:
    """Read matching ``--image`` / ``--labels`` pairs.

    Raises
    ------
    VolumeError
        If the counts differ, a file cannot be read, or a pair does not match.
    """
    if len(images) != len(labels) or not images:
        raise VolumeError(
            f"give one --labels per --image "
            f"(got {len(images)} images and {len(labels)} label files)"
        )
    pairs = []
    for image_path, labels_path in zip(images, labels):
        image = read_image(image_path)
        truth = read_labels(labels_path, classes=classes, shape=image.shape)
        if not truth.any():
            log.warning("labels %s hold no labelled voxel", labels_path)
        pairs.append(
            LabelledVolume(Path(image_path).stem, image, truth, Path(image_path), Path(labels_path))
        )
    names = [p.name for p in pairs]
    if len(set(names)) != len(names):
        pairs = [
            LabelledVolume(f"{i}_{p.name}", p.image, p.truth, p.image_path, p.labels_path)
            for i, p in enumerate(pairs)
        ]
    return pairs
