"""Lazy semi-synthetic volumes of any size, made of real acquisition A slices (test helper)."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np

#: Largest per-slice shift (voxels) of the tiling, so neighbouring slices differ.
MAX_SHIFT = 400


def tiled_acquisition(image: np.ndarray, shape, *, chunks) -> da.Array:
    """Real slices of ``image`` tiled to ``shape`` (z, y, x), shifted per slice, as lazy uint8.

    Nothing is computed until a block is read, so the volume may be far larger than memory.
    """
    low, high = np.percentile(image, (0.5, 99.5))
    scaled = np.clip((image - low) / (high - low), 0, 1) * 200 + 25
    reps = (1, *(math.ceil((n + MAX_SHIFT) / m) for n, m in zip(shape[1:], image.shape[1:])))
    tiled = np.tile(scaled, reps).astype(np.uint8)

    def block(block_info=None) -> np.ndarray:
        (z0, z1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        out = np.empty((z1 - z0, y1 - y0, x1 - x0), np.uint8)
        for i, z in enumerate(range(z0, z1)):
            dy, dx = (z * 7) % MAX_SHIFT, (z * 13) % MAX_SHIFT
            out[i] = tiled[z % len(tiled), dy + y0 : dy + y1, dx + x0 : dx + x1]
        return out

    return da.map_blocks(block, dtype=np.uint8, chunks=da.core.normalize_chunks(chunks, shape))
