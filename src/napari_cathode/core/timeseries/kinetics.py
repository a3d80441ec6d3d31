"""Per-particle grey-value statistics per time point, block by block, and the kinetics tables.

For each time point the frame is read in z-blocks of at most ``block_voxels`` voxels together
with the same block of that time point's particle instances and class labels; per particle the
voxel count, sum, sum of squares and a histogram (``bins`` bins between the frame's sampled
0.1 and 99.9 percentiles, widened by a quarter on each side, ends clipped) are accumulated.
Memory is a few blocks, whatever the length of the series.

**Global intensity change.** Beam decay, detector drift and the electrolyte change all grey
values over a run. Classes that do not react (pore, carbon-binder: ``static_classes``) are used
to undo it: per time point a line ``a_t * g + b_t`` maps their mean grey values onto their means
at the reference time point (least squares with two or more classes, a pure scale ``a_t`` with
one, nothing with none). Class voxels near another class are left out of those means
(``static_erosion`` voxels, default 3), so blur from reacting particles does not leak in; a
class with fewer than ``MIN_STATIC`` voxels left (thin carbon-binder films) is not used. So an
additive change of the dark level is only undone when two static classes have enough interior;
with the pore alone the change is taken as multiplicative (beam decay). All particle values
are reported after this mapping.

**Distribution and switched fraction.** Each particle's 10/50/90 % grey values come from its
histogram. The switched fraction (the share of a particle's voxels past the threshold halfway
between the pristine and the reacted grey level, the levels taken from the fits, see
:func:`switched_fractions`) follows a two-phase (shrinking-core) front; in a particle that
reacts uniformly it jumps from 0 to 1 at half conversion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_cathode.core.errors import CathodeError
from napari_cathode.core.timeseries.fitting import fit_logistic
from napari_cathode.core.timeseries.series import check_block_finite

__all__ = [
    "DEFAULT_BLOCK_VOXELS",
    "MIN_STATIC",
    "FrameStatistics",
    "aligned_block",
    "fit_table",
    "frame_statistics",
    "switched_fractions",
    "trajectory_table",
]

log = logging.getLogger(__name__)

#: Largest block (voxels) read at once by default: 4 Mvoxel (16 MB of float32).
DEFAULT_BLOCK_VOXELS = 2**22
#: Fewest interior voxels a static class needs (in every time point) to anchor the normalisation.
MIN_STATIC = 1000


@dataclass
class FrameStatistics:
    """Raw (un-normalised) per-particle sums of every time point.

    Arrays are indexed ``[t, particle]`` (particle 0 = background, unused); ``histogram`` is
    ``[t, particle, bin]`` over ``edges[t]``; ``class_means`` is ``[t, static class]``.
    """

    count: np.ndarray
    total: np.ndarray
    squares: np.ndarray
    histogram: np.ndarray
    edges: np.ndarray
    class_means: np.ndarray
    class_voxels: np.ndarray

    def normalisation(self, reference: int) -> tuple[np.ndarray, np.ndarray]:
        """(scale, offset) per time point mapping static-class means onto the reference's."""
        count = self.count.shape[0]
        scale, offset = np.ones(count), np.zeros(count)
        means = self.class_means
        usable = np.isfinite(means).all(axis=0) & (self.class_voxels.min(axis=0) >= MIN_STATIC)
        target = means[reference, usable]
        for t in range(count):
            source = means[t, usable]
            if source.size >= 2 and np.ptp(source) > 0:
                scale[t], offset[t] = np.polyfit(source, target, 1)
            elif source.size >= 1 and source.mean() != 0:
                scale[t] = target.mean() / source.mean()
        return scale, offset


def _edges(sample: np.ndarray, bins: int) -> np.ndarray:
    low, high = np.percentile(sample, [0.1, 99.9]) if sample.size else (0.0, 1.0)
    pad = 0.25 * max(high - low, 1e-6)
    return np.linspace(low - pad, high + pad, bins + 1)


