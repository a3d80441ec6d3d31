"""Copy a (z, y, x) volume into a zarr array block by block, checking values on the way.

Sources may be numpy, dask, zarr, h5py or any array-like with ``shape``, ``dtype`` and
slicing; only one block is in memory at a time, so volumes larger than memory can be turned
into a project. (dask's ``store`` would copy too, but cannot check each block, sample the
display range or report progress per block without a custom graph; this loop is simpler.)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterator

import numpy as np

from napari_cathode.core.errors import VolumeError

__all__ = [
    "COPY_BLOCK",
    "DISPLAY_PERCENTILES",
    "Progress",
    "check_label_values",
    "check_volume",
    "copy_image",
    "copy_labels",
    "iter_blocks",
    "n_blocks",
]

#: Blocks read from the source at once: a whole number of image chunks, ~32 MiB of float32.
COPY_BLOCK = (8, 1024, 1024)
#: Display range = these percentiles of a strided sample of the image.
DISPLAY_PERCENTILES = (0.5, 99.5)
_SAMPLE_STRIDE = (2, 8, 8)

Progress = Callable[[int, int], None]


def iter_blocks(shape, block=COPY_BLOCK) -> Iterator[tuple[slice, ...]]:
    """Slices tiling ``shape`` in blocks of at most ``block``."""
    ranges = [range(0, n, b) for n, b in zip(shape, block)]
    for start in itertools.product(*ranges):
        yield tuple(slice(s, min(s + b, n)) for s, b, n in zip(start, block, shape))


def n_blocks(shape, block=COPY_BLOCK) -> int:
    """How many blocks :func:`iter_blocks` yields."""
    return int(np.prod([-(-n // b) for n, b in zip(shape, block)]))


def _where(index: tuple[slice, ...]) -> str:
    return ", ".join(f"{axis} {s.start}:{s.stop}" for axis, s in zip("zyx", index))


def check_volume(array, what: str) -> tuple[tuple[int, int, int], np.dtype]:
    """Shape and dtype of a (z, y, x) real-valued volume, else a VolumeError naming ``what``."""
    shape = tuple(int(n) for n in getattr(array, "shape", ()))
    if len(shape) != 3:
        raise VolumeError(
            f"{what} must be a 3D (z, y, x) array, got shape {shape}; "
            "add a z axis to a single slice (image[None])"
        )
    if 0 in shape:
        raise VolumeError(f"{what} is empty (shape {shape})")
    dtype = np.dtype(array.dtype)
    if dtype.kind not in "biuf":
        raise VolumeError(f"{what} has dtype {dtype}; use an integer or floating-point volume")
    return shape, dtype


def copy_image(
    source, target, *, progress: Progress | None = None, done: int = 0, total: int | None = None
) -> list[float]:
    """Copy ``source`` into ``target`` blockwise, refusing NaN/inf; return the display range.

    Raises
    ------
    VolumeError
        If a block holds NaN or infinite values (the message names the block).
    """
    total = total if total is not None else n_blocks(source.shape)
    samples = []
    for index in iter_blocks(source.shape):
        block = np.asarray(source[index])
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            bad = int(np.size(block) - np.count_nonzero(np.isfinite(block)))
            raise VolumeError(
                f"the image has {bad} NaN or infinite values in block ({_where(index)}); "
                "replace them (e.g. numpy.nan_to_num) or crop them away before creating a project"
            )
        target[index] = block
        samples.append(block[tuple(slice(None, None, s) for s in _SAMPLE_STRIDE)].ravel())
        done += 1
        if progress is not None:
            progress(done, total)
    sample = np.concatenate(samples).astype(np.float64)
    low, high = np.percentile(sample, DISPLAY_PERCENTILES)
    if high <= low:
        low, high = float(sample.min()), float(sample.max()) + 1.0
    return [float(low), float(high)]


def copy_labels(
    source,
    target,
    allowed: Collection[int],
    what: str,
    *,
    progress: Progress | None = None,
    done: int = 0,
    total: int | None = None,
) -> None:
    """Copy integer labels blockwise into a uint8 ``target``, refusing values not in ``allowed``.

    Raises
    ------
    VolumeError
        If the dtype is not integer/bool or a block holds a value that is not a class id.
    """
    dtype = np.dtype(source.dtype)
    if dtype.kind not in "biu":
        raise VolumeError(f"{what} has dtype {dtype}; labels must be integers (0 = unlabeled)")
    allowed_set = {0, *(int(v) for v in allowed)}
    for index in iter_blocks(source.shape):
        block = np.asarray(source[index])
        check_label_values(block, allowed_set, f"{what} ({_where(index)})")
        target[index] = block.astype(np.uint8, copy=False)
        done += 1
        if progress is not None:
            progress(done, total if total is not None else n_blocks(source.shape))


def check_label_values(values: np.ndarray, allowed: Collection[int], what: str) -> None:
    """Raise VolumeError naming the values in ``values`` that are not 0 or a class id."""
    values = np.asarray(values)
    if values.dtype.kind == "b" or values.size == 0:
        values = values.astype(np.uint8)
    elif values.dtype.kind not in "iu":
        if values.dtype.kind == "f" and np.array_equal(values, np.round(values)):
            values = values.astype(np.int64)
        else:
            raise VolumeError(f"{what}: labels must be integers, got dtype {values.dtype}")
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 255:
        bad = sorted({low, high} - set(range(256)))
        raise VolumeError(f"{what}: label values {bad} are outside 0..255")
    counts = np.bincount(values.ravel().astype(np.uint8), minlength=256)
    bad = [v for v in np.flatnonzero(counts) if int(v) not in allowed]
    if bad:
        listing = ", ".join(f"{int(v)} ({int(counts[v])} voxels)" for v in bad[:8])
        raise VolumeError(
            f"{what}: values {listing} are not class ids; allowed: {sorted(allowed)}. "
            "Add the missing classes or relabel those voxels."
        )
