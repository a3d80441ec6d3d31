"""From a series and the reference segmentation to per-particle kinetics tables.

:func:`analyse_kinetics` chains the steps: drift of every time point (:mod:`.registration`),
each time point's particle instances (the moved reference instances, or a caller-supplied
segmentation matched by overlap, :mod:`.tracking`), block-by-block statistics
(:mod:`.kinetics`), logistic fits (:mod:`.fitting`) and switched fractions.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import zarr
from scipy import ndimage as ndi

from napari_cathode.core.errors import CathodeError
from napari_cathode.core.timeseries.kinetics import (
    DEFAULT_BLOCK_VOXELS,
    fit_table,
    frame_statistics,
    switched_fractions,
    trajectory_table,
)
from napari_cathode.core.timeseries.registration import DEFAULT_WINDOW, estimate_drifts
from napari_cathode.core.timeseries.tracking import MatchResult, ShiftedLabels, match_instances

__all__ = ["KineticsResult", "Progress", "analyse_kinetics", "eroded_static_classes"]

log = logging.getLogger(__name__)

#: Progress callback: (stage, done, total).
Progress = Callable[[str, int, int], None]


@dataclass
class KineticsResult:
    """Everything the kinetics of one series produced.

    Attributes
    ----------
    trajectories : pandas.DataFrame
        One row per particle and time point: ``mean, std, p10, p50, p90, switched_fraction``.
    particles : pandas.DataFrame
        One row per particle: reference size and centroid, logistic fit, flags.
    frames : pandas.DataFrame
        One row per time point: drift (z, y, x), intensity scale/offset, events.
    threshold : float
        Grey value separating pristine from reacted voxels (switched fraction).
    drift : numpy.ndarray
        (t, 3) drift of each time point.
    matches : dict
        Time point → :class:`MatchResult` (matched mode only).
    """

    trajectories: pd.DataFrame
    particles: pd.DataFrame
    frames: pd.DataFrame
    threshold: float
    drift: np.ndarray
    matches: dict[int, MatchResult] = field(default_factory=dict)


def eroded_static_classes(classes: np.ndarray, static: Sequence[int], erosion: int) -> np.ndarray:
    """Class map keeping only the static classes, each eroded by ``erosion`` voxels."""
    classes = np.asarray(classes)
    out = np.zeros(classes.shape, dtype=np.uint8)
    structure = ndi.generate_binary_structure(3, 1)
    if classes.shape[0] == 1:  # a 2D movie: erode in-plane only
        structure[0] = structure[2] = False
    for value in static:
        mask = classes == value
        if erosion > 0:
            mask = ndi.binary_erosion(mask, structure, iterations=erosion)
        out[mask] = value
    return out


def _reference_table(particles: np.ndarray) -> pd.DataFrame:
    ids = np.arange(1, int(particles.max()) + 1)
    voxels = ndi.sum_labels(np.ones(particles.shape), particles, ids)
    centroids = np.array(ndi.center_of_mass(particles > 0, particles, ids)).reshape(-1, 3)
    return pd.DataFrame(
        {
            "particle": ids,
            "reference_voxels": voxels.astype(int),
            "centroid_z": centroids[:, 0],
            "centroid_y": centroids[:, 1],
            "centroid_x": centroids[:, 2],
        }
    )


def analyse_kinetics(
    data,
    particles: np.ndarray,
    classes: np.ndarray | None,
    *,
    reference: int = 0,
    static_classes: Sequence[int] = (),
    segment_at: Callable[[int], np.ndarray] | None = None,
    times: Sequence[float] | None = None,
    static_erosion: int = 3,
    bins: int = 128,
    block_voxels: int = DEFAULT_BLOCK_VOXELS,
    window: int = DEFAULT_WINDOW,
    drift: np.ndarray | None = None,
    levels: tuple[float, float] | None = None,
    name: str = "series",
    progress: Progress | None = None,
) -> KineticsResult:
    """Per-particle kinetics of a (t, z, y, x) series.

    Parameters
    ----------
    data : array-like (t, z, y, x)
        The series (dask/zarr/numpy), read block by block.
    particles : numpy.ndarray of int, (z, y, x)
        Particle instances on the reference time point (1..N).
    classes : numpy.ndarray of uint8, (z, y, x), optional
        Class ids on the reference time point (for the static-class normalisation).
    reference : int
        The time point the segmentation belongs to.
    static_classes : sequence of int
        Class ids that do not react (e.g. pore and carbon-binder).
    segment_at : callable(t) -> numpy.ndarray, optional
        This time point's own particle instances (e.g. model prediction + watershed); they are
        matched to the moved reference particles by overlap (split/appear/disappear flags).
        Default: the static microstructure, i.e. the moved reference particles.
    times : sequence of float, optional
        Time of each time point (default: its index); onset and rate are in this unit.
    drift : numpy.ndarray (t, 3), optional
        Known drift; default: estimated by phase correlation against the reference.
    levels : (pristine, reacted), optional
        Grey levels for the switched fraction; default from the fits.
    progress : callable(stage, done, total), optional

    Returns
    -------
    KineticsResult
    """
    count_t = int(data.shape[0])
    if tuple(particles.shape) != tuple(data.shape[1:]):
        raise CathodeError(
            f"the particle instances have shape {particles.shape} but each time point is "
            f"{tuple(data.shape[1:])}; segment the reference time point of this series"
        )
    if not 0 <= reference < count_t:
        raise CathodeError(f"reference time point {reference} is outside 0..{count_t - 1}")
    particles = np.asarray(particles).astype(np.int32)
    n_particles = int(particles.max())
    if n_particles == 0:
        raise CathodeError(f"{name}: no particles on the reference time point; nothing to follow")

    def report(stage: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    if drift is None:
        drift = estimate_drifts(data, reference, window=window, progress=report("registration"))
    drift = np.asarray(drift, dtype=float)
    offsets = np.round(drift - drift[reference]).astype(int)
    matches: dict[int, MatchResult] = {}
    stack = (
        contextlib.ExitStack()
    )  # holds the matched mode's scratch labels until the stats are done
    # Statistics are taken on the reference grid: each frame is read back by its drift
    # (sub-voxel, linear interpolation) and measured with the reference labels.
    if segment_at is None:
        labels_at = lambda t: particles  # noqa: E731
    else:
        scratch = stack.enter_context(
            tempfile.TemporaryDirectory(prefix="napari-cathode-kinetics-")
        )
        n_particles, labels_at = _matched_labels(
            particles, offsets, segment_at, count_t, matches, report("matching"), Path(scratch)
        )
    static_map = (
        eroded_static_classes(classes, static_classes, static_erosion)
        if classes is not None and static_classes
        else None
    )
    classes_at = None if static_map is None else (lambda t: static_map)
    with stack:
        stats = frame_statistics(
            data,
            labels_at,
            classes_at,
            n_particles,
            drift=drift - drift[reference],
            static_classes=static_classes if static_map is not None else (),
            bins=bins,
            block_voxels=block_voxels,
            name=name,
            progress=report("statistics"),
        )
    trajectories = trajectory_table(stats, reference=reference, times=times)
    fits = fit_table(trajectories)
    last = float(trajectories["time"].max())
    fractions, threshold = switched_fractions(
        stats, fits, reference=reference, levels=levels, last_time=last
    )
    trajectories["switched_fraction"] = fractions[
        trajectories["time_point"].to_numpy(), trajectories["particle"].to_numpy()
    ]
    table = _reference_table(particles).merge(fits, on="particle", how="right")
    for flag in ("split", "merged", "disappeared"):
        first = {}
        for t in sorted(matches):
            for p in getattr(matches[t], flag):
                first.setdefault(p, t)
        table[f"{flag}_at"] = table["particle"].map(first).astype("Int64")
    table["appeared"] = table["particle"] > int(particles.max())
    scale, offset = stats.normalisation(reference)
    frames = pd.DataFrame(
        {
            "time_point": np.arange(count_t),
            "time": trajectories.groupby("time_point")["time"].first().to_numpy(),
            "drift_z": drift[:, 0],
            "drift_y": drift[:, 1],
            "drift_x": drift[:, 2],
            "intensity_scale": scale,
            "intensity_offset": offset,
            "split": [len(matches[t].split) if t in matches else 0 for t in range(count_t)],
            "appeared": [len(matches[t].appeared) if t in matches else 0 for t in range(count_t)],
            "disappeared": [
                len(matches[t].disappeared) if t in matches else 0 for t in range(count_t)
            ],
        }
    )
    log.info(
        "%s: %d particles over %d time points, %d fits ok",
        name,
        int(particles.max()),
        count_t,
        int(fits["ok"].sum()),
    )
    return KineticsResult(trajectories, table, frames, threshold, drift, matches)


def _matched_labels(particles, offsets, segment_at, count_t, matches, progress, scratch: Path):
    """Segment every time point, match it to the moved reference; keep relabelled copies.

    The relabelled instances go to a zarr array in ``scratch`` (one chunk per z-slab of one
    time point), so memory holds one time point's segmentation at a time however long the
    series is; the statistics then read them back block by block through dask.
    """
    chunk_z = max(1, min(particles.shape[0], 4_194_304 // max(1, particles[0].size)))
    store = zarr.open_array(
        str(scratch / "relabelled.zarr"),
        mode="w",
        shape=(count_t, *particles.shape),
        chunks=(1, chunk_z, *particles.shape[1:]),
        dtype="uint32",
    )
    n_particles = int(particles.max())
    for t in range(count_t):
        current = np.asarray(segment_at(t))
        moved = ShiftedLabels(particles, offsets[t])[...]
        match = match_instances(moved, current)
        matches[t] = match
        relabelled = match.relabel(current).astype(np.uint32)
        n_particles = max(n_particles, int(relabelled.max()))
        store[t] = relabelled
        if progress is not None:
            progress(t + 1, count_t)
    lazy = da.from_zarr(store)
    # back onto the reference grid (whole voxels: labels are not interpolated)
    return n_particles, lambda t: ShiftedLabels(lazy[t], -offsets[t])
