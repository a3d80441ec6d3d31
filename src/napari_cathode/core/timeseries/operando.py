"""A semi-synthetic operando series with exact answers, rendered from real label geometry.

The geometry is real (e.g. ``slicegan-nmc-3phase/NMC.tif`` or the ``superres-nmc-slice``
segmentation, remapped to 1 = pore, 2 = active, 3 = carbon-binder); the grey values are
synthetic, so every number below is known exactly. Say "semi-synthetic" wherever it is used.

Each active particle (distance-transform watershed instances of the active phase) gets its own
``onset`` (time of half conversion) and ``rate``; its conversion is the logistic
``s(t) = 1 / (1 + exp(-rate (t - onset)))`` (the model of :mod:`.fitting`). A particle either
reacts **uniformly** (all voxels move together from the pristine to the reacted grey level) or
as a **shrinking core** (two-phase front: the outermost ``s(t)`` of its voxels, by depth below
its surface, are reacted; the core is pristine), so its true switched fraction is ``s(t)``.

Each frame is then moved by a sub-voxel translation (a random walk, frame 0 unmoved; linear
interpolation), blurred (Gaussian point-spread function), multiplied by a slow global gain and
optionally shifted by a slow additive offset, and given Gaussian noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from napari_cathode.core.analysis.particles import separate_particles
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.timeseries.fitting import logistic

__all__ = ["ACTIVE", "BINDER", "LEVELS", "PORE", "OperandoTruth", "nmc_classes", "render_operando"]

log = logging.getLogger(__name__)

PORE, ACTIVE, BINDER = 1, 2, 3
#: Clean grey levels: pore, carbon-binder, pristine and reacted active material.
LEVELS = {"pore": 0.15, "binder": 0.40, "pristine": 0.80, "reacted": 0.55}


@dataclass(frozen=True)
class OperandoTruth:
    """The exact answers of a rendered series (particle index 0 = background, unused)."""

    classes: np.ndarray
    particles: np.ndarray
    onset: np.ndarray
    rate: np.ndarray
    shrinking_core: np.ndarray
    conversion: np.ndarray
    switched: np.ndarray
    drift: np.ndarray
    gain: np.ndarray
    offset: np.ndarray


def _depth_rank(particles: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per voxel: its rank by depth below its particle's surface, as a fraction 0..1 (0 = skin)."""
    inner = (particles > 0) & ~find_boundaries(particles, mode="inner")
    depth = ndi.distance_transform_edt(inner).ravel() + rng.uniform(0, 0.5, particles.size)
    ids = particles.ravel()
    order = np.lexsort((depth, ids))
    sorted_ids = ids[order]
    sizes = np.bincount(ids)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(ids.size)
    rank[order] = (np.arange(ids.size) - first[sorted_ids]) / np.maximum(sizes[sorted_ids], 1)
    return rank.reshape(particles.shape)


