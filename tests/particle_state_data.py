"""Test data of the particle-state tests: spheres on a grid, every other one cracked."""

from __future__ import annotations

import numpy as np

RADIUS = 5
#: Sphere centres (y, x) on a 3 x 4 grid in a (14, 42, 56) volume; every other one is cracked.
CENTRES = [(7 + 14 * i, 7 + 14 * j) for i in range(3) for j in range(4)]
CRACKED = set(range(1, len(CENTRES), 2))


def sphere_volume(seed: int = 0):
    """Labels (1 pore / 2 active), image, and which sphere is cracked (a dark mid-plane slab)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:14, :42, :56]
    labels = np.ones((14, 42, 56), np.uint8)
    image = np.full(labels.shape, 0.1, np.float32)
    for index, (cy, cx) in enumerate(CENTRES):
        inside = (z - 7) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= RADIUS**2
        labels[inside] = 2
        image[inside] = 0.8
        if index in CRACKED:
            axis = (z - 7, y - cy, x - cx)[index % 3]
            image[inside & (np.abs(axis) <= 1)] = 0.1
    image += rng.normal(0, 0.03, image.shape).astype(np.float32)
    return labels, image