def aligned_block(frame, z0: int, z1: int, drift) -> tuple[np.ndarray, np.ndarray]:
    """Slices ``z0..z1`` of the reference grid, read from a moved ``frame`` (z, y, x).

    Returns the grey values at ``p + drift`` (linear interpolation between the voxels around
    it; written out as three separable passes because it is two weighted slices per axis) and
    a mask of the voxels whose source lies inside the frame. Reads only the block plus one
    voxel per axis.
    """
    shape = np.array(frame.shape)
    drift = np.asarray(drift, dtype=float)
    base = np.floor(drift).astype(int)
    frac = drift - base
    extra = (frac > 1e-6).astype(int)
    lo = np.array([z0, 0, 0]) + base
    hi = np.array([z1, shape[1], shape[2]]) + base + extra
    read_lo, read_hi = np.clip(lo, 0, shape), np.clip(hi, 0, shape)
    if np.any(read_hi <= read_lo):
        size = (z1 - z0, int(shape[1]), int(shape[2]))
        return np.zeros(size, np.float32), np.zeros(size, bool)
    region = np.asarray(frame[tuple(slice(a, b) for a, b in zip(read_lo, read_hi))])
    region = np.pad(region.astype(np.float32), list(zip(read_lo - lo, hi - read_hi)), mode="edge")
    valid = np.ones((1, 1, 1), bool)
    for axis in range(3):
        n_out = region.shape[axis] - extra[axis]
        if extra[axis]:
            low = [slice(None)] * 3
            high = [slice(None)] * 3
            low[axis], high[axis] = slice(0, n_out), slice(1, n_out + 1)
            region = (1 - frac[axis]) * region[tuple(low)] + frac[axis] * region[tuple(high)]
        source = lo[axis] + np.arange(n_out)
        inside = (source >= 0) & (source + extra[axis] <= shape[axis] - 1)
        valid = valid & inside.reshape([-1 if a == axis else 1 for a in range(3)])
    return region, np.broadcast_to(valid, region.shape)


