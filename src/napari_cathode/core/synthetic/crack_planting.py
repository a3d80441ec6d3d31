"""Plant internal cracks into chosen particles of a real 3D geometry (semi-synthetic truth).

For the particle-state benchmark: given a real label volume (1 pore, 2 active material,
3 carbon-binder) and its particle instances, a chosen subset of particles gets one or two
planar, disc-shaped cracks (pore) through the particle's deepest interior point, like those
:mod:`napari_cathode.core.synthetic.phantom` carves into its ellipsoids. The disc radius stays
inside the particle's inscribed ball, so the crack is internal and the exact crack voxels of every
particle are known - the answers the classifier and its Grad-CAM are checked against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from napari_cathode.core.synthetic.imaging_model import ACTIVE, PORE

__all__ = ["inscribed_radii", "plant_cracks"]


def inscribed_radii(instances: np.ndarray) -> np.ndarray:
    """Radius (voxels) of the largest ball inside each particle 1..N (index 0 unused)."""
    n = int(instances.max(initial=0))
    radii = np.zeros(n + 1)
    for index, box in enumerate(ndi.find_objects(instances)):
        if box is not None:
            mask = np.pad(instances[box] == index + 1, 1)
            radii[index + 1] = ndi.distance_transform_edt(mask).max()
    return radii


def plant_cracks(
    labels: np.ndarray,
    instances: np.ndarray,
    particles: Sequence[int],
    *,
    rng: np.random.Generator,
    width: tuple[float, float] = (0.6, 1.1),
    reach: tuple[float, float] = (0.7, 0.9),
) -> tuple[np.ndarray, np.ndarray]:
    """Carve disc cracks into the chosen particles.

    Parameters
    ----------
    labels : numpy.ndarray of uint8
        1 = pore, 2 = active material, 3 = carbon-binder.
    instances : numpy.ndarray of int
        Particle instances of the active material.
    particles : sequence of int
        Ids of the particles that get cracks.
    rng : numpy.random.Generator
    width : (float, float)
        Range of the crack's half-thickness in voxels.
    reach : (float, float)
        Range of the disc radius as a fraction of the particle's inscribed radius.

    Returns
    -------
    cracked_labels : numpy.ndarray of uint8
        ``labels`` with the crack voxels set to pore.
    cracks : numpy.ndarray of int32
        Particle id at its crack voxels, 0 elsewhere.
    """
    out = np.array(labels, dtype=np.uint8, copy=True)
    cracks = np.zeros(instances.shape, np.int32)
    boxes = ndi.find_objects(instances)
    for particle in sorted(int(p) for p in particles):
        box = boxes[particle - 1]
        mask = instances[box] == particle
        distance = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1, 1:-1]
        origin = np.array(np.unravel_index(np.argmax(distance), mask.shape), float)
        radius = float(distance.max())
        coords = np.stack(np.meshgrid(*[np.arange(n) for n in mask.shape], indexing="ij"), -1)
        offset = coords - origin
        carved = np.zeros_like(mask)
        for _ in range(int(rng.integers(1, 3))):
            normal = rng.standard_normal(3)
            normal /= np.linalg.norm(normal)
            across = offset @ normal
            along = np.linalg.norm(offset - across[..., None] * normal, axis=-1)
            carved |= (np.abs(across) <= rng.uniform(*width)) & (
                along <= rng.uniform(*reach) * radius
            )
        carved &= mask & (out[box] == ACTIVE)
        out[box][carved] = PORE
        cracks[box][carved] = particle
    return out, cracks
