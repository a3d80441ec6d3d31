"""A seeded 3D synthetic cathode phantom: a 3-phase microstructure and its FIB-SEM-like image.

Geometry (all lengths in voxels of the finest axis, so anisotropic voxels give round particles):

- **active material**: polydisperse ellipsoidal particles with log-normal radii and random
  orientation, placed by random sequential addition with a limited overlap until the requested
  volume fraction is reached (particles may be cut by the volume's faces);
- **cracks**: a fraction of the particles carry one or two internal planar (disc-shaped) cracks,
  which belong to the pore class;
- **carbon-binder**: bridges that fill the necks between close particles (a morphological closing
  of the active material) plus patchy films on particle surfaces, up to the requested fraction;
- **pore**: everything else.

The grey-value image comes from :func:`napari_cathode.core.synthetic.imaging_model.render_fib_sem`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from napari_cathode.core.errors import VolumeError
from napari_cathode.core.synthetic.imaging_model import (
    ACTIVE,
    BINDER,
    PORE,
    FibSemModel,
    render_fib_sem,
)

__all__ = ["FibSemModel", "Phantom", "make_phantom", "make_phantom_truth", "render_fib_sem"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Phantom:
    """A synthetic cathode volume with its truth.

    Attributes
    ----------
    image : numpy.ndarray
        float32 (z, y, x) FIB-SEM-like grey values.
    truth : numpy.ndarray
        uint8 (z, y, x): 1 = pore, 2 = active material, 3 = carbon-binder; every voxel labelled.
    voxel_size : tuple[float, float, float]
        Physical size of a voxel (z, y, x) in ``unit``.
    unit : str
        Unit of ``voxel_size``.
    particles : int
        Number of active-material particles placed.
    cracked : int
        Number of particles that carry at least one crack.
    """

    image: np.ndarray
    truth: np.ndarray
    voxel_size: tuple[float, float, float]
    unit: str
    particles: int
    cracked: int


@dataclass(frozen=True)
class _Particle:
    center: np.ndarray  # (z, y, x) in isotropic voxel units
    semi_axes: np.ndarray  # in the particle frame
    rotation: np.ndarray  # 3x3, particle frame -> volume frame


Box = tuple[slice, ...]


def _grid(lo: np.ndarray, hi: np.ndarray, aspect: np.ndarray) -> tuple[Box, np.ndarray]:
    """Slices of the voxel box [lo, hi) and the isotropic coordinates (..., 3) of its centres."""
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    axes = [(np.arange(s.start, s.stop) + 0.5) * f for s, f in zip(box, aspect)]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    return box, coords


def _particle_box(p: _Particle, aspect: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    reach = p.semi_axes.max()
    lo = np.maximum(np.floor((p.center - reach) / aspect), 0).astype(int)
    hi = np.minimum(np.ceil((p.center + reach) / aspect) + 1, shape).astype(int)
    return lo, hi


def _rasterize(p: _Particle, aspect: np.ndarray, shape) -> tuple[Box, np.ndarray, np.ndarray]:
    """Box, inside-mask and particle-frame coordinates of one ellipsoid."""
    lo, hi = _particle_box(p, aspect, shape)
    if np.any(hi <= lo):
        return tuple(slice(0, 0) for _ in shape), np.zeros((0, 0, 0), bool), np.zeros((0, 0, 0, 3))
    box, coords = _grid(lo, hi, aspect)
    local = (coords - p.center) @ p.rotation  # rows are volume-frame vectors
    inside = np.sum((local / p.semi_axes) ** 2, axis=-1) <= 1.0
    return box, inside, local


def _place_particles(
    shape, aspect, *, rng, radius_median, radius_sigma, active_fraction, overlap, max_attempts
) -> tuple[np.ndarray, list[_Particle]]:
    extent = np.asarray(shape) * aspect
    active = np.zeros(shape, dtype=bool)
    target = active_fraction * active.size
    filled = 0
    particles: list[_Particle] = []
    centers = np.empty((0, 3))
    radii = np.empty(0)
    for _ in range(max_attempts):
        if filled >= target:
            break
        radius = float(
            np.clip(
                rng.lognormal(np.log(radius_median), radius_sigma),
                0.4 * radius_median,
                2.5 * radius_median,
            )
        )
        center = rng.uniform(-0.3 * radius, extent + 0.3 * radius)
        if len(radii) and np.any(
            np.linalg.norm(centers - center, axis=1) < (1.0 - overlap) * (radii + radius)
        ):
            continue
        stretch = rng.uniform(0.8, 1.2, size=3)
        semi_axes = radius * stretch / np.cbrt(np.prod(stretch))  # same volume as the sphere
        particle = _Particle(center, semi_axes, Rotation.random(rng=rng).as_matrix())
        box, inside, _ = _rasterize(particle, aspect, shape)
        if not inside.any():
            continue
        filled += int(np.count_nonzero(inside & ~active[box]))
        active[box] |= inside
        particles.append(particle)
        centers = np.vstack([centers, center])
        radii = np.append(radii, radius)
    if filled < target:
        log.warning(
            "phantom: placed %d particles reaching active fraction %.2f < %.2f requested",
            len(particles),
            filled / active.size,
            active_fraction,
        )
    return active, particles


def _add_binder(
    active: np.ndarray, aspect, *, rng, binder_fraction, bridge_radius, film_scale
) -> np.ndarray:
    """Carbon-binder mask of exactly ``binder_fraction`` of the volume.

    Candidates are ranked: first the necks between close particles (what a morphological
    closing of the active material adds), then voxels near particle surfaces, broken into
    patchy films by a smooth random field.
    """
    budget = round(binder_fraction * active.size)
    binder = np.zeros_like(active)
    candidates = ~active
    if budget <= 0 or not candidates.any():
        return binder
    distance = ndi.distance_transform_edt(candidates, sampling=aspect)
    dilated = distance <= bridge_radius
    necks = (ndi.distance_transform_edt(dilated, sampling=aspect) > bridge_radius) & candidates
    patches = ndi.gaussian_filter(rng.standard_normal(active.shape).astype(np.float32), 2.0)
    patches /= max(float(patches.std()), 1e-6)
    score = patches - distance / film_scale + 10.0 * necks  # necks first, then films
    score = score[candidates]
    budget = min(budget, score.size)
    threshold = np.partition(score, score.size - budget)[score.size - budget]
    binder[candidates] = score >= threshold
    return binder


def _carve_cracks(
    truth: np.ndarray, particles: list[_Particle], aspect, *, rng, crack_fraction
) -> int:
    """Turn internal disc-shaped planar cracks of some particles into pore; return how many."""
    if not particles or crack_fraction <= 0:
        return 0
    count = round(crack_fraction * len(particles))
    chosen = rng.choice(len(particles), size=count, replace=False)
    cracked = 0
    for index in sorted(chosen.tolist()):
        p = particles[index]
        box, inside, local = _rasterize(p, aspect, truth.shape)
        carved = np.zeros_like(inside)
        for _ in range(int(rng.integers(1, 3))):
            normal = rng.standard_normal(3)
            normal /= np.linalg.norm(normal)
            origin = rng.uniform(-0.2, 0.2, size=3) * p.semi_axes
            offset = local - origin
            across = offset @ normal
            along = np.linalg.norm(offset - across[..., None] * normal, axis=-1)
            half_width = rng.uniform(0.6, 1.1)
            extent = rng.uniform(0.6, 0.85) * p.semi_axes.min()
            carved |= inside & (np.abs(across) <= half_width) & (along <= extent)
        carved &= truth[box] == ACTIVE
        if carved.any():
            truth[box][carved] = PORE
            cracked += 1
    return cracked


def make_phantom_truth(
    shape: tuple[int, int, int] = (48, 192, 192),
    *,
    seed: int | np.random.Generator = 0,
    voxel_aspect: tuple[float, float, float] = (2.0, 1.0, 1.0),
    radius_median: float | None = None,
    radius_sigma: float = 0.35,
    active_fraction: float = 0.5,
    binder_fraction: float = 0.12,
    crack_fraction: float = 0.3,
    overlap: float = 0.15,
    bridge_radius: float | None = None,
    max_attempts: int = 20000,
) -> tuple[np.ndarray, int, int]:
    """The phantom's 3-phase truth alone; see :func:`make_phantom` for the shared parameters.

    Parameters
    ----------
    seed : int or numpy.random.Generator
        Seed, or a generator to draw from (``make_phantom`` passes its own).
    voxel_aspect : tuple of float
        Voxel size (z, y, x) relative to the finest axis.
    overlap : float
        How far two particles may interpenetrate, as a fraction of the sum of their radii.
    bridge_radius : float, optional
        Radius (voxels) of the closing whose necks become carbon-binder bridges;
        by default a fifth of ``radius_median``.
    max_attempts : int
        Placement attempts before giving up short of ``active_fraction`` (logged).

    Returns
    -------
    truth : numpy.ndarray
        uint8 (z, y, x), 1 = pore, 2 = active material, 3 = carbon-binder.
    particles, cracked : int
        Particles placed and particles with a crack.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise VolumeError(f"phantom shape {shape!r} must be three positive sizes (z, y, x)")
    for name, value in (
        ("active_fraction", active_fraction),
        ("binder_fraction", binder_fraction),
        ("crack_fraction", crack_fraction),
        ("overlap", overlap),
    ):
        if not 0.0 <= value < 1.0:
            raise VolumeError(f"phantom {name}={value!r} must be in [0, 1)")
    if active_fraction + binder_fraction >= 1.0:
        raise VolumeError(
            f"active_fraction + binder_fraction = {active_fraction + binder_fraction}"
            " leaves no pore; keep their sum below 1"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    aspect = np.asarray(voxel_aspect, dtype=float)
    if radius_median is None:  # about seven particles across the smaller in-plane side
        radius_median = float(np.clip(min(np.asarray(shape[1:]) * aspect[1:]) / 7.0, 3.0, 16.0))
    if bridge_radius is None:
        bridge_radius = 0.2 * radius_median
    active, particles = _place_particles(
        shape,
        aspect,
        rng=rng,
        radius_median=radius_median,
        radius_sigma=radius_sigma,
        active_fraction=active_fraction,
        overlap=overlap,
        max_attempts=max_attempts,
    )
    binder = _add_binder(
        active,
        aspect,
        rng=rng,
        binder_fraction=binder_fraction,
        bridge_radius=bridge_radius,
        film_scale=1.5,
    )
    truth = np.full(shape, PORE, dtype=np.uint8)
    truth[active] = ACTIVE
    truth[binder] = BINDER
    cracked = _carve_cracks(truth, particles, aspect, rng=rng, crack_fraction=crack_fraction)
    return truth, len(particles), cracked


def make_phantom(
    shape: tuple[int, int, int] = (48, 192, 192),
    *,
    seed: int = 0,
    voxel_size: tuple[float, float, float] = (0.02, 0.01, 0.01),
    unit: str = "µm",
    radius_median: float | None = None,
    radius_sigma: float = 0.35,
    active_fraction: float = 0.5,
    binder_fraction: float = 0.12,
    crack_fraction: float = 0.3,
    imaging: FibSemModel | None = None,
) -> Phantom:
    """Make a seeded synthetic cathode volume and its truth.

    Parameters
    ----------
    shape : tuple of int
        (z, y, x) size in voxels; z is the FIB milling direction.
    seed : int
        Seed of all randomness: the same seed and options give identical arrays.
    voxel_size : tuple of float
        Physical voxel size (z, y, x) in ``unit``; its ratios make particles round in physical
        space (with the default, a voxel is twice as deep as it is wide).
    unit : str
        Unit of ``voxel_size``.
    radius_median : float, optional
        Median particle radius in voxels of the finest axis; by default about a seventh of the
        smaller in-plane (y, x) side, between 3 and 16 voxels.
    radius_sigma : float
        Log-normal spread of the radii (polydispersity).
    active_fraction : float
        Target volume fraction of active material (before cracks are carved).
    binder_fraction : float
        Volume fraction of carbon-binder.
    crack_fraction : float
        Fraction of the particles that carry internal planar cracks (pore class).
    imaging : FibSemModel, optional
        Parameters of the imaging model
        (:class:`~napari_cathode.core.synthetic.imaging_model.FibSemModel`).

    Returns
    -------
    Phantom

    Raises
    ------
    VolumeError
        If the shape, voxel size or a fraction is out of range.

    Examples
    --------
    >>> phantom = make_phantom((8, 48, 48), seed=1)
    >>> phantom.image.shape, phantom.truth.dtype.name, sorted(set(phantom.truth.ravel().tolist()))
    ((8, 48, 48), 'uint8', [1, 2, 3])
    """
    voxel_size = tuple(float(v) for v in voxel_size)
    if len(voxel_size) != 3 or min(voxel_size) <= 0:
        raise VolumeError(f"phantom voxel_size {voxel_size!r} must be three positive numbers")
    rng = np.random.default_rng(seed)
    aspect = tuple(v / min(voxel_size) for v in voxel_size)
    truth, particles, cracked = make_phantom_truth(
        shape,
        seed=rng,
        voxel_aspect=aspect,
        radius_median=radius_median,
        radius_sigma=radius_sigma,
        active_fraction=active_fraction,
        binder_fraction=binder_fraction,
        crack_fraction=crack_fraction,
    )
    image = render_fib_sem(truth, rng=rng, model=imaging)
    log.info("phantom %s: %d particles (%d cracked)", truth.shape, particles, cracked)
    return Phantom(
        image=image,
        truth=truth,
        voxel_size=voxel_size,
        unit=unit,
        particles=particles,
        cracked=cracked,
    )