def render_operando(
    classes: np.ndarray,
    *,
    time_points: int = 24,
    shrinking_fraction: float = 1 / 3,
    max_step: float = 1.5,
    noise: float = 0.04,
    blur: float = 1.0,
    gain_change: float = -0.2,
    dark_change: float = 0.0,
    h_max: float = 2.0,
    min_voxels: int = 20,
    seed: int = 0,
    out=None,
) -> tuple[np.ndarray, OperandoTruth]:
    """Render a (t, z, y, x) float32 operando series and its exact answers.

    Parameters
    ----------
    classes : numpy.ndarray of uint8, (z, y, x)
        Real label geometry: 1 = pore, 2 = active material, 3 = carbon-binder.
    time_points : int
        Number of frames (≥ 2).
    shrinking_fraction : float
        Share of particles that react as a shrinking core; the rest react uniformly.
    max_step : float
        Standard deviation (voxels) of each frame-to-frame drift step in y and x (a third of it
        in z for 3D volumes).
    noise : float
        Standard deviation of the Gaussian noise (grey levels span 0.15–0.8).
    blur : float
        Gaussian point-spread function sigma in voxels.
    gain_change : float
        Relative change of the global gain from the first to the last frame (slow, linear).
    dark_change : float
        Additive change of the dark level from the first to the last frame (slow, linear).
    h_max, min_voxels
        Particle separation settings (see
        :func:`~napari_cathode.core.analysis.particles.separate_particles`).
    seed : int
    out : writable array-like (t, z, y, x), optional
        Where to write the frames one by one (e.g. a zarr array, for series larger than
        memory); returned as ``frames``.

    Returns
    -------
    frames : numpy.ndarray of float32, (t, z, y, x), or ``out``
    truth : OperandoTruth
    """
    classes = np.asarray(classes)
    if classes.ndim != 3:
        raise CathodeError(f"classes must be (z, y, x); got {classes.shape}")
    if time_points < 2:
        raise CathodeError("an operando series needs at least 2 time points")
    rng = np.random.default_rng(seed)
    particles = separate_particles(classes == ACTIVE, h_max=h_max, min_voxels=min_voxels)
    count = int(particles.max())
    last = time_points - 1
    onset = np.concatenate([[np.nan], rng.uniform(0.25 * last, 0.75 * last, count)])
    rate = np.concatenate([[np.nan], rng.uniform(0.5, 1.5, count) * 24 / time_points])
    shrinking = np.concatenate([[False], rng.random(count) < shrinking_fraction])
    times = np.arange(time_points, dtype=float)
    conversion = np.zeros((time_points, count + 1))
    conversion[:, 1:] = logistic(times[:, None], 0.0, 1.0, onset[None, 1:], rate[None, 1:])
    rank = _depth_rank(particles, rng)
    base = np.choose(
        np.clip(classes.astype(np.int64) - 1, 0, 2),
        [LEVELS["pore"], LEVELS["pristine"], LEVELS["binder"]],
    ).astype(np.float32)
    base[(classes < 1) | (classes > 3)] = LEVELS["pore"]
    flat = classes.shape[0] == 1
    steps = rng.normal(0, max_step, (time_points, 3)) * np.array([0 if flat else 1 / 3, 1, 1])
    steps[0] = 0
    drift = np.cumsum(steps, axis=0)
    gain = 1.0 + gain_change * times / last
    offset = dark_change * times / last
    sigma = (0.0 if flat else blur, blur, blur)
    frames = np.empty((time_points, *classes.shape), np.float32) if out is None else out
    switched = np.zeros((time_points, count + 1))
    contrast = LEVELS["reacted"] - LEVELS["pristine"]
    active = particles > 0
    ids = particles[active]
    for t in range(time_points):
        s = conversion[t]
        state = np.where(shrinking[ids], rank[active] < s[ids], s[ids])
        switched[t] = np.bincount(ids, weights=rank[active] < s[ids], minlength=count + 1) / (
            np.maximum(np.bincount(ids, minlength=count + 1), 1)
        )
        clean = base.copy()
        clean[active] = LEVELS["pristine"] + contrast * state
        moved = ndi.shift(clean, drift[t], order=1, mode="nearest") if t else clean
        frame = ndi.gaussian_filter(moved, sigma) * gain[t] + offset[t]
        frames[t] = (frame + rng.normal(0, noise, frame.shape)).astype(np.float32)
    truth = OperandoTruth(
        classes.astype(np.uint8),
        particles,
        onset,
        rate,
        shrinking,
        conversion,
        switched,
        drift,
        gain,
        offset,
    )
    log.info("rendered %d frames of %s with %d particles", time_points, classes.shape, count)
    return frames, truth


def nmc_classes(labels: np.ndarray) -> np.ndarray:
    """Remap the shared data's label values to 1 pore / 2 active / 3 carbon-binder.

    ``slicegan-nmc-3phase`` uses 0/128/255 and ``superres-nmc-slice`` 0/1/2 (pore, NMC, CBD).
    """
    labels = np.asarray(labels)
    values = np.unique(labels)
    if set(values.tolist()) <= {0, 128, 255}:
        table = {0: PORE, 128: ACTIVE, 255: BINDER}
    elif set(values.tolist()) <= {0, 1, 2}:
        table = {0: PORE, 1: ACTIVE, 2: BINDER}
    else:
        raise CathodeError(f"unknown label values {values.tolist()}; expected 0/128/255 or 0/1/2")
    out = np.zeros(labels.shape, dtype=np.uint8)
    for value, target in table.items():
        out[labels == value] = target
    return out
