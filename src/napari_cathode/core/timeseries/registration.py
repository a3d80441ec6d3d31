"""Translation drift of each time point against the reference time point.

Model: **translation only** (no rotation, no scaling). Operando cells drift, they rarely turn by
a measurable angle between two scans; a rigid model would need a resampling of every frame.
The drift is found by scikit-image's :func:`~skimage.registration.phase_cross_correlation`
(normalised phase correlation, sub-voxel by upsampled DFT), in two steps so that memory stays
bounded by a window, not by the volume:

1. coarse: both frames block-averaged (dask ``coarsen``, read block by block) until the largest
   side is at most ``window``; integer drift in coarse voxels;
2. fine: a central ``window``-sized box of the reference against the same box of the moving
   frame displaced by the coarse drift, Hann-windowed against edge effects; sub-voxel result.

Phase correlation only looks at where edges are, so a slow change of the global grey level (or
of the particles' contrast while they react) does not bias it.

Sign: ``drift[t]`` is where the content moved, so a feature at ``p`` in the reference is at
``p + drift[t]`` in time point ``t``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dask.array as da
import numpy as np
from skimage.filters import window as window_function
from skimage.registration import phase_cross_correlation

from napari_cathode.core.errors import CathodeError

__all__ = ["DEFAULT_WINDOW", "estimate_drift", "estimate_drifts"]

log = logging.getLogger(__name__)

#: Default side length (voxels) of the coarse image and of the fine central box.
DEFAULT_WINDOW = 128


def _coarse(frame: da.Array, factors: tuple[int, ...]) -> np.ndarray:
    """Block means of ``frame`` (trimmed to a multiple of ``factors``), computed blockwise."""
    frame = da.asarray(frame).astype(np.float32)
    trimmed = frame[tuple(slice(0, (n // f) * f) for n, f in zip(frame.shape, factors))]
    return np.asarray(da.coarsen(np.mean, trimmed, dict(enumerate(factors))).compute())


def _prepared(block: np.ndarray) -> np.ndarray:
    """Zero-mean, Hann-windowed copy over the axes longer than one voxel."""
    block = np.asarray(block, dtype=np.float32)
    block = block - block.mean()
    shape = tuple(n for n in block.shape if n > 1)
    return block * window_function("hann", shape).reshape(block.shape).astype(np.float32)


def _correlate(reference: np.ndarray, moving: np.ndarray, upsample: int) -> np.ndarray:
    """Drift of ``moving`` against ``reference`` (axes of length one get drift 0)."""
    keep = [i for i, n in enumerate(reference.shape) if n > 1]
    shift, _, _ = phase_cross_correlation(
        _prepared(reference).squeeze(),
        _prepared(moving).squeeze(),
        upsample_factor=upsample,
        normalization="phase",
    )
    drift = np.zeros(reference.ndim)
    drift[keep] = -np.asarray(shift, dtype=float)  # skimage returns the correcting shift
    return drift


def estimate_drift(
    reference: da.Array | np.ndarray,
    moving: da.Array | np.ndarray,
    *,
    window: int = DEFAULT_WINDOW,
    upsample: int = 10,
) -> np.ndarray:
    """Translation (z, y, x) in voxels of ``moving`` relative to ``reference``.

    Parameters
    ----------
    reference, moving : array-like (z, y, x)
        Two time points of one sample (numpy or dask; read by window and block means only).
    window : int
        Side of the coarse image and of the fine box; the drift must stay below about half the
        coarse field of view.
    upsample : int
        Sub-voxel precision 1/``upsample``.

    Returns
    -------
    numpy.ndarray of float, (3,)
        A feature at ``p`` in ``reference`` is at ``p + drift`` in ``moving``.
    """
    if reference.shape != moving.shape or len(reference.shape) != 3:
        raise CathodeError(
            f"registration needs two (z, y, x) frames of one shape; got {reference.shape} and "
            f"{moving.shape}"
        )
    shape = np.array(reference.shape)
    factors = tuple(int(max(1, np.ceil(n / window))) for n in shape)
    if max(factors) > 1:
        coarse = _correlate(_coarse(reference, factors), _coarse(moving, factors), 1)
        offset = np.round(coarse * np.array(factors)).astype(int)
    else:
        offset = np.zeros(3, dtype=int)
    size = np.minimum(shape, window)
    # The fine box: central in the reference, displaced by the coarse drift in the moving frame,
    # both kept inside the volume (the overlap shrinks by the drift).
    start = (shape - size) // 2
    start_moving = np.clip(start + offset, 0, shape - size)
    start = start_moving - offset
    start = np.clip(start, 0, shape - size)
    offset = start_moving - start
    box = tuple(slice(int(s), int(s + n)) for s, n in zip(start, size))
    box_moving = tuple(slice(int(s), int(s + n)) for s, n in zip(start_moving, size))
    fine = _correlate(np.asarray(reference[box]), np.asarray(moving[box_moving]), upsample)
    return offset + fine


def estimate_drifts(
    data: da.Array,
    reference: int,
    *,
    window: int = DEFAULT_WINDOW,
    upsample: int = 10,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Drift (t, 3) of every time point of a (t, z, y, x) series against time point ``reference``.

    Each time point is registered to the reference directly (not to its neighbour), so errors
    do not accumulate along the series.
    """
    count = int(data.shape[0])
    if not 0 <= reference < count:
        raise CathodeError(f"reference time point {reference} is outside 0..{count - 1}")
    drifts = np.zeros((count, 3))
    for t in range(count):
        if t != reference:
            drifts[t] = estimate_drift(data[reference], data[t], window=window, upsample=upsample)
        if progress is not None:
            progress(t + 1, count)
    log.info("drift range over %d time points: %s voxels", count, np.ptp(drifts, axis=0))
    return drifts
