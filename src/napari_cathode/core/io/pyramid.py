"""A display pyramid of a project's image: 2x-downsampled copies for napari's multiscale layers.

napari shows a multiscale image from the level that fits the screen (and the smallest level in
3D), so a volume larger than memory opens at once and only the visible part of one level is
read. The levels live beside the image in the project group (``image_pyramid/1``, ``/2``...),
are computed blockwise with dask (``coarsen`` by mean, so nothing is loaded whole) and are
used for display only: prediction, training and export read the full-resolution ``image``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import dask.array as da
import numpy as np
import zarr

__all__ = [
    "DISPLAY_SIDE",
    "LEVEL_CHUNKS",
    "MIN_LEVEL_SIDE",
    "PYRAMID_GROUP",
    "PYRAMID_MIN_SIDE",
    "PYRAMID_MIN_VOXELS",
    "build_pyramid",
    "level_factors",
    "needs_pyramid",
    "pyramid_levels",
]

logger = logging.getLogger(__name__)

PYRAMID_GROUP = "image_pyramid"
#: Build a pyramid when a slice is wider than this (display textures) ...
PYRAMID_MIN_SIDE = 4096
#: ... or the volume holds more voxels than this (3D rendering needs a small level).
PYRAMID_MIN_VOXELS = 2**28
#: Levels halve every axis that keeps at least this many voxels, until the largest slice fits.
MIN_LEVEL_SIDE = 16
DISPLAY_SIDE = 512
LEVEL_CHUNKS = (8, 256, 256)


def needs_pyramid(shape: Sequence[int]) -> bool:
    """Whether a volume of ``shape`` (z, y, x) is big enough to need a display pyramid."""
    return max(shape[1:]) > PYRAMID_MIN_SIDE or int(np.prod(shape)) > PYRAMID_MIN_VOXELS


def level_factors(shape: Sequence[int]) -> list[tuple[int, int, int]]:
    """Per-level downsampling factors (relative to the previous level), coarsest last.

    Examples
    --------
    >>> level_factors((64, 2048, 2048))
    [(2, 2, 2), (2, 2, 2)]
    >>> level_factors((4, 300, 300))
    []
    """
    factors = []
    current = [int(n) for n in shape]
    while max(current[1:]) > DISPLAY_SIDE:
        factor = tuple(2 if n // 2 >= MIN_LEVEL_SIDE else 1 for n in current)
        if factor == (1, 1, 1):
            break
        factors.append(factor)
        current = [n // f for n, f in zip(current, factor)]
    return factors


def build_pyramid(group: zarr.Group, *, image_name: str = "image") -> list[zarr.Array]:
    """Write the display pyramid of ``group[image_name]`` into ``group``, blockwise.

    Each level is the mean of 2 x 2 x 2 voxels of the previous one (cast back to the image's
    dtype), read from the level just written, so memory stays at a few chunks per thread.

    Parameters
    ----------
    group : zarr.Group
        The project's root group, open for writing.
    image_name : str
        The full-resolution array in ``group``.

    Returns
    -------
    list of zarr.Array
        The levels below full resolution, finest first (empty for small images).
    """
    image = group[image_name]
    if PYRAMID_GROUP in group:
        del group[PYRAMID_GROUP]
    levels_group = group.create_group(PYRAMID_GROUP)
    levels: list[zarr.Array] = []
    source = image
    for index, factor in enumerate(level_factors(image.shape), start=1):
        lazy = da.from_zarr(source)
        usable = tuple(n - n % f for n, f in zip(lazy.shape, factor))
        lazy = lazy[tuple(slice(0, n) for n in usable)]
        # coarsen needs chunks divisible by the factor: whole multiples of the level chunks
        lazy = lazy.rechunk(tuple(min(n, c * f) for n, c, f in zip(usable, LEVEL_CHUNKS, factor)))
        coarse = da.coarsen(np.mean, lazy, dict(enumerate(factor)), trim_excess=True)
        coarse = coarse.astype(image.dtype) if image.dtype.kind in "iu" else coarse
        level = levels_group.create_array(
            str(index),
            shape=coarse.shape,
            dtype=image.dtype,
            chunks=tuple(min(n, c) for n, c in zip(coarse.shape, LEVEL_CHUNKS)),
            fill_value=0,
            dimension_names=("z", "y", "x"),
        )
        da.store(coarse.astype(image.dtype), level, lock=False)
        logger.info("pyramid level %d: %s", index, level.shape)
        levels.append(level)
        source = level
    return levels


def pyramid_levels(group: zarr.Group, *, image_name: str = "image") -> list[zarr.Array]:
    """The full-resolution image followed by its stored pyramid levels (finest first)."""
    levels = [group[image_name]]
    if PYRAMID_GROUP in group:
        pyramid = group[PYRAMID_GROUP]
        index = 1
        while str(index) in pyramid:
            levels.append(pyramid[str(index)])
            index += 1
    return levels