def frame_statistics(
    data,
    labels_at: Callable[[int], object],
    classes_at: Callable[[int], object] | None,
    n_particles: int,
    *,
    drift: np.ndarray | None = None,
    static_classes: Sequence[int] = (),
    bins: int = 128,
    block_voxels: int = DEFAULT_BLOCK_VOXELS,
    name: str = "series",
    progress: Callable[[int, int], None] | None = None,
) -> FrameStatistics:
    """Accumulate per-particle sums and histograms of every time point, block by block.

    Parameters
    ----------
    data : array-like (t, z, y, x)
        The series (dask, zarr or numpy); read one z-block of one time point at a time.
    labels_at : callable(t) -> array-like (z, y, x)
        Particle ids (1..``n_particles``) of time point ``t`` on the reference grid; sliced by
        block.
    classes_at : callable(t) -> array-like (z, y, x), optional
        Class ids on the reference grid, already eroded for the static-class means (0 = skip).
    n_particles : int
        Largest particle id.
    drift : numpy.ndarray (t, 3), optional
        Drift of each time point: frames are read back onto the reference grid
        (:func:`aligned_block`). None: frames are already aligned.
    static_classes : sequence of int
        Class ids that do not react (used for the intensity normalisation).
    bins : int
        Histogram bins per particle.
    block_voxels : int
        Largest block read at once.
    progress : callable(done, total), optional
        Called after each block.

    Raises
    ------
    VolumeError
        If a block holds NaN or infinite values (naming the time point and slice).
    """
    count_t, size_z, size_y, size_x = (int(n) for n in data.shape)
    depth = max(1, min(size_z, block_voxels // max(1, size_y * size_x)))
    starts = list(range(0, size_z, depth))
    size = n_particles + 1
    shape = (count_t, size)
    count, total, squares = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    histogram = np.zeros((count_t, size, bins), dtype=np.int64)
    edges = np.zeros((count_t, bins + 1))
    static = list(static_classes)
    class_sum = np.zeros((count_t, len(static)))
    class_count = np.zeros((count_t, len(static)))
    lookup = np.full(256, -1, dtype=np.int64)
    for i, c in enumerate(static):
        lookup[int(c)] = i
    done, blocks = 0, count_t * len(starts)
    for t in range(count_t):
        edges[t] = _edges(np.asarray(data[t, size_z // 2], dtype=np.float64), bins)
        labels, classes = labels_at(t), classes_at(t) if classes_at is not None else None
        width = edges[t, -1] - edges[t, 0]
        for z0 in starts:
            z1 = min(z0 + depth, size_z)
            if drift is None:
                block, valid = np.asarray(data[t, z0:z1]), None
            else:
                block, valid = aligned_block(data[t], z0, z1, drift[t])
            check_block_finite(block, time=t, z0=z0, name=name)
            values = block.astype(np.float64).ravel()
            ids = np.asarray(labels[z0:z1]).astype(np.int64).ravel()
            if valid is not None:
                ids = np.where(valid.ravel(), ids, 0)
            if ids.size and (ids.max() > n_particles or ids.min() < 0):
                raise CathodeError(f"time point {t}: particle ids outside 0..{n_particles}")
            inside = ids > 0
            v, i = values[inside], ids[inside]
            count[t] += np.bincount(i, minlength=size)
            total[t] += np.bincount(i, weights=v, minlength=size)
            squares[t] += np.bincount(i, weights=v * v, minlength=size)
            bin_index = np.clip(((v - edges[t, 0]) / width * bins).astype(np.int64), 0, bins - 1)
            histogram[t] += np.bincount(i * bins + bin_index, minlength=size * bins).reshape(
                size, bins
            )
            if classes is not None and static:
                slot = lookup[np.asarray(classes[z0:z1]).astype(np.int64).ravel() & 255]
                if valid is not None:
                    slot = np.where(valid.ravel(), slot, -1)
                chosen = slot >= 0
                class_sum[t] += np.bincount(slot[chosen], values[chosen], minlength=len(static))
                class_count[t] += np.bincount(slot[chosen], minlength=len(static))
            done += 1
            if progress is not None:
                progress(done, blocks)
    with np.errstate(invalid="ignore", divide="ignore"):
        class_means = np.where(class_count > 0, class_sum / class_count, np.nan)
    return FrameStatistics(count, total, squares, histogram, edges, class_means, class_count)


def _quantiles(histogram: np.ndarray, edges: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` of every binned distribution ``histogram[..., bins]`` over ``edges``.

    Linear within a bin (the same as ``np.interp`` on the cumulative distribution); NaN where a
    distribution is empty. ``edges`` is ``[..., bins + 1]`` and broadcasts against it.
    """
    total = histogram.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cumulative = np.cumsum(histogram, axis=-1) / total
    k = np.argmax(cumulative >= q - 1e-12, axis=-1)[..., None]
    upper = np.take_along_axis(cumulative, k, axis=-1)
    lower = np.where(k > 0, np.take_along_axis(cumulative, np.maximum(k - 1, 0), axis=-1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.clip(np.nan_to_num((q - lower) / (upper - lower)), 0.0, 1.0)
    edges = np.broadcast_to(edges, (*histogram.shape[:-1], edges.shape[-1]))
    left = np.take_along_axis(edges, k, axis=-1)
    right = np.take_along_axis(edges, k + 1, axis=-1)
    value = (left + fraction * (right - left))[..., 0]
    return np.where(total[..., 0] > 0, value, np.nan)


def trajectory_table(
    stats: FrameStatistics,
    *,
    reference: int,
    times: Sequence[float] | None = None,
    min_voxels: int = 1,
) -> pd.DataFrame:
    """Long table: one row per particle and time point with normalised grey-value statistics.

    Columns: ``particle, time_point, time, voxels, mean, std, p10, p50, p90``. Particles with
    fewer than ``min_voxels`` voxels at a time point get NaN statistics there (e.g. drifted out
    of the field of view). Computed for all particles at once (arrays ``[t, particle]``).
    """
    count_t, size = stats.count.shape
    times = np.arange(count_t, dtype=float) if times is None else np.asarray(times, float)
    scale, offset = stats.normalisation(reference)
    a, b = scale[:, None], offset[:, None]
    count = stats.count
    enough = count >= max(min_voxels, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = stats.total / count
        var = np.maximum(stats.squares / count - mean * mean, 0.0)
    columns = {
        "particle": np.tile(np.arange(size), count_t),
        "time_point": np.repeat(np.arange(count_t), size),
        "time": np.repeat(times, size),
        "voxels": count.astype(np.int64).ravel(),
        "mean": np.where(enough, a * mean + b, np.nan).ravel(),
        "std": np.where(enough, np.abs(a) * np.sqrt(var), np.nan).ravel(),
    }
    edges = stats.edges[:, None, :]
    for name, q in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        raw = _quantiles(stats.histogram, edges, q)
        columns[name] = np.where(enough, a * raw + b, np.nan).ravel()
    table = pd.DataFrame(columns)
    return table[table["particle"] > 0].reset_index(drop=True)


def fit_table(trajectories: pd.DataFrame) -> pd.DataFrame:
    """One logistic fit per particle (see :mod:`.fitting`): onset, rate, start, base, amplitude."""
    rows = []
    for particle, group in trajectories.groupby("particle", sort=True):
        fit = fit_logistic(group["time"].to_numpy(), group["mean"].to_numpy())
        rows.append({"particle": int(particle), **fit.to_dict()})
    return pd.DataFrame(rows)


def switched_fractions(
    stats: FrameStatistics,
    fits: pd.DataFrame,
    *,
    reference: int,
    levels: tuple[float, float] | None = None,
    last_time: float | None = None,
) -> tuple[np.ndarray, float]:
    """Fraction ``[t, particle]`` of each particle's voxels past the switching threshold.

    The threshold is halfway between the pristine and the reacted grey level: ``levels`` when
    given, else the medians over well-fitted particles of ``base`` and of ``base + amplitude``
    (the latter from particles whose 90 % conversion lies before ``last_time``, default the
    last time-point index). Returns the fractions and the threshold.
    """
    ok = fits[fits["ok"]]
    if levels is None:
        if ok.empty:
            return np.full(stats.count.shape, np.nan), float("nan")
        last = float(stats.count.shape[0] - 1) if last_time is None else float(last_time)
        finished = ok[ok["onset"] + np.log(9.0) / ok["rate"] <= last]
        pristine = float(np.median(ok["base"]))
        reacted = float(
            np.median((finished if not finished.empty else ok).eval("base + amplitude"))
        )
        levels = (pristine, reacted)
    threshold = 0.5 * (levels[0] + levels[1])
    rising = levels[1] > levels[0]
    scale, offset = stats.normalisation(reference)
    histogram = stats.histogram.astype(np.float64)
    n = histogram.sum(axis=-1)
    # The threshold in each frame's raw grey values; bins are uniform, so its position in the
    # histogram is arithmetic. Voxels below it: full bins below plus a linear share of its bin.
    raw = (threshold - offset) / np.where(scale == 0, np.nan, scale)
    width = stats.edges[:, 1] - stats.edges[:, 0]
    position = np.clip((raw - stats.edges[:, 0]) / width, 0, histogram.shape[-1])
    whole = np.floor(position).astype(int)
    cumulative = np.concatenate(
        [np.zeros((*histogram.shape[:2], 1)), np.cumsum(histogram, axis=-1)], axis=-1
    )
    t_index = np.arange(histogram.shape[0])
    below = cumulative[t_index, :, whole]
    partial = np.minimum(whole, histogram.shape[-1] - 1)
    below = below + (position - whole)[:, None] * np.where(
        (whole < histogram.shape[-1])[:, None], histogram[t_index, :, partial], 0.0
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        above = (n - below) / n
    past = np.where((scale > 0)[:, None] == rising, above, 1.0 - above)
    past[n == 0] = np.nan
    past[:, 0] = np.nan
    return past, threshold
