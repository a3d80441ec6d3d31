"""Walk a (z, y, x) volume block by block, so measures that add up never load it whole.

Works for numpy arrays, dask arrays and zarr arrays alike (anything with ``shape`` and slicing).
Blocks follow the array's own chunks when it has regular ones, so each block reads whole chunks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np

__all__ = [
    "DEFAULT_BLOCK_SHAPE",
    "MIN_BLOCK_SHAPE",
    "Progress",
    "block_shape_of",
    "block_slices",
    "count_blocks",
    "iter_blocks",
    "read_block",
]

#: ``progress(stage, done, total)``: called after each block; front ends draw it (tqdm, Qt).
Progress = Callable[[str, int, int], None]

#: Block shape used when an array has no chunks of its own (numpy).
DEFAULT_BLOCK_SHAPE: tuple[int, int, int] = (64, 512, 512)
#: Smallest block worth a round trip: small chunks (a TIFF's single slices) are grouped.
MIN_BLOCK_SHAPE: tuple[int, int, int] = (16, 256, 256)


def block_shape_of(array, default: tuple[int, ...] = DEFAULT_BLOCK_SHAPE) -> tuple[int, ...]:
    """A block shape for ``array``: whole multiples of its dask/zarr chunks, else ``default``.

    Chunks smaller than :data:`MIN_BLOCK_SHAPE` are grouped (e.g. 16 one-slice TIFF chunks per
    block) so that each block reads whole chunks and is large enough to be efficient.
    """
    chunks = getattr(array, "chunksize", None)  # dask
    if chunks is None:
        zarr_chunks = getattr(array, "chunks", None)
        if isinstance(zarr_chunks, tuple) and all(isinstance(c, int) for c in zarr_chunks):
            chunks = zarr_chunks
    if chunks is None or len(chunks) != len(array.shape):
        chunks = default[-len(array.shape) :]
    else:
        minimum = MIN_BLOCK_SHAPE[-len(array.shape) :]
        chunks = tuple(int(c) * max(1, -(-m // int(c))) for c, m in zip(chunks, minimum))
    return tuple(max(1, min(int(c), int(s))) for c, s in zip(chunks, array.shape))


def block_slices(
    shape: tuple[int, ...], block_shape: tuple[int, ...], *, overlap_high: int = 0
) -> Iterator[tuple[slice, ...]]:
    """Slices of a regular grid of blocks, each extended by ``overlap_high`` voxels upwards.

    With ``overlap_high=1`` every pair of neighbouring voxels lies in exactly one block with
    both voxels, which is what makes marching-cubes areas add up exactly over blocks.
    """
    ranges = [range(0, s, b) for s, b in zip(shape, block_shape)]
    for starts in itertools.product(*ranges):
        yield tuple(
            slice(start, min(start + b + overlap_high, s))
            for start, b, s in zip(starts, block_shape, shape)
        )


def count_blocks(shape: tuple[int, ...], block_shape: tuple[int, ...]) -> int:
    """How many blocks :func:`block_slices` yields."""
    return int(np.prod([-(-s // b) for s, b in zip(shape, block_shape)]))


def read_block(array, slices: tuple[slice, ...]) -> np.ndarray:
    """Read one block as a numpy array (computes a dask block)."""
    block = array[slices]
    compute = getattr(block, "compute", None)
    return np.asarray(compute() if compute is not None else block)


def iter_blocks(
    array,
    *,
    block_shape: tuple[int, ...] | None = None,
    overlap_high: int = 0,
    progress: Progress | None = None,
    stage: str = "blocks",
) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
    """Yield ``(slices, numpy block)`` over ``array`` and report progress after each block."""
    shape = tuple(array.shape)
    block_shape = block_shape or block_shape_of(array)
    total = count_blocks(shape, block_shape)
    for done, slices in enumerate(block_slices(shape, block_shape, overlap_high=overlap_high), 1):
        yield slices, read_block(array, slices)
        if progress is not None:
            progress(stage, done, total)
